"""Health, readiness, metrics, telemetry, request ids, JSON logs and the usage page."""

import io
import json
import logging
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.utils import timezone
from django.utils.module_loading import import_string

from speech.models import SessionAudit
from speech.ops.request_id import RequestIdFilter
from tests.vault_server import free_port

pytestmark = pytest.mark.django_db


def test_healthz(client):
    response = client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_readyz_when_everything_answers(client, speech_settings):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "cache": "ok", "secrets": "ok"}}


def test_readyz_names_an_unreachable_cache(client, speech_settings, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}",
        }
    }
    response = client.get("/readyz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"] == "ok"
    assert checks["cache"].startswith("failed: ConnectionError")


def test_readyz_names_an_unreachable_secrets_backend(client, speech_settings, vault, settings):
    settings.VAULT_ADDR = f"http://127.0.0.1:{free_port()}"
    settings.VAULT_TIMEOUT = 1
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["secrets"] == "failed: unavailable"


def test_readyz_names_a_refused_vault_token(client, speech_settings, vault, settings):
    settings.VAULT_TOKEN = "wrong"
    assert client.get("/readyz").json()["checks"]["secrets"] == "failed: refused"


# --- metrics ---------------------------------------------------------------------------------


def test_metrics_from_this_machine(logged_in_client, speech_settings, openai_mint):
    logged_in_client.post("/realtime_session", data="{}", content_type="application/json")
    response = Client().get("/metrics", REMOTE_ADDR="127.0.0.1")
    assert response.status_code == 200
    text = response.content.decode()
    assert 'realtime_sessions_total{outcome="success",provider="openai_realtime",tenant="default"}' in text
    assert "realtime_session_create_seconds_bucket" in text
    assert 'realtime_provider_upstream_seconds_count{provider="openai_realtime"}' in text


def test_metrics_refuse_other_networks(client):
    response = client.get("/metrics", REMOTE_ADDR="203.0.113.5")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "metrics_forbidden"


def test_metrics_accept_the_bearer_token_from_anywhere(client, settings):
    settings.METRICS_TOKEN = "scrape-token-0123456789"
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.5", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    ok = client.get("/metrics", REMOTE_ADDR="203.0.113.5", HTTP_AUTHORIZATION="Bearer scrape-token-0123456789")
    assert ok.status_code == 200


def test_metrics_allow_configured_networks(client, settings):
    settings.METRICS_ALLOWED_NETWORKS = ["10.1.0.0/16"]
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 403


# --- browser telemetry ------------------------------------------------------------------------


def telemetry(client, body, **extra):
    return client.post("/api/v1/telemetry/connect", data=json.dumps(body), content_type="application/json", **extra)


def sample(name, **labels):
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value(name, labels) or 0


def test_connect_reports_feed_the_metrics(client):
    before = sample("realtime_webrtc_connect_seconds_count"), sample("realtime_webrtc_failures_total", stage="ice")
    assert telemetry(client, {"outcome": "connected", "connect_ms": 180}).status_code == 204
    assert telemetry(client, {"outcome": "failed", "stage": "ice"}).status_code == 204
    after = sample("realtime_webrtc_connect_seconds_count"), sample("realtime_webrtc_failures_total", stage="ice")
    assert (after[0] - before[0], after[1] - before[1]) == (1, 1)


@pytest.mark.parametrize(
    "body",
    [
        {"outcome": "failed", "stage": "../../etc"},
        {"outcome": "failed"},
        {"outcome": "connected"},
        {"outcome": "connected", "connect_ms": 10**9},
        {"outcome": "connected", "connect_ms": -1},
        {"outcome": "connected", "connect_ms": 5, "label": "x"},
        {"outcome": "exploded"},
    ],
)
def test_bad_reports_cannot_add_labels_or_values(client, body):
    response = telemetry(client, body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"


def test_a_flooding_client_is_rate_limited(client, settings):
    settings.SPEECH_TELEMETRY_RATE = "3/m"
    codes = [telemetry(client, {"outcome": "failed", "stage": "media"}).status_code for _ in range(4)]
    assert codes == [204, 204, 204, 429]


# --- request ids and JSON logs --------------------------------------------------------------------


def test_every_response_carries_a_request_id(client):
    made = client.get("/healthz")["X-Request-ID"]
    assert len(made) == 32
    assert client.get("/healthz", HTTP_X_REQUEST_ID="lb-4f2a9c1e-77")["X-Request-ID"] == "lb-4f2a9c1e-77"
    assert client.get("/healthz", HTTP_X_REQUEST_ID="bad id\nx")["X-Request-ID"] != "bad id\nx"


def test_json_logs_carry_the_request_id_and_the_session_fields(logged_in_client, speech_settings, openai_mint):
    config = dict(django_settings.LOGGING["formatters"]["json"])
    formatter = import_string(config.pop("()"))(**config)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger("speech.session")
    logger.addHandler(handler)
    try:
        response = logged_in_client.post(
            "/realtime_session", data="{}", content_type="application/json", HTTP_X_REQUEST_ID="req-12345678"
        )
    finally:
        logger.removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert response.status_code == 200
    assert len(lines) == 1
    line = lines[0]
    assert line["request_id"] == "req-12345678"
    assert (line["tenant"], line["provider"], line["model"], line["outcome"], line["error_code"]) == (
        "default", "openai_realtime", "gpt-realtime", "success", None,
    )  # fmt: skip
    assert line["duration_ms"] >= 0 and line["level"] == "INFO" and line["logger"] == "speech.session"


# --- usage page ---------------------------------------------------------------------------------------


def test_the_usage_page_draws_24_hours_and_30_days(admin_client, speech_settings):
    now = timezone.now()
    for age, outcome in [(timedelta(minutes=5), "success"), (timedelta(minutes=6), "failure"),
                         (timedelta(hours=3), "success"), (timedelta(days=10), "success"),
                         (timedelta(days=45), "success")]:  # fmt: skip
        audit = SessionAudit.objects.create(
            tenant=speech_settings.tenant, provider="local", model="m", voice="v", outcome=outcome, duration_ms=1
        )
        SessionAudit.objects.filter(pk=audit.pk).update(created_at=now - age)
    page = admin_client.get(f"/admin/speech/sessionaudit/usage/{speech_settings.tenant_id}/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "Last 24 hours, per hour: 3 sessions, 1 failure" in html
    assert "Last 30 days, per day: 4 sessions, 1 failure" in html
    assert html.count("<g><title>") == 24 + 30
    assert ": 2 sessions, 1 failures</title>" in html
    # Axes with their units: the number of sessions up the left (0 to the peak), time along the bottom.
    assert html.count(">sessions</text>") == 2
    assert ">hour (UTC)</text>" in html and ">day</text>" in html
    assert 'text-anchor="end" dominant-baseline="middle">0</text>' in html
    assert 'text-anchor="end" dominant-baseline="middle">2</text>' in html
    assert admin_client.get("/admin/speech/sessionaudit/usage/").status_code == 200


def test_the_usage_page_is_for_staff(logged_in_client, speech_settings):
    assert logged_in_client.get("/admin/speech/sessionaudit/usage/").status_code == 302
