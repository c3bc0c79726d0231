"""Operations endpoints: /healthz, /readyz and /metrics."""

import hmac
import ipaddress
import logging
import os
import uuid

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess

from settings_admin.conf import conf
from settings_admin.health import tenant_credential_statuses
from settings_admin.models import SpeechSettings

from ..throttling import client_ip

logger = logging.getLogger(__name__)


@never_cache
@require_GET
def healthz(request):
    """The process is alive and serving."""
    return JsonResponse({"status": "ok"})


class NotReady(Exception):
    """A dependency's state, safe to show: `public` goes in the answer, the rest only to the log."""

    def __init__(self, public, detail=""):
        super().__init__(f"{public} ({detail})" if detail else public)
        self.public = public


def _check_database():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _check_cache():
    key, value = f"readyz:{uuid.uuid4().hex}", uuid.uuid4().hex
    cache.set(key, value, 10)
    if cache.get(key) != value:
        raise RuntimeError("a value written to the cache did not come back")
    cache.delete(key)
    health = getattr(cache, "health", None)  # config.cache.DegradingRedisCache: Redis may be down behind it
    if health is not None and health.down_since is not None:
        # Still ready: the gateway serves on from each process's memory (docs/deployment.md).
        return "degraded: Redis failed; serving from this process's memory"
    return None


def _check_secrets():
    # The default tenant's credential, read as secrets_check reads it: reachable and accepting our token.
    tenants = SpeechSettings.objects.filter(tenant__is_active=True)
    chosen = tenants.filter(tenant__slug=conf.SPEECH_DEFAULT_TENANT).first() or tenants.order_by("pk").first()
    if chosen is None:
        return
    for _speech_settings, status in tenant_credential_statuses(tenants.filter(pk=chosen.pk)):
        if status.state in ("unavailable", "refused"):
            raise NotReady(status.state, status.detail)


READINESS_CHECKS = {"database": _check_database, "cache": _check_cache, "secrets": _check_secrets}


@never_cache
@require_GET
def readyz(request):
    """Ready to serve sessions: the database, the cache and the secrets backend answer. 503 names what fails;
    a cache serving from memory while Redis is down is ready, and says so."""
    checks, ready = {}, True
    for name, check in READINESS_CHECKS.items():
        try:
            checks[name] = check() or "ok"
        except Exception as exc:  # any failure of a dependency means "not ready", with its name
            # The answer is public: the kind of failure only; the details (addresses, a backend's text) go to the log.
            logger.warning("readiness check %s failed: %s: %s", name, type(exc).__name__, exc)
            checks[name] = f"failed: {exc.public if isinstance(exc, NotReady) else type(exc).__name__}"
            ready = False
    return JsonResponse({"status": "ok" if ready else "unavailable", "checks": checks}, status=200 if ready else 503)


def _metrics_allowed(request):
    token = settings.METRICS_TOKEN
    scheme, _, offered = request.headers.get("Authorization", "").partition(" ")
    if token and scheme.lower() == "bearer" and hmac.compare_digest(offered.strip(), token):
        return True
    try:
        address = ipaddress.ip_address(client_ip(request))
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(network) for network in settings.METRICS_ALLOWED_NETWORKS)


@never_cache
@require_GET
def metrics(request):
    """Prometheus exposition; a bearer token (METRICS_TOKEN) or an allowed network (METRICS_ALLOWED_NETWORKS)."""
    if not _metrics_allowed(request):
        return JsonResponse(
            {
                "error": {
                    "code": "metrics_forbidden",
                    "message": "Metrics need the metrics token or an allowed network.",
                }
            },
            status=403,
        )
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
