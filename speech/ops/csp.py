"""Per-page additions to the Content-Security-Policy (django-csp)."""


def docs_csp(view):
    """The API reference page (Swagger UI) starts with an inline script: allow that, on that page only."""

    def wrapped(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        response._csp_update = {"script-src": ["'unsafe-inline'"], "style-src": ["'unsafe-inline'"]}
        return response

    return wrapped
