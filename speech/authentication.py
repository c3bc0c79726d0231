from rest_framework import authentication, exceptions


class SessionAuthentication(authentication.SessionAuthentication):
    """DRF's session authentication, with its CSRF failure under a code of its own."""

    def enforce_csrf(self, request):
        try:
            super().enforce_csrf(request)
        except exceptions.PermissionDenied as exc:
            raise exceptions.PermissionDenied(detail=str(exc.detail), code="csrf_failed") from None
