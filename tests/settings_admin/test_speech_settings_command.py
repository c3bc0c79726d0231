import io
import os
import sqlite3
import subprocess
import sys

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from settings_admin.models import Tenant
from tests.servers import ROOT, manage

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


def test_the_webrtc_mode_is_set_and_shown(speech_settings):
    out, _ = run("default", "--webrtc-mode", "unified")
    assert "webrtc_mode                unified" in out
    speech_settings.refresh_from_db()
    assert speech_settings.webrtc_mode == "unified"


def test_a_provider_without_the_unified_interface_refuses_it(speech_settings, settings):
    settings.SPEECH_PROVIDERS = [*settings.SPEECH_PROVIDERS, "tests.speech.direct_only_provider.DirectOnlyProvider"]
    with pytest.raises(CommandError, match="webrtc_mode: Direct only does not support the unified interface"):
        run("default", "--provider", "direct_only", "--webrtc-mode", "unified")
    speech_settings.refresh_from_db()
    assert (speech_settings.provider, speech_settings.webrtc_mode) == ("openai_realtime", "direct")


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


class AtomicWatchingOutput(io.StringIO):
    """Remembers, for each line written, whether a transaction was still open."""

    def __init__(self):
        super().__init__()
        self.lines = []

    def write(self, text):
        self.lines.append((text, connection.in_atomic_block))
        return super().write(text)


@pytest.mark.django_db(transaction=True)  # no test transaction around the command: its own commit is real
def test_saved_is_printed_after_the_commit():
    tenant = Tenant.objects.create(slug="acme", name="Acme")
    out = AtomicWatchingOutput()
    call_command("speech_settings", "acme", "--voice", "ash", stdout=out, stderr=io.StringIO())
    saved = [in_transaction for text, in_transaction in out.lines if "Saved speech settings of acme." in text]
    assert saved == [False]
    tenant.speech_settings.refresh_from_db()
    assert tenant.speech_settings.voice == "ash"


def test_a_refused_change_prints_no_saved(speech_settings):
    out = io.StringIO()
    with pytest.raises(CommandError, match="voice: 'darth' is not a voice"):
        call_command("speech_settings", "default", "--voice", "darth", stdout=out, stderr=io.StringIO())
    assert "Saved" not in out.getvalue()


def test_a_reader_that_leaves_early_does_not_undo_the_change(tmp_path):
    """`manage.py speech_settings default --voice ash | head -c1`: the pipe closes before the command writes."""
    database = tmp_path / "db.sqlite3"
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": f"sqlite:///{database}", "SECRET_KEY": "x" * 50}
    manage(env, "migrate", "--noinput")
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader has gone before the first line
    # Unbuffered (as in most containers): each line reaches the pipe when written.
    command = subprocess.run(
        [sys.executable, "manage.py", "speech_settings", "default", "--voice", "ash"],
        cwd=ROOT,
        env={**env, "PYTHONUNBUFFERED": "1"},
        stdout=write_end,
        stderr=subprocess.PIPE,
        text=True,
        timeout=120,
    )
    os.close(write_end)
    with sqlite3.connect(database) as db:
        (voice,) = db.execute(
            "SELECT s.voice FROM settings_admin_speechsettings s"
            " JOIN settings_admin_tenant t ON t.id = s.tenant_id WHERE t.slug = 'default'"
        ).fetchone()
    assert voice == "ash"
    # Only the report was lost: exit status 1 (Python's for a closed pipe), and no traceback.
    assert command.returncode == 1
    assert "Traceback" not in command.stderr
