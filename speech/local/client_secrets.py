"""Ephemeral client secrets of the local provider: signed, so any worker can check them statelessly."""

import time

from django.core import signing

SALT = "speech.local.client-secret"
PREFIX = "ek_local_"


def client_secret_mint(*, session, ttl_seconds):
    """Return (value, expires_at) for a secret that opens calls with `session` until it expires."""
    expires_at = int(time.time()) + ttl_seconds
    value = PREFIX + signing.dumps({"exp": expires_at, "session": session}, salt=SALT, compress=True)
    return value, expires_at


def client_secret_session(value):
    """The session a valid, unexpired secret carries, else None."""
    if not value.startswith(PREFIX):
        return None
    try:
        data = signing.loads(value.removeprefix(PREFIX), salt=SALT)
    except signing.BadSignature:
        return None
    if data.get("exp", 0) < time.time():
        return None
    return data["session"]
