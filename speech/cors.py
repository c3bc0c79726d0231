"""Per-tenant CORS origins, through django-cors-headers' check_request_enabled signal."""

import re

from corsheaders.conf import conf as cors_conf
from corsheaders.signals import check_request_enabled
from django.core.exceptions import DisallowedHost

from . import errors


def tenant_allows_origin(sender, request, **kwargs):
    # The middleware asks for every path; only the API's may be opened, and only to the origins of the
    # tenant the request acts for (TenantMiddleware).
    origin = request.headers.get("Origin")
    if not origin or not re.match(cors_conf.CORS_URLS_REGEX, request.path_info):
        return False
    try:
        return request.tenant.allows_origin(origin)
    except (DisallowedHost, errors.TenantNotFound, errors.ApiKeyWrongTenant):
        return False


check_request_enabled.connect(tenant_allows_origin, dispatch_uid="speech.tenant_allows_origin")
