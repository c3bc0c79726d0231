import json

import pytest
import responses
from axes.utils import reset as axes_reset
from django.core.cache import cache

from settings_admin.models import Membership, SpeechSettings, Tenant
from settings_admin.secrets import credentials
from settings_admin.selectors import settings_local_clear
from speech.calls.services import call_gate_forget
from tests.openai_shapes import assert_mint_body, mint_answer

OPENAI_MINT_URL = "https://api.openai.com/v1/realtime/client_secrets"
SERVER_KEY = "sk-test-server-key-0123456789abcdef"


def _forget_cached_settings():
    for clear in (cache.clear, settings_local_clear, credentials.clear, call_gate_forget):
        clear()


@pytest.fixture(autouse=True)
def _fresh_cache():
    _forget_cached_settings()
    yield
    _forget_cached_settings()


@pytest.fixture(autouse=True)
def _supervise_in_process(settings):
    """No call_supervisor process runs beside the suite: the test process supervises the calls it attaches, with
    REDIS_URL set too (make test-scaleout). Tests of the Redis Stream dispatch choose it themselves."""
    settings.SPEECH_CALL_DISPATCH = "in_process"


def _database_fixture(request):
    """The database fixture this test uses ("db" or "transactional_db"), or None."""
    marker = request.node.get_closest_marker("django_db")
    transactional = bool(marker and marker.kwargs.get("transaction"))
    if transactional or {"transactional_db", "live_server"} & set(request.fixturenames):
        return "transactional_db"
    if marker or "db" in request.fixturenames:
        return "db"
    return None


@pytest.fixture(autouse=True)
def _no_login_lockouts(request):
    """django-axes keeps failed logins in the database: a test starts and ends with none, so no
    test's logins are locked out by another's failures (e.g. rows a server process committed)."""
    database = _database_fixture(request)
    if database is None:
        yield
        return
    request.getfixturevalue(database)
    axes_reset()
    yield
    axes_reset()


@pytest.fixture(scope="session")
def local_services():
    """Starts local provider services (real processes) on demand, one per set of settings, for the session."""
    import secrets

    from tests.servers import start_local_service

    api_key = "sk-local-test-" + secrets.token_hex(16)
    started = {}

    def local_service(label="", **settings):
        """The service with these settings (LOCAL_REALTIME_* names); a label gives a caller one of its own."""
        key = (label, *sorted(settings.items()))
        if key not in started:
            started[key] = start_local_service(api_key=api_key, **settings)
        return started[key]

    yield local_service
    for service in started.values():
        service.stop()


@pytest.fixture(scope="session")
def local_service(local_services):
    """The local provider's service the tests share: generous limits, no rate limits."""
    return local_services()


@pytest.fixture
def local_provider(local_service, settings):
    """The gateway (this test process) reaching the shared local service."""
    settings.LOCAL_REALTIME_URL = local_service.v1
    settings.LOCAL_REALTIME_API_KEY = local_service.api_key
    return local_service


@pytest.fixture(scope="session")
def vault_server():
    """One OpenBao dev server for the session."""
    from tests.vault_server import start_vault

    server = start_vault()
    yield server
    server.stop()


@pytest.fixture
def vault(vault_server, settings):
    """The gateway reading credentials from the Vault server with its root token."""
    from tests.vault_server import ROOT_TOKEN

    settings.SPEECH_SECRETS_BACKEND = "settings_admin.secrets.vault.VaultSecretsBackend"
    settings.VAULT_ADDR = vault_server.addr
    settings.VAULT_AUTH_METHOD = "token"
    settings.VAULT_TOKEN = ROOT_TOKEN
    yield vault_server
    client = vault_server.client()
    for path in _vault_paths(client, "speech/"):
        client.secrets.kv.v2.delete_metadata_and_all_versions(path)


def _vault_paths(client, prefix):
    try:
        keys = client.secrets.kv.v2.list_secrets(prefix)["data"]["keys"]
    except Exception:  # nothing stored under the prefix
        return []
    paths = []
    for key in keys:
        paths.extend(_vault_paths(client, prefix + key) if key.endswith("/") else [prefix + key])
    return paths


@pytest.fixture
def tenant(db):
    # get_or_create: a transactional test before this one may have flushed the migration's rows.
    tenant, _ = Tenant.objects.get_or_create(slug="default", defaults={"name": "Default"})
    SpeechSettings.objects.get_or_create(tenant=tenant)
    return tenant


@pytest.fixture
def speech_settings(tenant, monkeypatch):
    """The default tenant on OpenAI's GA interface, with the server key in the environment."""
    monkeypatch.setenv("OPENAI_API_KEY", SERVER_KEY)
    speech_settings = tenant.speech_settings
    speech_settings.provider = "openai_realtime"
    speech_settings.model = "gpt-realtime"
    speech_settings.voice = "verse"
    speech_settings.endpoint = ""
    speech_settings.allowed_models = []
    speech_settings.allowed_voices = []
    speech_settings.save()
    return speech_settings


@pytest.fixture
def user(tenant, django_user_model):
    """A member of the default tenant."""
    user = django_user_model.objects.create_user(username="alice", password="correct horse battery")
    Membership.objects.create(user=user, tenant=tenant)
    return user


@pytest.fixture
def logged_in_client(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def openai_mint():
    """Fakes OpenAI's mint endpoint; every request body is checked against the SDK's types."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_passthru("http://127.0.0.1")  # real local parts (Vault) stay real

        def answer(request):
            body = json.loads(request.body)
            assert_mint_body(body)
            assert "OpenAI-Beta" not in request.headers
            session = {
                "type": "realtime",
                "object": "realtime.session",
                "id": "sess_test",
                "model": body["session"]["model"],
                "output_modalities": ["audio"],
                "audio": {"output": {"voice": body["session"]["audio"]["output"]["voice"]}},
            }
            return 200, {"Content-Type": "application/json"}, json.dumps(mint_answer(session=session))

        mock.add_callback(responses.POST, OPENAI_MINT_URL, callback=answer)
        yield mock
