from django.contrib.auth.models import AnonymousUser
from rest_framework import authentication, exceptions

from settings_admin.selectors import api_key_get

API_KEY_SCHEME = "Api-Key"


def api_key_of(request):
    """The ApiKeyView an `Authorization: Api-Key <prefix>.<secret>` header names, or None."""
    scheme, _, raw_key = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != API_KEY_SCHEME.lower():
        return None
    return api_key_get(raw_key=raw_key.strip())


class APIKeyAuthentication(authentication.BaseAuthentication):
    """Integrators: `Authorization: Api-Key <prefix>.<secret>`. request.auth becomes the ApiKeyView that
    TenantMiddleware looked up.

    No CSRF check: a browser never adds this header by itself, unlike a session cookie.
    """

    def authenticate(self, request):
        scheme, _, _ = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != API_KEY_SCHEME.lower():
            return None
        if request.api_key is None:
            raise exceptions.AuthenticationFailed("The API key is unknown, revoked or expired.", code="invalid_api_key")
        return AnonymousUser(), request.api_key

    def authenticate_header(self, request):
        return API_KEY_SCHEME


class SessionAuthentication(authentication.SessionAuthentication):
    """DRF's session authentication, with its CSRF failure under a code of its own."""

    def enforce_csrf(self, request):
        try:
            super().enforce_csrf(request)
        except exceptions.PermissionDenied as exc:
            raise exceptions.PermissionDenied(detail=str(exc.detail), code="csrf_failed") from None
