import pytest
from django.core.exceptions import ValidationError

pytestmark = pytest.mark.django_db


def errors_of(speech_settings):
    with pytest.raises(ValidationError) as caught:
        speech_settings.full_clean()
    return caught.value.message_dict


def test_the_seed_defaults_moved_to_the_ga_interface(tenant):
    from settings_admin.models import SpeechSettings, Tenant

    fresh = SpeechSettings(tenant=Tenant(slug="t2", name="T2"))
    assert (fresh.provider, fresh.model, fresh.voice) == ("openai_realtime", "gpt-realtime", "verse")
    assert fresh.effective_endpoint == "https://api.openai.com/v1/realtime/client_secrets"
    assert fresh.credential_reference == "speech/tenants/t2/openai_realtime"


def test_valid_settings_pass(speech_settings):
    speech_settings.allowed_models = ["gpt-realtime", "gpt-realtime-2"]
    speech_settings.allowed_voices = ["verse", "cedar"]
    speech_settings.options = {"speed": 1.1}
    speech_settings.full_clean()


def test_unknown_provider(speech_settings):
    speech_settings.provider = "acme"
    assert "Unknown provider" in errors_of(speech_settings)["provider"][0]


def test_model_and_voice_must_be_in_the_providers_catalog(speech_settings):
    speech_settings.model = "gpt-4o"
    speech_settings.voice = "darth"
    found = errors_of(speech_settings)
    assert "not a model of OpenAI Realtime" in found["model"][0]
    assert "not a voice of OpenAI Realtime" in found["voice"][0]


def test_allowed_lists_must_be_names_from_the_catalog(speech_settings):
    speech_settings.allowed_models = ["gpt-realtime", "gpt-4o"]
    speech_settings.allowed_voices = "verse"
    found = errors_of(speech_settings)
    assert "gpt-4o" in found["allowed_models"][0]
    assert "list" in found["allowed_voices"][0]


@pytest.mark.parametrize(
    ("endpoint", "message"),
    [
        ("http://api.openai.com/v1/realtime/client_secrets", "https://"),
        ("https://api.openai.com/v1/responses", "/realtime/client_secrets"),
        ("https://u:p@api.openai.com/v1/realtime/client_secrets", "user information"),
    ],
)
def test_bad_endpoints(speech_settings, endpoint, message):
    speech_settings.endpoint = endpoint
    assert message in " ".join(errors_of(speech_settings)["endpoint"])


def test_loopback_endpoints_may_use_http_where_the_operator_allows_them(speech_settings, settings):
    settings.SPEECH_ALLOWED_ENDPOINT_HOSTS = ["127.0.0.1:9999"]
    speech_settings.endpoint = "http://127.0.0.1:9999/v1/realtime/client_secrets"
    speech_settings.full_clean()


@pytest.mark.parametrize("ttl", [9, 7201])
def test_secret_lifetime_bounds(speech_settings, ttl):
    speech_settings.secret_ttl_seconds = ttl
    assert "secret_ttl_seconds" in errors_of(speech_settings)


@pytest.mark.parametrize(
    ("options", "key"),
    [({"speed": 9}, "speed"), ({"noise_reduction": "loud"}, "noise_reduction"), ({"temperature": 1}, "temperature")],
)
def test_options_are_validated_by_the_providers_serializer(speech_settings, options, key):
    speech_settings.options = options
    assert any(key in message for message in errors_of(speech_settings)["options"])


def test_options_must_be_an_object(speech_settings):
    speech_settings.options = ["speed"]
    assert "options" in errors_of(speech_settings)


def test_the_seeds_retired_values_stay_selectable_with_warnings(speech_settings):
    speech_settings.model = "gpt-4o-realtime-preview"
    speech_settings.endpoint = "https://api.openai.com/v1/realtime/sessions"
    speech_settings.full_clean()
    notices = " ".join(speech_settings.warnings())
    assert "deprecated preview model" in notices
    assert "retired" in notices


def test_current_values_have_no_warnings(speech_settings):
    speech_settings.model = "gpt-realtime-2"
    assert speech_settings.warnings() == []
