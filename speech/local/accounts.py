"""The local provider's accounts: its server keys. No Django import, so it carries over to a process of its own.

The master key (LOCAL_REALTIME_API_KEY, or one derived from SECRET_KEY) is the operator's account. Each
tenant gets a key of its own, derived from the master with an HMAC over an account name:
`sk-local-<account>-<hmac>`. The local provider checks such a key with the master alone (no list of
keys to keep), and counts calls, limits and hang-ups per account.
"""

import hashlib
import hmac
import re

KEY_PREFIX = "sk-local-"
# Not a valid derived account name ("~" is outside ACCOUNT_FORMAT), so no tenant key can claim it.
OPERATOR = "~operator"
ACCOUNT_FORMAT = re.compile(r"[A-Za-z0-9_.-]{1,80}")
# A tenant's default credential reference (settings_admin: speech/tenants/<slug>/<provider>).
DEFAULT_REFERENCE = re.compile(r"speech/tenants/(?P<slug>[-a-zA-Z0-9_]{1,50})/[^/]+")
MAC_HEX = 32


def _mac(master, account):
    return hmac.new(master.encode(), f"speech.local.account:{account}".encode(), hashlib.sha256).hexdigest()[:MAC_HEX]


def account_key(*, master, account):
    """The server key of `account`, derived from the master key."""
    if not ACCOUNT_FORMAT.fullmatch(account):
        raise ValueError(f"{account!r} is not a local account name")
    return f"{KEY_PREFIX}{account}-{_mac(master, account)}"


def key_account(*, master, key):
    """The account a server key belongs to: OPERATOR for the master, the name for a derived key, else None."""
    if not key or not master:
        return None
    if hmac.compare_digest(key.encode(), master.encode()):
        return OPERATOR
    if not key.startswith(KEY_PREFIX):
        return None
    account, _, mac = key.removeprefix(KEY_PREFIX).rpartition("-")
    if not ACCOUNT_FORMAT.fullmatch(account) or len(mac) != MAC_HEX:
        return None
    return account if hmac.compare_digest(mac.encode(), _mac(master, account).encode()) else None


def reference_account(reference):
    """The account of a tenant's credential reference: the tenant's slug for the default reference, else a
    hash of the reference ("ref.<hex>": a slug holds no ".", so the two never meet). Tenants that share
    a reference share its credential, and so its account."""
    match = DEFAULT_REFERENCE.fullmatch(reference)
    if match:
        return match["slug"]
    return "ref." + hashlib.sha256(reference.encode()).hexdigest()[:16]
