from django.http.request import split_domain_port

from settings_admin.models import Role, TenantAPIKey
from settings_admin.selectors import (
    membership_role,
    speech_settings_for_host,
    speech_settings_for_tenant,
    tenant_id_listing_host,
)

from . import errors


def request_host(request):
    host, _port = split_domain_port(request.get_host())
    return host


def speech_settings_for_request(request):
    """The SpeechSettings of the tenant this request acts for, remembered on the request.

    An API key always acts for its own tenant, and is refused on a host another tenant lists.
    Otherwise the host decides: the tenant listing it, else the default tenant.
    """
    if getattr(request, "_speech_settings", None) is None:
        api_key = getattr(request, "auth", None)
        host = request_host(request)
        if isinstance(api_key, TenantAPIKey):
            listing = tenant_id_listing_host(host=host)
            if listing is not None and listing != api_key.tenant_id:
                raise errors.ApiKeyWrongTenant()
            speech_settings = speech_settings_for_tenant(tenant_id=api_key.tenant_id)
        else:
            speech_settings = speech_settings_for_host(host=host)
        if speech_settings is None:
            raise errors.TenantNotFound()
        request._speech_settings = speech_settings
    return request._speech_settings


# An operator's grant: users holding it administer every tenant, whatever their memberships.
MANAGE_EVERY_TENANT = "settings_admin.change_speechsettings"


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
