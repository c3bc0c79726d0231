"""An unexpected exception on an API path answers 500 JSON internal_error with the request id, never
Django's HTML page: raised in a provider (in a real server process) or in middleware, before DRF."""

import requests
from django.test import Client

from tests.parts import OPENAI_TENANT, server_env
from tests.servers import manage, start_server
from tests.vault_server import free_port

PROVIDERS = ",".join(
    [
        "speech.providers.openai_realtime.OpenAIRealtimeProvider",
        "speech.providers.local.LocalRealtimeProvider",
        "tests.speech.failing_provider.FailingProvider",
    ]
)


def test_a_provider_failing_unexpectedly_answers_internal_error_with_the_request_id(tmp_path):
    port = free_port()
    env = server_env(tmp_path, SPEECH_PROVIDERS=PROVIDERS, FAILING_API_KEY="fk-0123456789abcdef")
    manage(env, "migrate", "--noinput")
    tenant = OPENAI_TENANT.format(rate="", provider="failing", endpoint="").replace('"gpt-realtime"', '"m1"')
    raw_key = manage(env, "shell", "-c", tenant).strip().splitlines()[-1]
    log_path = tmp_path / "server.log"
    with open(log_path, "w") as log:
        server = start_server(env, port, log=log)
        try:
            answer = requests.post(
                f"http://127.0.0.1:{port}/api/v1/realtime_session", json={},
                headers={"Authorization": f"Api-Key {raw_key}", "X-Request-ID": "faults-internal-0001"}, timeout=10,
            )  # fmt: skip
        finally:
            server.terminate()
            server.wait(10)
    assert answer.status_code == 500
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.json() == {
        "error": {
            "code": "internal_error",
            "message": "The gateway failed unexpectedly. Quote the request id when you report it.",
            "request_id": "faults-internal-0001",
        }
    }
    assert answer.headers["X-Request-ID"] == "faults-internal-0001"
    log = log_path.read_text()
    assert "[faults-internal-0001]" in log and "RuntimeError: the failing provider failed" in log  # findable


def failing_middleware(settings):
    settings.MIDDLEWARE = [
        settings.MIDDLEWARE[0],  # the request id
        "tests.speech.failing_provider.FailingMiddleware",
        *settings.MIDDLEWARE[1:],
    ]
    return Client(raise_request_exception=False)


def test_an_exception_in_middleware_answers_internal_error_on_api_paths(settings, db):
    client = failing_middleware(settings)
    for path in ("/api/v1/realtime_session", "/realtime_session", "/api/v1/providers"):
        answer = client.post(path, {}, content_type="application/json", headers={"X-Fail": "runtime"})
        assert answer.status_code == 500
        assert answer.headers["Content-Type"] == "application/json"
        body = answer.json()["error"]
        assert body["code"] == "internal_error"
        assert body["request_id"] == answer.headers["X-Request-ID"]


def test_a_database_fault_in_middleware_answers_database_unavailable(settings, db):
    client = failing_middleware(settings)
    answer = client.get("/api/v1/providers", headers={"X-Fail": "database"})
    assert answer.status_code == 503
    assert answer.json()["error"]["code"] == "database_unavailable"
    page = client.get("/", headers={"X-Fail": "database"})
    assert page.status_code == 503
    assert "database cannot be reached" in page.content.decode()


def test_pages_keep_html_error_pages(settings, db):
    client = failing_middleware(settings)
    page = client.get("/login/", headers={"X-Fail": "runtime"})
    assert page.status_code == 500
    assert page.headers["Content-Type"].startswith("text/html")


def test_an_unknown_api_path_answers_not_found_in_json(client, db):
    answer = client.get("/api/v1/nothing-here")
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "not_found"
    assert client.get("/nothing-here").headers["Content-Type"].startswith("text/html")
