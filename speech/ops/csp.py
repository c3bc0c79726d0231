"""Per-page additions to the Content-Security-Policy, with django-csp's documented decorators."""

from csp.constants import UNSAFE_INLINE
from csp.decorators import csp_update

# The API reference page (Swagger UI) starts with an inline script: allow that, on that page only.
docs_csp = csp_update({"script-src": [UNSAFE_INLINE], "style-src": [UNSAFE_INLINE]})


def csp_update_response(response, config):
    """`response`, with `config` added to its policy by django-csp's documented csp_update decorator, for a
    policy known only per request (a decorator's own config is fixed where the view is defined)."""
    return csp_update(config)(lambda request: response)(None)
