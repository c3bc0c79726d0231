"""Per-tenant CORS origins, through django-cors-headers' check_request_enabled signal."""

import re

from corsheaders.conf import conf as cors_conf
from corsheaders.signals import check_request_enabled
from django.core.exceptions import DisallowedHost
from django.http.request import split_domain_port

from .selectors import speech_settings_for_host


def tenant_allows_origin(sender, request, **kwargs):
    # The middleware asks for every path; only the API's may be opened, and only to the tenant's origins.
    origin = request.headers.get("Origin")
    if not origin or not re.match(cors_conf.CORS_URLS_REGEX, request.path_info):
        return False
    try:
        host, _port = split_domain_port(request.get_host())
    except DisallowedHost:
        return False
    speech_settings = speech_settings_for_host(host=host)
    return speech_settings is not None and speech_settings.tenant.allows_origin(origin)


check_request_enabled.connect(tenant_allows_origin, dispatch_uid="settings_admin.tenant_allows_origin")
