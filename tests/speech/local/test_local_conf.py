"""The local service's configuration: the master key both processes share, and settings from the environment."""

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from speech.local.conf import Config, ConfigError, config_from_env, master_key_load
from tests.servers import ROOT


def test_a_configured_master_key_wins(tmp_path):
    assert master_key_load({"LOCAL_REALTIME_API_KEY": "sk-set"}, path=tmp_path / "key") == "sk-set"
    assert not (tmp_path / "key").exists()


def test_without_one_a_key_is_made_once_kept_private_and_read_again(tmp_path):
    path = tmp_path / "var" / "local_realtime_key"
    with ThreadPoolExecutor(8) as pool:
        keys = set(pool.map(lambda _: master_key_load({}, path=path), range(16)))
    assert len(keys) == 1 and next(iter(keys)).startswith("sk-local-master-")
    assert path.stat().st_mode & 0o777 == 0o600
    assert master_key_load({}, path=path) in keys
    assert [p.name for p in path.parent.iterdir()] == ["local_realtime_key"]  # no drafts left behind


def test_the_gateways_settings_and_the_service_read_the_same_key(tmp_path):
    """config/settings.py and `python -m speech.local` both fall back on var/local_realtime_key."""
    script = "from django.conf import settings; print(settings.LOCAL_REALTIME_API_KEY)"
    env = {"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "config.settings", "SECRET_KEY": "x" * 50}
    gateway = subprocess.run([sys.executable, "-c", f"import django; django.setup(); {script}"], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=60)  # fmt: skip
    assert gateway.returncode == 0, gateway.stderr
    assert gateway.stdout.strip() == master_key_load({}, path=ROOT / "var" / "local_realtime_key")


def test_settings_come_from_the_environment(tmp_path):
    config = config_from_env(
        {
            "LOCAL_REALTIME_API_KEY": "sk-x",
            "LOCAL_REALTIME_PORT": "9123",
            "LOCAL_REALTIME_MAX_CALLS": "3",
            "LOCAL_REALTIME_RATE_CALLS": "",
            "LOCAL_REALTIME_STUN": "stun:stun.example.org:3478",
            "LOCAL_REALTIME_ICE_ADDRESSES": "192.0.2.10, 2001:DB8:0::1",
        },
        key_file=tmp_path / "key",
    )
    assert (config.port, config.max_calls, config.rate_calls) == (9123, 3, "")
    assert config.stun == "stun:stun.example.org:3478"
    assert config.ice_addresses == ("192.0.2.10", "2001:db8::1")


def test_the_defaults_ask_no_stun_server_and_offer_every_host_address(tmp_path):
    config = config_from_env({"LOCAL_REALTIME_API_KEY": "sk-x"}, key_file=tmp_path / "key")
    assert config == Config(api_key="sk-x")
    assert (config.host, config.port, config.stun, config.ice_addresses) == ("127.0.0.1", 8001, "", ())


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("media.example.org", "is not an IP address"),
        ("192.0.2.10, 127.0.0.1", "is never gathered"),
        ("::1", "is never gathered"),
        ("0.0.0.0", "is never gathered"),
        ("fe80::1", "is never gathered"),
    ],
)
def test_ice_addresses_are_addresses_aioice_can_gather(value, reason, tmp_path):
    environ = {"LOCAL_REALTIME_API_KEY": "sk-x", "LOCAL_REALTIME_ICE_ADDRESSES": value}
    with pytest.raises(ConfigError, match=f"LOCAL_REALTIME_ICE_ADDRESSES: .* {reason}"):
        config_from_env(environ, key_file=tmp_path / "key")
