"""Rate limits on minting sessions, as DRF throttles whose rates are tenant settings.

Counting is django-ratelimit's (an atomic add/incr in the shared cache, fixed windows), so
one limit holds across all workers and hosts sharing Redis.
"""

from django_ratelimit.core import get_usage
from rest_framework.throttling import BaseThrottle

from settings_admin.models import TenantAPIKey

from .tenancy import speech_settings_for_request


def client_ip(request):
    """The client's address, trusting REST_FRAMEWORK["NUM_PROXIES"] proxies' X-Forwarded-For (DRF's rule)."""
    return BaseThrottle().get_ident(request)


class TenantRateThrottle(BaseThrottle):
    """Subclasses name the tenant's rate field and say whom a request counts against."""

    rate_field = ""

    def subject(self, request):
        """A string identifying whom to count, or None when this limit does not apply."""
        raise NotImplementedError

    def allow_request(self, request, view):
        tenant = speech_settings_for_request(request).tenant
        rate, subject = getattr(tenant, self.rate_field), self.subject(request)
        if not rate or subject is None:
            return True
        usage = get_usage(
            request,
            group=f"speech.{self.rate_field}.{tenant.pk}",
            key=lambda group, request: subject,
            rate=rate,
            increment=True,
        )
        self.wait_seconds = max(1, usage["time_left"]) if usage else 1
        return not (usage and usage["should_limit"])

    def wait(self):
        return self.wait_seconds


class UserRateThrottle(TenantRateThrottle):
    rate_field = "rate_limit_user"

    def subject(self, request):
        return f"user:{request.user.pk}" if request.user.is_authenticated else None


class APIKeyRateThrottle(TenantRateThrottle):
    rate_field = "rate_limit_api_key"

    def subject(self, request):
        return f"key:{request.auth.pk}" if isinstance(request.auth, TenantAPIKey) else None


class AnonymousRateThrottle(TenantRateThrottle):
    rate_field = "rate_limit_anonymous"

    def subject(self, request):
        anonymous = not request.user.is_authenticated and not isinstance(request.auth, TenantAPIKey)
        return f"ip:{client_ip(request)}" if anonymous else None


class WholeTenantRateThrottle(TenantRateThrottle):
    rate_field = "rate_limit_tenant"

    def subject(self, request):
        return "tenant"


SESSION_THROTTLES = [UserRateThrottle, APIKeyRateThrottle, AnonymousRateThrottle, WholeTenantRateThrottle]
