"""Client secrets of the local provider: signed, so they are checked statelessly. No Django import.

A secret carries its session, the account that minted it, an id (so it opens one call: see
limits.SecretLedger) and its expiry, as compressed JSON signed with an HMAC-SHA256 under a key derived
from the master key: `ek_local_<payload>.<mac>`, both base64url. Changing the master key voids them all.
"""

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
import zlib
from dataclasses import dataclass

PREFIX = "ek_local_"
MAX_SECRET_CHARS = 16 * 1024  # a secret carries its session's instructions; nothing longer is read
MAX_PAYLOAD_BYTES = 64 * 1024  # decompressed, so a small token cannot expand into a large one


@dataclass(frozen=True)
class ClientSecret:
    id: str
    account: str
    session: dict
    expires_at: int


def _signing_key(master):
    return hmac.new(master.encode(), b"speech.local.client-secret", hashlib.sha256).digest()


def _b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def client_secret_mint(*, master, session, ttl_seconds, account):
    """Return (value, expires_at) for a secret of `account` that opens one call with `session` until it expires."""
    expires_at = int(time.time()) + ttl_seconds
    payload = {"exp": expires_at, "acct": account, "sid": secrets.token_hex(12), "session": session}
    body = _b64(zlib.compress(json.dumps(payload, separators=(",", ":")).encode()))
    mac = _b64(hmac.new(_signing_key(master), body.encode(), hashlib.sha256).digest())
    return f"{PREFIX}{body}.{mac}", expires_at


def client_secret_read(value, *, master):
    """The ClientSecret a valid, unexpired secret carries, else None."""
    if not value.startswith(PREFIX) or len(value) > MAX_SECRET_CHARS:
        return None
    body, _, mac = value.removeprefix(PREFIX).rpartition(".")
    expected = _b64(hmac.new(_signing_key(master), body.encode(), hashlib.sha256).digest())
    if not body or not hmac.compare_digest(mac.encode(), expected.encode()):
        return None
    try:
        decompressor = zlib.decompressobj()
        data = json.loads(decompressor.decompress(_unb64(body), MAX_PAYLOAD_BYTES))
    except (ValueError, binascii.Error, zlib.error):
        return None
    if not isinstance(data, dict) or not {"exp", "acct", "sid", "session"} <= data.keys():
        return None
    if data["exp"] < time.time():
        return None
    return ClientSecret(id=data["sid"], account=data["acct"], session=data["session"], expires_at=data["exp"])
