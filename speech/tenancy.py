"""Which tenant a request acts for, worked out once per request (like Django's CurrentSiteMiddleware).

An API key always acts for its own tenant, and is refused on a host another tenant lists. Otherwise
the host decides: the tenant listing it, else the default tenant.
"""

from django.http.request import split_domain_port
from django.utils.functional import SimpleLazyObject

from settings_admin.models import Role
from settings_admin.selectors import (
    membership_role,
    speech_settings_for_host,
    speech_settings_for_tenant,
    tenant_id_listing_host,
)

from . import errors
from .authentication import api_key_of

# An operator's grant: users holding it administer every tenant, whatever their memberships.
MANAGE_EVERY_TENANT = "settings_admin.change_speechsettings"


def request_host(request):
    host, _port = split_domain_port(request.get_host())
    return host


def speech_settings_resolve(*, host, api_key):
    """The SpeechSettingsView of the tenant a request to `host` with `api_key` (or None) acts for.

    Raises ApiKeyWrongTenant for a key on another tenant's host, TenantNotFound when no tenant serves.
    """
    if api_key is not None:
        listing = tenant_id_listing_host(host=host)
        if listing is not None and listing != api_key.tenant_id:
            raise errors.ApiKeyWrongTenant()
        speech_settings = speech_settings_for_tenant(tenant_id=api_key.tenant_id)
    else:
        speech_settings = speech_settings_for_host(host=host)
    if speech_settings is None:
        raise errors.TenantNotFound()
    return speech_settings


class TenantMiddleware:
    """Sets, for every request:

    request.api_key          the ApiKeyView of its `Authorization: Api-Key ...` header, or None (no such
                             header, or a key that is unknown, revoked or expired: authentication refuses it)
    request.speech_settings  the SpeechSettingsView of the tenant it acts for
    request.tenant           that tenant's TenantView

    The last two are read on first use (a static file or a health check never asks); reading them raises
    TenantNotFound or ApiKeyWrongTenant, which the API answers with their codes.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.api_key = api_key_of(request)
        request.speech_settings = SimpleLazyObject(
            lambda: speech_settings_resolve(host=request_host(request), api_key=request.api_key)
        )
        request.tenant = SimpleLazyObject(lambda: request.speech_settings.tenant)
        return self.get_response(request)


def user_role(user, tenant):
    """ "admin", "member", or None: what this user may do in the tenant.

    Rights come from a membership, or from what an operator granted: superusers, and users holding the
    MANAGE_EVERY_TENANT permission, administer every tenant. Staff status alone (admin-site access) is
    not a tenant role.
    """
    if not user.is_authenticated:
        return None
    if user.is_superuser:
        return Role.ADMIN
    role = membership_role(user_id=user.pk, tenant_id=tenant.pk)
    if role != Role.ADMIN and user.has_perm(MANAGE_EVERY_TENANT):
        return Role.ADMIN
    return role
