"""Client secrets of the local provider: signed, so any worker can check them statelessly.

A secret carries its session, the account that minted it, an id (so it opens one call: see
limits.SecretLedger) and its expiry.
"""

import secrets
import time
from dataclasses import dataclass

from django.core import signing

SALT = "speech.local.client-secret"
PREFIX = "ek_local_"


@dataclass(frozen=True)
class ClientSecret:
    id: str
    account: str
    session: dict
    expires_at: int


def client_secret_mint(*, session, ttl_seconds, account):
    """Return (value, expires_at) for a secret of `account` that opens one call with `session` until it expires."""
    expires_at = int(time.time()) + ttl_seconds
    payload = {"exp": expires_at, "acct": account, "sid": secrets.token_hex(12), "session": session}
    value = PREFIX + signing.dumps(payload, salt=SALT, compress=True)
    return value, expires_at


def client_secret_read(value):
    """The ClientSecret a valid, unexpired secret carries, else None."""
    if not value.startswith(PREFIX):
        return None
    try:
        data = signing.loads(value.removeprefix(PREFIX), salt=SALT)
    except signing.BadSignature:
        return None
    if not isinstance(data, dict) or not {"exp", "acct", "sid", "session"} <= data.keys():
        return None  # minted before secrets named their account
    if data["exp"] < time.time():
        return None
    return ClientSecret(id=data["sid"], account=data["acct"], session=data["session"], expires_at=data["exp"])
