"""The credential cache in front of a real Vault: time to live, stale serving, rotation across workers."""

import logging
import subprocess
import sys

import pytest

import settings_admin.secrets as secrets_module
from settings_admin.registry import registry
from settings_admin.secrets import SecretsError, credential_get, credential_set
from tests.servers import manage
from tests.vault_server import ROOT_TOKEN, start_vault

REFERENCE = "speech/tenants/acme/openai_realtime"
pytestmark = pytest.mark.django_db  # the settings generation, which tags each cached value, is in the database


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(secrets_module, "_now", clock)
    return clock


@pytest.fixture
def provider():
    return registry.get("openai_realtime")


def write_directly(server, value):
    """A change made in Vault by someone else: no invalidation reaches the gateway."""
    server.client().secrets.kv.v2.create_or_update_secret(REFERENCE, secret={"api_key": value})


def test_reads_are_cached_for_their_time_to_live(vault, provider, clock, settings):
    settings.SPEECH_SECRETS_CACHE_SECONDS = 60
    write_directly(vault, "sk-first-000000")
    assert credential_get(reference=REFERENCE, provider=provider) == "sk-first-000000"
    write_directly(vault, "sk-second-11111")
    clock.now += 59
    assert credential_get(reference=REFERENCE, provider=provider) == "sk-first-000000"
    clock.now += 2
    assert credential_get(reference=REFERENCE, provider=provider) == "sk-second-11111"


def test_a_write_through_the_gateway_takes_effect_at_once(vault, provider, clock):
    credential_set(reference=REFERENCE, provider=provider, value="sk-old-key-00000")
    assert credential_get(reference=REFERENCE, provider=provider) == "sk-old-key-00000"
    credential_set(reference=REFERENCE, provider=provider, value="sk-new-key-11111")
    assert credential_get(reference=REFERENCE, provider=provider) == "sk-new-key-11111"


def test_a_stopped_vault_is_bridged_by_the_cached_value_then_reported(provider, clock, settings, caplog):
    server = start_vault()  # its own server, to stop it
    try:
        settings.SPEECH_SECRETS_BACKEND = "settings_admin.secrets.vault.VaultSecretsBackend"
        settings.VAULT_ADDR, settings.VAULT_TOKEN, settings.VAULT_TIMEOUT = server.addr, ROOT_TOKEN, 1
        settings.SPEECH_SECRETS_CACHE_SECONDS, settings.SPEECH_SECRETS_STALE_SECONDS = 60, 300
        write_directly(server, "sk-cached-abcdef")
        assert credential_get(reference=REFERENCE, provider=provider) == "sk-cached-abcdef"
        server.stop()

        clock.now += 30  # within the time to live: no request at all
        assert credential_get(reference=REFERENCE, provider=provider) == "sk-cached-abcdef"
        clock.now += 200  # past it, within the stale period: served, with a warning
        with caplog.at_level(logging.WARNING, logger="settings_admin.secrets"):
            assert credential_get(reference=REFERENCE, provider=provider) == "sk-cached-abcdef"
        assert "serving speech/tenants/acme/openai_realtime cached" in caplog.text
        assert "sk-cached-abcdef" not in caplog.text
        clock.now += 200  # past the stale period
        with pytest.raises(SecretsError):
            credential_get(reference=REFERENCE, provider=provider)
    finally:
        server.stop()


ROTATE = """
from settings_admin.registry import registry
from settings_admin.secrets import credential_set
credential_set(reference="{reference}", provider=registry.get("openai_realtime"), value="{value}")
"""


def test_a_rotation_reaches_a_second_worker_process_at_once(vault, provider, settings, tmp_path):
    """The worker and the writer (the admin's process) share only the database and Vault: no Redis."""
    settings.SPEECH_SECRETS_CACHE_SECONDS = 3600  # only the invalidation can make the worker read again
    env = {
        "PATH": "/usr/bin:/bin",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'shared.sqlite3'}",
        "SECRET_KEY": "rotation-test-secret-key-0123456789abcdefghijkl",
        "VAULT_ADDR": vault.addr,
        "VAULT_TOKEN": ROOT_TOKEN,
        "SPEECH_SECRETS_CACHE_SECONDS": "3600",
    }
    manage(env, "migrate", "--noinput")
    credential_set(reference=REFERENCE, provider=provider, value="sk-before-rotation")
    worker = subprocess.Popen(
        [sys.executable, "tests/settings_admin/secrets/worker.py"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )

    def worker_reads():
        worker.stdin.write(REFERENCE + "\n")
        worker.stdin.flush()
        return worker.stdout.readline().strip()

    try:
        assert worker.stdout.readline().strip() == "ready"
        assert worker_reads() == "sk-before-rotation"
        manage(env, "shell", "-c", ROTATE.format(reference=REFERENCE, value="sk-after-rotation"))
        assert worker_reads() == "sk-after-rotation"
    finally:
        worker.stdin.close()
        worker.wait(10)


def test_a_write_inside_a_transaction_is_published_when_it_commits(vault, provider, django_capture_on_commit_callbacks):
    from settings_admin.generation import generation_current

    first = generation_current()
    with django_capture_on_commit_callbacks(execute=True):  # as the admin form writes, inside the admin's transaction
        credential_set(reference=REFERENCE, provider=provider, value="sk-in-a-transaction-0")
        assert generation_current() == first  # other processes keep theirs until the commit
        assert credential_get(reference=REFERENCE, provider=provider) == "sk-in-a-transaction-0"  # this one knows
    assert generation_current() == first + 1
