"""The local provider keeps tenants apart: a secret opens one call, only its owner hangs it up, each account
has its own call slots and rate limits. Real WebRTC offers (aiortc) against the running service."""

import asyncio

from tests.speech.local.conftest import CALLS_PATH
from tests.speech.local.rtc_client import offer_sdp


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, 60))


def post_offers(caller, *secrets):
    async def scenario():
        return [await caller.post_offer(await offer_sdp(), secret) for secret in secrets]

    return run(scenario())


def openai_error(response):
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    return error["code"], error["type"]


def still_open(caller, opened, owner):
    """Whether the call is still there: its owner can hang it up (and so it is closed afterwards)."""
    return caller.hang_up(opened.headers["Location"], owner).status_code == 200


# --- one call per client secret ----------------------------------------------------------------


def test_a_client_secret_opens_one_call(caller):
    secret = caller.mint()
    first, second, third = post_offers(caller, secret, secret, secret)
    assert first.status_code == 201
    assert (second.status_code, third.status_code) == (401, 401)
    assert openai_error(second) == ("invalid_api_key", "invalid_request_error")


def test_a_secret_whose_offer_opened_no_call_may_try_again(caller):
    secret = caller.mint()
    assert run(caller.post_offer("v=0 not an offer", secret)).status_code == 400
    (retried,) = post_offers(caller, secret)
    assert retried.status_code == 201


# --- hang-up: only the call's own secret, or its account's server key ---------------------------


def test_another_tenants_secret_cannot_hang_up_a_call(caller):
    secret = caller.mint()
    (opened,) = post_offers(caller, secret)
    response = caller.hang_up(opened.headers["Location"], caller.mint(key=caller.key("globex")))
    assert response.status_code == 404
    assert openai_error(response)[0] == "not_found"
    assert still_open(caller, opened, secret)


def test_another_tenants_server_key_cannot_hang_up_a_call(caller):
    secret = caller.mint()
    (opened,) = post_offers(caller, secret)
    assert caller.hang_up(opened.headers["Location"], caller.key("globex")).status_code == 404
    assert still_open(caller, opened, secret)


def test_another_secret_of_the_same_tenant_cannot_hang_up_a_call(caller):
    secret = caller.mint()
    (opened,) = post_offers(caller, secret)
    assert caller.hang_up(opened.headers["Location"], caller.mint()).status_code == 404
    assert still_open(caller, opened, secret)


def test_the_operators_master_key_cannot_hang_up_a_tenants_call(caller, service):
    secret = caller.mint()
    (opened,) = post_offers(caller, secret)
    assert caller.hang_up(opened.headers["Location"], service.api_key).status_code == 404
    assert still_open(caller, opened, secret)


def test_a_forged_or_missing_bearer_cannot_hang_up_a_call(caller):
    secret = caller.mint()
    (opened,) = post_offers(caller, secret)
    forged = caller.key()[:-4] + "0000"
    for bearer in ("", "ek_local_forged", forged):
        response = caller.hang_up(opened.headers["Location"], bearer)
        assert response.status_code == 401
        assert openai_error(response)[0] == "invalid_api_key"
    assert still_open(caller, opened, secret)


def test_the_secret_that_opened_a_call_hangs_it_up(caller):
    secret = caller.mint()
    (opened,) = post_offers(caller, secret)
    assert caller.hang_up(opened.headers["Location"], secret).status_code == 200
    assert caller.hang_up(opened.headers["Location"], secret).status_code == 404  # gone


def test_the_accounts_server_key_hangs_up_its_call(caller):
    (opened,) = post_offers(caller, caller.mint())
    assert caller.hang_up(opened.headers["Location"], caller.key()).status_code == 200
    assert caller.hang_up(opened.headers["Location"], caller.key()).status_code == 404


# --- call slots per account ---------------------------------------------------------------------


def test_one_tenant_cannot_take_every_call_slot(limited):
    caller = limited(LOCAL_REALTIME_MAX_CALLS=8, LOCAL_REALTIME_MAX_CALLS_PER_ACCOUNT=2)
    acme = post_offers(caller, *(caller.mint() for _ in range(3)))
    (globex,) = post_offers(caller, caller.mint(key=caller.key(caller.account + "-globex")))
    assert [r.status_code for r in acme] == [201, 201, 429]
    assert openai_error(acme[2]) == ("rate_limit_exceeded", "rate_limit_error")
    assert "this account" in acme[2].json()["error"]["message"]
    assert globex.status_code == 201


def test_the_total_call_limit_still_holds_across_tenants(limited):
    caller = limited(LOCAL_REALTIME_MAX_CALLS=2, LOCAL_REALTIME_MAX_CALLS_PER_ACCOUNT=2)
    keys = [caller.key(f"{caller.account}-{n}") for n in range(3)]
    statuses = [r.status_code for r in post_offers(caller, *(caller.mint(key=key) for key in keys))]
    assert statuses == [201, 201, 429]


def test_offers_answered_at_the_same_time_cannot_overrun_an_accounts_slots(limited):
    caller = limited(LOCAL_REALTIME_MAX_CALLS_PER_ACCOUNT=1, LOCAL_REALTIME_ANSWER_DELAY_SECONDS=0.3)
    secrets = [caller.mint() for _ in range(3)]

    async def scenario():
        offers = [await offer_sdp() for _ in secrets]
        pairs = zip(offers, secrets, strict=True)
        return await asyncio.gather(*(caller.post_offer(sdp, secret) for sdp, secret in pairs))

    assert sorted(r.status_code for r in run(scenario())) == [201, 429, 429]


def test_a_unified_call_counts_against_the_server_keys_account(limited):
    caller = limited(LOCAL_REALTIME_MAX_CALLS_PER_ACCOUNT=1)
    statuses = [caller.post_multipart(run(offer_sdp()), caller.key()).status_code for _ in range(2)]
    assert statuses == [201, 429]


# --- rate limits per account --------------------------------------------------------------------


def test_client_secrets_are_rate_limited_per_account(limited):
    caller = limited(LOCAL_REALTIME_RATE_CLIENT_SECRETS="2/m")
    acme = [caller.mint_request({}) for _ in range(3)]
    assert [r.status_code for r in acme] == [200, 200, 429]
    assert openai_error(acme[2]) == ("rate_limit_exceeded", "rate_limit_error")
    assert 1 <= int(acme[2].headers["Retry-After"]) <= 60
    assert caller.mint_request({}, key=caller.key(caller.account + "-globex")).status_code == 200


def test_call_attempts_are_rate_limited_per_account(limited):
    caller = limited(LOCAL_REALTIME_RATE_CALLS="1/m")
    acme_first, acme_second = caller.mint(), caller.mint()
    assert caller.post_sdp("v=0", acme_first).status_code == 400  # a broken offer still counts as an attempt
    limited_response = caller.post_sdp("v=0", acme_second)
    assert limited_response.status_code == 429
    assert openai_error(limited_response) == ("rate_limit_exceeded", "rate_limit_error")
    other = caller.mint(key=caller.key(caller.account + "-globex"))
    assert caller.post_sdp("v=0", other).status_code == 400  # its own window


def test_replaying_a_used_secret_costs_its_account_no_call_rate(limited):
    caller = limited(LOCAL_REALTIME_RATE_CALLS="2/m")
    secret = caller.mint()
    replays = post_offers(caller, secret, secret, secret, secret)
    (fresh,) = post_offers(caller, caller.mint())
    assert [r.status_code for r in replays] == [201, 401, 401, 401]
    assert fresh.status_code == 201


def test_hang_ups_are_rate_limited_per_account(limited):
    caller = limited(LOCAL_REALTIME_RATE_HANGUPS="2/m")
    nowhere = f"{CALLS_PATH}/rtc_0000000000000000"
    acme = [caller.hang_up(nowhere, caller.key()) for _ in range(3)]
    assert [r.status_code for r in acme] == [404, 404, 429]
    assert openai_error(acme[2]) == ("rate_limit_exceeded", "rate_limit_error")
    assert caller.hang_up(nowhere, caller.key(caller.account + "-globex")).status_code == 404
