"""The local provider's accounts: server keys derived from the master key, checked with it alone."""

import pytest

from speech.local.accounts import OPERATOR, account_key, key_account, reference_account
from speech.local.limits import SecretLedger

MASTER = "sk-master-0123456789abcdef"


def test_a_derived_key_names_its_account():
    assert key_account(master=MASTER, key=account_key(master=MASTER, account="acme")) == "acme"
    assert key_account(master=MASTER, key=account_key(master=MASTER, account="a-b_c")) == "a-b_c"


def test_the_master_key_is_the_operators_account():
    assert key_account(master=MASTER, key=MASTER) == OPERATOR


@pytest.mark.parametrize(
    "key",
    [
        "",
        "sk-local-acme",
        "sk-local-acme-" + "0" * 32,  # a forged mac
        account_key(master="sk-another-master", account="acme"),  # another installation's key
        account_key(master=MASTER, account="acme")[:-1],  # cut short
        account_key(master=MASTER, account="acme").replace("acme", "globex"),  # a mac for another account
    ],
)
def test_a_key_not_derived_from_the_master_is_no_account(key):
    assert key_account(master=MASTER, key=key) is None


def test_no_derived_key_can_be_the_operators_account():
    with pytest.raises(ValueError):
        account_key(master=MASTER, account=OPERATOR)


def test_a_tenants_default_reference_is_its_slug_and_other_references_are_hashed():
    assert reference_account("speech/tenants/acme/local") == "acme"
    custom = reference_account("kv/shared/local")
    assert custom.startswith("ref.") and custom == reference_account("kv/shared/local")
    assert custom != reference_account("kv/other/local")


def test_a_used_secret_is_forgotten_once_it_has_expired():
    now = [1000.0]
    ledger = SecretLedger(clock=lambda: now[0])
    assert ledger.claim("s1", expires_at=1010)
    assert not ledger.claim("s1", expires_at=1010)
    now[0] = 1011
    assert ledger.claim("s2", expires_at=1100)  # prunes s1
    assert len(ledger) == 1


def test_a_rate_window_counts_per_key_and_starts_again_with_the_next_window():
    from speech.local.limits import FixedWindowLimiter

    now = [120.0]
    limiter = FixedWindowLimiter(clock=lambda: now[0])
    assert [limiter.hit("acme", rate="2/m") for _ in range(3)] == [0, 0, 60]
    assert limiter.hit("globex", rate="2/m") == 0
    assert limiter.hit("acme", rate="") == 0  # no limit
    now[0] = 180.0
    assert limiter.hit("acme", rate="2/m") == 0
