from rest_framework import exceptions, permissions

from settings_admin.models import KeyScope, Role
from settings_admin.selectors import ApiKeyView

from . import errors
from .tenancy import user_role


class IsTenantMemberOrKey(permissions.BasePermission):
    """An API key of the tenant, or one of its members or admins (what each then sees is the view's business)."""

    def anonymous_allowed(self, request):
        return False

    def has_permission(self, request, view):
        if isinstance(request.auth, ApiKeyView):
            return True  # tenancy already checked that the key is this tenant's
        if user_role(request.user, request.tenant) is not None:
            return True
        if request.user.is_authenticated:
            raise errors.NotAMember()
        if self.anonymous_allowed(request):
            return True
        raise exceptions.NotAuthenticated()


class CanMintSessions(IsTenantMemberOrKey):
    """An API key of the tenant, a member or admin, or anyone where the tenant allows anonymous sessions."""

    def anonymous_allowed(self, request):
        return request.tenant.allow_anonymous_sessions


class CanManageSettings(permissions.BasePermission):
    """Tenant admins (see tenancy.user_role) and admin-scoped API keys of the tenant."""

    def has_permission(self, request, view):
        tenant = request.tenant
        if isinstance(request.auth, ApiKeyView):
            if request.auth.scope != KeyScope.ADMIN:
                raise errors.ApiKeyScope()
            return True
        if user_role(request.user, tenant) == Role.ADMIN:
            return True
        if request.user.is_authenticated:
            raise errors.NotAMember("Only the tenant's admins may change its settings.")
        raise exceptions.NotAuthenticated()


class IsTenantUser(permissions.BasePermission):
    """A logged-in member or admin of the tenant: preferences are a person's, not a key's."""

    def has_permission(self, request, view):
        if not request.user.is_authenticated:
            raise exceptions.NotAuthenticated()
        if user_role(request.user, request.tenant) is None:
            raise errors.NotAMember()
        return True
