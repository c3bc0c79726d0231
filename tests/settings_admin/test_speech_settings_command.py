import pytest
from django.core.management import CommandError, call_command

from settings_admin.models import Tenant

pytestmark = pytest.mark.django_db


def run(*args):
    from io import StringIO

    out, err = StringIO(), StringIO()
    call_command("speech_settings", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_shows_the_settings_without_changing_them(speech_settings):
    out, _ = run("default")
    assert "provider                   openai_realtime" in out
    assert "effective_endpoint         https://api.openai.com/v1/realtime/client_secrets" in out
    assert "credential_reference       speech/tenants/default/openai_realtime" in out
    assert "Saved" not in out


def test_changes_are_validated_and_saved(speech_settings):
    out, _ = run(
        "default",
        "--voice",
        "marin",
        "--allowed-voices",
        "marin,verse",
        "--secret-ttl",
        "120",
        "--options",
        '{"speed": 1.2}',
        "--turn-detection",
        "none",
    )
    assert "Saved speech settings of default." in out
    speech_settings.refresh_from_db()
    assert speech_settings.voice == "marin"
    assert speech_settings.allowed_voices == ["marin", "verse"]
    assert speech_settings.secret_ttl_seconds == 120
    assert speech_settings.options == {"speed": 1.2}
    assert speech_settings.turn_detection == "none"


def test_switching_provider_adopts_its_defaults(speech_settings):
    run("default", "--provider", "local")
    speech_settings.refresh_from_db()
    assert (speech_settings.provider, speech_settings.model, speech_settings.endpoint) == ("local", "local-echo", "")


def test_invalid_values_are_refused_with_the_field_named(speech_settings):
    with pytest.raises(CommandError, match="voice: 'darth' is not a voice"):
        run("default", "--voice", "darth")
    speech_settings.refresh_from_db()
    assert speech_settings.voice == "verse"


def test_bad_json_options(speech_settings):
    with pytest.raises(CommandError, match="not valid JSON"):
        run("default", "--options", "{speed")


def test_retired_values_warn(speech_settings):
    _, err = run("default", "--endpoint", "https://api.openai.com/v1/realtime/sessions")
    assert "Warning: Endpoint https://api.openai.com/v1/realtime/sessions" in err


def test_unknown_tenant(db):
    with pytest.raises(CommandError, match="No tenant 'nope'"):
        run("nope")


def test_create_a_tenant(db):
    out, _ = run("acme", "--create", "--name", "Acme Inc", "--provider", "local")
    tenant = Tenant.objects.get(slug="acme")
    assert tenant.name == "Acme Inc"
    assert tenant.speech_settings.provider == "local"
    assert "provider                   local" in out


def test_create_refuses_a_bad_slug(db):
    with pytest.raises(CommandError, match="Invalid tenant"):
        run("not a slug", "--create")
