from django.core.checks import run_checks
from django.test import override_settings

OPENAI = "speech.providers.openai_realtime.OpenAIRealtimeProvider"


def check_ids():
    return {message.id for message in run_checks()}


def test_the_shipped_settings_pass():
    assert not {i for i in check_ids() if i.startswith("settings_admin.")}


@override_settings(SPEECH_PROVIDERS=[OPENAI, "speech.providers.nope.Provider"])
def test_a_provider_that_cannot_be_imported():
    assert "settings_admin.E001" in check_ids()


@override_settings(SPEECH_PROVIDERS=["speech.providers.base.RealtimeProvider"])
def test_a_provider_without_an_id():
    assert "settings_admin.E002" in check_ids()


@override_settings(SPEECH_PROVIDERS=[OPENAI, OPENAI])
def test_two_providers_with_one_id():
    assert "settings_admin.E003" in check_ids()


@override_settings(SPEECH_PROVIDERS=[])
def test_no_provider():
    assert "settings_admin.E004" in check_ids()


@override_settings(SPEECH_SECRETS_BACKEND="settings_admin.secrets.nope.Backend")
def test_a_secrets_backend_that_cannot_be_imported():
    assert "settings_admin.E005" in check_ids()
