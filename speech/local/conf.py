"""The local provider's configuration, from the environment (and the project's .env, like Django's settings).

No Django import: the service runs as a process of its own (`python -m speech.local`).
"""

import ipaddress
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from .limits import rate_parse

BASE_DIR = Path(__file__).resolve().parents[2]
KEY_FILE = BASE_DIR / "var" / "local_realtime_key"


class ConfigError(ValueError):
    """A setting that cannot be used; the message names it."""


def dotenv_read(path):
    """KEY=VALUE lines of a .env file (comments and blank lines skipped, one level of quotes removed)."""
    values = {}
    if not path.exists():
        return values
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def master_key_load(environ, *, path=KEY_FILE):
    """LOCAL_REALTIME_API_KEY, else a random key kept in var/local_realtime_key (made on first use).

    The gateway (config/settings.py) and the service both call this, so on one machine they share the key
    with nothing set; on several machines, set LOCAL_REALTIME_API_KEY to the same value on each.
    """
    configured = environ.get("LOCAL_REALTIME_API_KEY", "").strip()
    if configured:
        return configured
    if not path.exists():
        path.parent.mkdir(exist_ok=True)
        # Written whole under another name (0600 from the start), then linked into place: the gateway and the
        # service start together, and the one that loses the race reads the winner's complete key.
        draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write("sk-local-master-" + secrets.token_hex(24))
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_text().strip()


@dataclass(frozen=True)
class Config:
    api_key: str
    host: str = "127.0.0.1"
    port: int = 8001
    max_calls: int = 8
    max_calls_per_account: int = 4
    max_call_seconds: float = 900
    idle_seconds: float = 300
    media_timeout_seconds: float = 5.0
    # A WebRTC call whose page sends no audio track this long after the answer holds a slot for nothing.
    first_media_seconds: float = 15.0
    answer_delay_seconds: float = 0.0
    rate_client_secrets: str = "60/m"
    rate_calls: str = "30/m"
    rate_hangups: str = "60/m"
    # ICE: no STUN server unless configured; the addresses offered in answers (empty: every address gathered).
    stun: str = ""
    ice_addresses: tuple = field(default_factory=tuple)


def ice_addresses_parse(raw):
    """LOCAL_REALTIME_ICE_ADDRESSES: comma-separated IP addresses, in the form SDP candidates carry them.

    aioice gathers a host candidate on every interface address except loopback and link-local IPv6, so
    such an address could never be offered: the answers would carry no candidate at all, and a browser
    whose offer has none either (the official browser SDK posts its offer before gathering) could never connect.
    """
    addresses = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        try:
            address = ipaddress.ip_address(item)
        except ValueError:
            raise ConfigError(f"LOCAL_REALTIME_ICE_ADDRESSES: {item!r} is not an IP address.") from None
        if address.is_loopback or address.is_unspecified or (address.version == 6 and address.is_link_local):
            raise ConfigError(
                f"LOCAL_REALTIME_ICE_ADDRESSES: {item!r} is never gathered (aioice binds no loopback, "
                "unspecified or link-local IPv6 address), so no answer could offer it; give addresses of this "
                "machine's interfaces, or a STUN server's view of it, or leave it empty."
            )
        addresses.append(address.compressed)
    return tuple(addresses)


INTS = {
    "port": "LOCAL_REALTIME_PORT",
    "max_calls": "LOCAL_REALTIME_MAX_CALLS",
    "max_calls_per_account": "LOCAL_REALTIME_MAX_CALLS_PER_ACCOUNT",
}
FLOATS = {
    "max_call_seconds": "LOCAL_REALTIME_MAX_CALL_SECONDS",
    "idle_seconds": "LOCAL_REALTIME_IDLE_SECONDS",
    "media_timeout_seconds": "LOCAL_REALTIME_MEDIA_TIMEOUT_SECONDS",
    "first_media_seconds": "LOCAL_REALTIME_FIRST_MEDIA_SECONDS",
    "answer_delay_seconds": "LOCAL_REALTIME_ANSWER_DELAY_SECONDS",
}
RATES = {
    "rate_client_secrets": "LOCAL_REALTIME_RATE_CLIENT_SECRETS",
    "rate_calls": "LOCAL_REALTIME_RATE_CALLS",
    "rate_hangups": "LOCAL_REALTIME_RATE_HANGUPS",
}


def config_from_env(environ=None, *, key_file=KEY_FILE):
    """The Config `environ` describes; by default the process environment, with the project's .env filling what
    it leaves unset (as config/settings.py does)."""
    if environ is None:
        environ = {**dotenv_read(BASE_DIR / ".env"), **os.environ}
    values = {"api_key": master_key_load(environ, path=key_file)}
    if environ.get("LOCAL_REALTIME_HOST"):
        values["host"] = environ["LOCAL_REALTIME_HOST"]
    for kinds, cast in ((INTS, int), (FLOATS, float)):
        for name, variable in kinds.items():
            if environ.get(variable, "").strip():
                try:
                    values[name] = cast(environ[variable])
                except ValueError:
                    raise ConfigError(f"{variable} {environ[variable]!r} is not a number.") from None
    for name, variable in RATES.items():
        if variable in environ:
            rate = environ[variable].strip()
            try:
                if rate:
                    rate_parse(rate)
            except (ValueError, KeyError, IndexError):
                raise ConfigError(
                    f'{variable} {rate!r} is not a rate: give a count per period such as "30/m", "5/10s", '
                    '"1000/d", or "" for no limit.'
                ) from None
            values[name] = rate
    stun = environ.get("LOCAL_REALTIME_STUN", "").strip()
    if stun and not stun.startswith("stun:"):
        raise ConfigError(f"LOCAL_REALTIME_STUN {stun!r} is not a stun: URL (e.g. stun:stun.example.org:3478).")
    values["stun"] = stun
    values["ice_addresses"] = ice_addresses_parse(environ.get("LOCAL_REALTIME_ICE_ADDRESSES", ""))
    return Config(**values)
