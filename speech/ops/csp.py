"""Per-page additions to the Content-Security-Policy, with django-csp's documented decorators."""

from csp.constants import UNSAFE_INLINE
from csp.decorators import csp_update

# The API reference page (Swagger UI) starts with an inline script: allow that, on that page only.
docs_csp = csp_update({"script-src": [UNSAFE_INLINE], "style-src": [UNSAFE_INLINE]})
