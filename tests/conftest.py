import json

import pytest
import responses
from django.core.cache import cache

from settings_admin.models import SpeechSettings, Tenant
from tests.openai_shapes import assert_mint_body, mint_answer

OPENAI_MINT_URL = "https://api.openai.com/v1/realtime/client_secrets"
SERVER_KEY = "sk-test-server-key-0123456789abcdef"


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


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
def user(db, django_user_model):
    return django_user_model.objects.create_user(username="alice", password="correct horse battery")


@pytest.fixture
def logged_in_client(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def openai_mint():
    """Fakes OpenAI's mint endpoint; every request body is checked against the SDK's types."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:

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
