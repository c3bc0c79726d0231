"""django-csp's middleware, which leaves excluded paths alone without building a policy first.

django-csp builds both policies (some 300 function calls) before it checks EXCLUDE_URL_PREFIXES,
and every answer on the session path (/realtime_session, /api/v1/) is excluded.
"""

from csp.middleware import CSPMiddleware as LibraryCSPMiddleware
from django.conf import settings


def _excluded_prefixes(setting):
    return tuple((getattr(settings, setting, None) or {}).get("EXCLUDE_URL_PREFIXES") or ())


class CSPMiddleware(LibraryCSPMiddleware):
    def process_response(self, request, response):
        path = request.path_info
        report_only = getattr(settings, "CONTENT_SECURITY_POLICY_REPORT_ONLY", None)
        excluded = path.startswith(_excluded_prefixes("CONTENT_SECURITY_POLICY")) and (
            not report_only or path.startswith(_excluded_prefixes("CONTENT_SECURITY_POLICY_REPORT_ONLY"))
        )
        if excluded:
            return response
        return super().process_response(request, response)
