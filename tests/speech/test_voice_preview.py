"""Voice previews: POST /api/v1/tenants/{tenant}/voice_preview, from each provider's text-to-speech."""

import io
import json
import wave

import numpy as np
import pytest
import responses
from django.test import Client

from settings_admin.models import KeyScope, Membership, Role, SpeechSettings, Tenant, TenantAPIKey
from tests.conftest import SERVER_KEY
from tests.openai_shapes import assert_speech_body

pytestmark = pytest.mark.django_db

OPENAI_SPEECH_URL = "https://api.openai.com/v1/audio/speech"
AZURE_ENDPOINT = "https://contoso.openai.azure.com/openai/v1/realtime/client_secrets"
AZURE_SPEECH_URL = "https://contoso.openai.azure.com/openai/v1/audio/speech"
PATH = "/api/v1/tenants/default/voice_preview"


def wav(seconds=0.5, rate=24000, amplitude=8000):
    t = np.arange(int(seconds * rate)) / rate
    samples = (amplitude * np.sin(2 * np.pi * 220 * t)).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(samples.tobytes())
    return buffer.getvalue()


def loudness(audio):
    """The RMS of a 16-bit mono WAV file, and its length in seconds."""
    with wave.open(io.BytesIO(audio)) as reader:
        samples = np.frombuffer(reader.readframes(reader.getnframes()), dtype="<i2").astype(float)
        return float(np.sqrt(np.mean(samples**2))), reader.getnframes() / reader.getframerate()


def preview(client, body, path=PATH, **headers):
    return client.post(path, data=json.dumps(body), content_type="application/json", **headers)


@pytest.fixture
def admin_client(speech_settings, django_user_model):
    dana = django_user_model.objects.create_user("dana")
    Membership.objects.create(user=dana, tenant=speech_settings.tenant, role=Role.ADMIN)
    client = Client()
    client.force_login(dana)
    return client


@pytest.fixture
def openai_speech():
    """Fakes OpenAI's speech endpoint; every body is checked against the SDK's SpeechCreateParams."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_passthru("http://127.0.0.1")

        def answer(request):
            assert_speech_body(json.loads(request.body))
            return 200, {"Content-Type": "audio/wav"}, wav()

        mock.add_callback(responses.POST, OPENAI_SPEECH_URL, callback=answer)
        mock.add_callback(responses.POST, AZURE_SPEECH_URL, callback=answer)
        yield mock


def test_openai_speaks_the_sample_with_the_tenants_key_in_the_sdks_shape(admin_client, openai_speech):
    response = preview(admin_client, {"voice": "marin"})
    assert response.status_code == 200
    assert response["Content-Type"] == "audio/wav"
    assert response["X-Preview-Cache"] == "miss"
    assert loudness(response.content)[0] > 1000
    sent = openai_speech.calls[0].request
    assert sent.headers["Authorization"] == f"Bearer {SERVER_KEY}"
    body = json.loads(sent.body)
    assert body["voice"] == "marin" and body["model"] == "gpt-4o-mini-tts" and body["response_format"] == "wav"
    assert "marin" in body["input"]


def test_a_sample_is_cached_per_provider_voice_and_text(admin_client, openai_speech):
    assert preview(admin_client, {"voice": "marin"})["X-Preview-Cache"] == "miss"
    again = preview(admin_client, {"voice": "marin"})
    assert again.status_code == 200 and again["X-Preview-Cache"] == "hit"
    assert preview(admin_client, {"voice": "cedar"})["X-Preview-Cache"] == "miss"
    assert len(openai_speech.calls) == 2


def test_the_tenants_speed_option_reaches_the_sample(admin_client, openai_speech, speech_settings):
    speech_settings.options = {"speed": 1.25}
    speech_settings.save()
    assert preview(admin_client, {"voice": "verse"}).status_code == 200
    assert json.loads(openai_speech.calls[0].request.body)["speed"] == 1.25


def test_azure_speaks_through_the_preview_deployment_with_the_api_key_header(
    admin_client, openai_speech, speech_settings, monkeypatch
):
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "azure-key-0123456789")
    SpeechSettings.objects.filter(pk=speech_settings.pk).update(
        provider="azure_openai", model="my-realtime", endpoint=AZURE_ENDPOINT, options={"preview_deployment": "tts"}
    )
    response = preview(admin_client, {"voice": "coral"})
    assert response.status_code == 200
    sent = openai_speech.calls[0].request
    assert sent.url == AZURE_SPEECH_URL
    assert sent.headers["api-key"] == "azure-key-0123456789" and "Authorization" not in sent.headers
    assert json.loads(sent.body)["model"] == "tts"


def test_azure_without_a_preview_deployment_cannot_preview(admin_client, openai_speech, speech_settings):
    SpeechSettings.objects.filter(pk=speech_settings.pk).update(
        provider="azure_openai", model="my-realtime", endpoint=AZURE_ENDPOINT, options={}
    )
    response = preview(admin_client, {"voice": "coral"})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "preview_unavailable"
    assert "preview_deployment" in response.json()["error"]["message"]
    assert not openai_speech.calls


def test_switching_to_a_provider_without_a_default_endpoint_cannot_preview_yet(admin_client, openai_speech):
    response = preview(admin_client, {"voice": "coral", "provider": "azure_openai"})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "preview_unavailable"


def test_an_unknown_provider_cannot_preview(admin_client):
    response = preview(admin_client, {"voice": "coral", "provider": "nope"})
    assert response.status_code == 409 and response.json()["error"]["code"] == "preview_unavailable"


def test_a_voice_outside_the_providers_catalog_is_refused(admin_client, openai_speech):
    response = preview(admin_client, {"voice": "darth"})
    assert response.status_code == 400 and response.json()["error"]["code"] == "voice_not_allowed"
    assert not openai_speech.calls


def test_an_endpoint_the_operator_no_longer_allows_never_gets_the_key(admin_client, openai_speech, speech_settings):
    SpeechSettings.objects.filter(pk=speech_settings.pk).update(
        endpoint="https://evil.example/v1/realtime/client_secrets"
    )
    response = preview(admin_client, {"voice": "verse"})
    assert response.status_code == 400 and response.json()["error"]["code"] == "endpoint_not_allowed"
    assert not openai_speech.calls


@pytest.mark.parametrize(
    ("status", "body", "code"),
    [
        (401, b'{"error": {"code": "invalid_api_key"}}', "provider_auth_failed"),
        (429, b"{}", "provider_rate_limited"),
        (400, b'{"error": {"code": "invalid_value"}}', "provider_rejected"),
        (500, b"oops", "provider_unavailable"),
        (200, b"<html>not audio</html>", "provider_bad_response"),
    ],
)
def test_provider_failures_have_their_codes(admin_client, speech_settings, status, body, code):
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, OPENAI_SPEECH_URL, body=body, status=status)
        response = preview(admin_client, {"voice": "verse"})
    assert response.json()["error"]["code"] == code
    assert response.status_code in (502, 503)


def test_a_tenant_without_a_key_hears_why(admin_client, speech_settings, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    response = preview(admin_client, {"voice": "verse"})
    assert response.status_code == 503 and response.json()["error"]["code"] == "credentials_missing"


def test_previews_are_rate_limited_per_user(admin_client, openai_speech, settings):
    settings.SPEECH_VOICE_PREVIEW_RATE = "2/m"
    assert [preview(admin_client, {"voice": "verse"}).status_code for _ in range(2)] == [200, 200]
    refused = preview(admin_client, {"voice": "verse"})
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited"


def test_members_who_are_not_admins_cannot_preview(logged_in_client, speech_settings):
    response = preview(logged_in_client, {"voice": "verse"})
    assert response.status_code == 403 and response.json()["error"]["code"] == "not_a_member"


def test_anonymous_callers_cannot_preview(client, speech_settings):
    response = preview(client, {"voice": "verse"})
    assert response.status_code in (401, 403) and response.json()["error"]["code"] == "not_authenticated"


def test_an_admin_of_one_tenant_cannot_preview_with_anothers_key(admin_client, speech_settings):
    other = Tenant.objects.create(slug="other", name="Other")
    SpeechSettings.objects.create(tenant=other)
    response = preview(admin_client, {"voice": "verse"}, path="/api/v1/tenants/other/voice_preview")
    assert response.status_code == 403 and response.json()["error"]["code"] == "not_a_member"
    # An unknown name reads the same to them: no tenant names are learnt this way.
    unknown = preview(admin_client, {"voice": "verse"}, path="/api/v1/tenants/nobody/voice_preview")
    assert unknown.status_code == 403 and unknown.json()["error"]["code"] == "not_a_member"


def test_superusers_hear_that_a_tenant_does_not_exist(speech_settings, django_user_model):
    client = Client()
    client.force_login(django_user_model.objects.create_superuser("root", password="x"))
    response = preview(client, {"voice": "verse"}, path="/api/v1/tenants/nobody/voice_preview")
    assert response.status_code == 404 and response.json()["error"]["code"] == "tenant_not_found"


def test_api_keys_need_the_admin_scope_of_the_named_tenant(speech_settings, openai_speech):
    tenant = speech_settings.tenant
    _, sessions_key = TenantAPIKey.objects.create_key(name="s", tenant=tenant, scope=KeyScope.SESSIONS)
    _, admin_key = TenantAPIKey.objects.create_key(name="a", tenant=tenant, scope=KeyScope.ADMIN)
    client = Client()
    scoped = preview(client, {"voice": "verse"}, HTTP_AUTHORIZATION=f"Api-Key {sessions_key}")
    assert scoped.status_code == 403 and scoped.json()["error"]["code"] == "api_key_scope"
    assert preview(client, {"voice": "verse"}, HTTP_AUTHORIZATION=f"Api-Key {admin_key}").status_code == 200
    other = Tenant.objects.create(slug="other", name="Other")
    SpeechSettings.objects.create(tenant=other)
    other_path = "/api/v1/tenants/other/voice_preview"
    elsewhere = preview(client, {"voice": "verse"}, path=other_path, HTTP_AUTHORIZATION=f"Api-Key {admin_key}")
    assert elsewhere.status_code == 403 and elsewhere.json()["error"]["code"] == "api_key_wrong_tenant"


def test_unknown_fields_are_refused(admin_client):
    response = preview(admin_client, {"voice": "verse", "text": "say something rude"})
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_request"


def test_the_local_provider_speaks_the_sample_with_espeak_ng(admin_client, speech_settings, local_provider):
    speech_settings.provider, speech_settings.model, speech_settings.voice = "local", "local-echo", "verse"
    speech_settings.save()
    first = preview(admin_client, {"voice": "cedar"})
    assert first.status_code == 200 and first["Content-Type"] == "audio/wav"
    rms, seconds = loudness(first.content)
    assert rms > 300 and 1.0 < seconds < 10
    assert preview(admin_client, {"voice": "cedar"})["X-Preview-Cache"] == "hit"


def test_switching_the_form_to_the_local_provider_previews_it_before_saving(
    admin_client, speech_settings, local_provider
):
    response = preview(admin_client, {"voice": "ash", "provider": "local"})
    assert response.status_code == 200 and loudness(response.content)[0] > 300


def test_a_provider_without_text_to_speech_cannot_preview(admin_client, speech_settings, settings):
    settings.SPEECH_PROVIDERS = [*settings.SPEECH_PROVIDERS, "tests.speech.direct_only_provider.DirectOnlyProvider"]
    settings.SPEECH_ALLOWED_ENDPOINT_HOSTS = ["direct.example"]
    response = preview(admin_client, {"voice": "verse", "provider": "direct_only"})
    assert response.status_code == 409 and response.json()["error"]["code"] == "preview_unavailable"
    assert "cannot play voice samples" in response.json()["error"]["message"]


def test_a_sample_larger_than_the_preview_cap_is_not_read(admin_client, speech_settings, settings):
    settings.SPEECH_VOICE_PREVIEW_MAX_BYTES = 10_000
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, OPENAI_SPEECH_URL, body=wav(seconds=1.0), content_type="audio/wav")
        response = preview(admin_client, {"voice": "verse"})
    assert response.status_code == 502 and response.json()["error"]["code"] == "provider_response_too_large"


def test_a_sample_longer_than_a_mint_answer_is_read_under_its_own_cap(admin_client, speech_settings, settings):
    settings.SPEECH_PROVIDER_MAX_RESPONSE_BYTES = 10_000  # the mint cap does not apply to audio
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, OPENAI_SPEECH_URL, body=wav(seconds=3.0), content_type="audio/wav")
        response = preview(admin_client, {"voice": "verse"})
    assert response.status_code == 200 and len(response.content) > 100_000


def test_a_preview_of_another_provider_never_sends_the_key_kept_for_the_saved_one(
    admin_client, openai_speech, speech_settings, vault
):
    """A named credential holds the saved provider's key (here Azure's): a form switched to OpenAI must not send
    it to OpenAI. The other provider's key is looked up where that provider's own key would be kept."""
    from settings_admin.secrets import credential_set

    SpeechSettings.objects.filter(pk=speech_settings.pk).update(
        provider="azure_openai", model="my-realtime", endpoint=AZURE_ENDPOINT, credential_ref="main-key",
        options={"preview_deployment": "tts"},
    )  # fmt: skip
    azure = SpeechSettings.objects.get(pk=speech_settings.pk)
    credential_set(reference=azure.credential_reference, provider=azure.get_provider(), value="azure-key-0123456789")
    response = preview(admin_client, {"voice": "coral", "provider": "openai_realtime"})
    assert not any("azure-key-0123456789" in str(call.request.headers) for call in openai_speech.calls)
    assert response.status_code == 503 and response.json()["error"]["code"] == "credentials_missing"
