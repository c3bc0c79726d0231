"""The local provider keeps tenants apart: a secret opens one call, only its owner hangs it up, each account
has its own call slots and rate limits. Real WebRTC offers (aiortc) against the HTTP endpoints."""

import asyncio

import pytest
from django.test import override_settings

from speech.local.server import server
from tests.speech.local.conftest import CALLS_URL, tenant_key
from tests.speech.local.rtc_client import offer_sdp

pytestmark = pytest.mark.django_db

ACME, GLOBEX = "acme", "globex"


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, 60))


def post_offers(post_offer, *secrets):
    async def scenario():
        return [await post_offer(await offer_sdp(), secret) for secret in secrets]

    return run(scenario())


def hang_up(client, location, bearer):
    return client.post(f"{location}/hangup", HTTP_AUTHORIZATION=f"Bearer {bearer}")


def openai_error(response):
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    return error["code"], error["type"]


# --- one call per client secret ----------------------------------------------------------------


def test_a_client_secret_opens_one_call(mint, post_offer):
    secret = mint(key=tenant_key(ACME))
    first, second, third = post_offers(post_offer, secret, secret, secret)
    assert first.status_code == 201
    assert (second.status_code, third.status_code) == (401, 401)
    assert openai_error(second) == ("invalid_api_key", "invalid_request_error")
    assert len(server.calls) == 1


def test_a_secret_whose_offer_opened_no_call_may_try_again(mint, post_offer):
    secret = mint(key=tenant_key(ACME))
    assert run(post_offer("v=0 not an offer", secret)).status_code == 400
    (retried,) = post_offers(post_offer, secret)
    assert retried.status_code == 201


# --- hang-up: only the call's own secret, or its account's server key ---------------------------


def test_another_tenants_secret_cannot_hang_up_a_call(client, mint, post_offer):
    (opened,) = post_offers(post_offer, mint(key=tenant_key(ACME)))
    response = hang_up(client, opened["Location"], mint(key=tenant_key(GLOBEX)))
    assert response.status_code == 404
    assert openai_error(response)[0] == "not_found"
    assert len(server.calls) == 1


def test_another_tenants_server_key_cannot_hang_up_a_call(client, mint, post_offer):
    (opened,) = post_offers(post_offer, mint(key=tenant_key(ACME)))
    assert hang_up(client, opened["Location"], tenant_key(GLOBEX)).status_code == 404
    assert len(server.calls) == 1


def test_another_secret_of_the_same_tenant_cannot_hang_up_a_call(client, mint, post_offer):
    (opened,) = post_offers(post_offer, mint(key=tenant_key(ACME)))
    assert hang_up(client, opened["Location"], mint(key=tenant_key(ACME))).status_code == 404
    assert len(server.calls) == 1


def test_the_operators_master_key_cannot_hang_up_a_tenants_call(client, mint, post_offer):
    from speech.providers.local import local_api_key

    (opened,) = post_offers(post_offer, mint(key=tenant_key(ACME)))
    assert hang_up(client, opened["Location"], local_api_key()).status_code == 404
    assert len(server.calls) == 1


def test_a_forged_or_missing_bearer_cannot_hang_up_a_call(client, mint, post_offer):
    (opened,) = post_offers(post_offer, mint(key=tenant_key(ACME)))
    forged = tenant_key(ACME)[:-4] + "0000"
    for bearer in ("", "ek_local_forged", forged):
        response = hang_up(client, opened["Location"], bearer)
        assert response.status_code == 401
        assert openai_error(response)[0] == "invalid_api_key"
    assert len(server.calls) == 1


def test_the_secret_that_opened_a_call_hangs_it_up(client, mint, post_offer):
    secret = mint(key=tenant_key(ACME))
    (opened,) = post_offers(post_offer, secret)
    assert hang_up(client, opened["Location"], secret).status_code == 200
    assert server.calls == {}


def test_the_accounts_server_key_hangs_up_its_call(client, mint, post_offer):
    (opened,) = post_offers(post_offer, mint(key=tenant_key(ACME)))
    assert hang_up(client, opened["Location"], tenant_key(ACME)).status_code == 200
    assert server.calls == {}


# --- call slots per account ---------------------------------------------------------------------


@override_settings(LOCAL_REALTIME_MAX_CALLS=8, LOCAL_REALTIME_MAX_CALLS_PER_ACCOUNT=2)
def test_one_tenant_cannot_take_every_call_slot(mint, post_offer):
    acme = post_offers(post_offer, *(mint(key=tenant_key(ACME)) for _ in range(3)))
    (globex,) = post_offers(post_offer, mint(key=tenant_key(GLOBEX)))
    assert [r.status_code for r in acme] == [201, 201, 429]
    assert openai_error(acme[2]) == ("rate_limit_exceeded", "rate_limit_error")
    assert "this account" in acme[2].json()["error"]["message"]
    assert globex.status_code == 201


@override_settings(LOCAL_REALTIME_MAX_CALLS=2, LOCAL_REALTIME_MAX_CALLS_PER_ACCOUNT=2)
def test_the_total_call_limit_still_holds_across_tenants(mint, post_offer):
    statuses = [
        r.status_code for r in post_offers(post_offer, *(mint(key=tenant_key(a)) for a in (ACME, GLOBEX, "initech")))
    ]
    assert statuses == [201, 201, 429]


@override_settings(LOCAL_REALTIME_MAX_CALLS_PER_ACCOUNT=1, LOCAL_REALTIME_ANSWER_DELAY_SECONDS=0.3)
def test_offers_answered_at_the_same_time_cannot_overrun_an_accounts_slots(mint, post_offer):
    secrets = [mint(key=tenant_key(ACME)) for _ in range(3)]

    async def scenario():
        offers = [await offer_sdp() for _ in secrets]
        return await asyncio.gather(*(post_offer(sdp, secret) for sdp, secret in zip(offers, secrets, strict=True)))

    assert sorted(r.status_code for r in run(scenario())) == [201, 429, 429]


def test_a_unified_call_counts_against_the_server_keys_account(client):
    with override_settings(LOCAL_REALTIME_MAX_CALLS_PER_ACCOUNT=1):
        statuses = [post_unified(client, tenant_key(ACME)).status_code for _ in range(2)]
    assert statuses == [201, 429]


def post_unified(client, key):
    sdp = run(offer_sdp())
    return client.post(
        CALLS_URL,
        data={"sdp": sdp, "session": '{"type": "realtime", "model": "local-echo"}'},
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )


# --- rate limits per account --------------------------------------------------------------------


@override_settings(LOCAL_REALTIME_RATE_CLIENT_SECRETS="2/m")
def test_client_secrets_are_rate_limited_per_account(client):
    def mint_status(key):
        return client.post(
            "/local-realtime/v1/realtime/client_secrets", data={}, content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {key}",
        )  # fmt: skip

    acme = [mint_status(tenant_key(ACME)) for _ in range(3)]
    assert [r.status_code for r in acme] == [200, 200, 429]
    assert openai_error(acme[2]) == ("rate_limit_exceeded", "rate_limit_error")
    assert 1 <= int(acme[2]["Retry-After"]) <= 60
    assert mint_status(tenant_key(GLOBEX)).status_code == 200


@override_settings(LOCAL_REALTIME_RATE_CALLS="1/m")
def test_call_attempts_are_rate_limited_per_account(client, mint):
    acme_first, acme_second = mint(key=tenant_key(ACME)), mint(key=tenant_key(ACME))
    assert post_sdp(client, acme_first).status_code == 400  # a broken offer still counts as an attempt
    limited = post_sdp(client, acme_second)
    assert limited.status_code == 429
    assert openai_error(limited) == ("rate_limit_exceeded", "rate_limit_error")
    assert post_sdp(client, mint(key=tenant_key(GLOBEX))).status_code == 400  # its own window


@override_settings(LOCAL_REALTIME_RATE_CALLS="2/m")
def test_replaying_a_used_secret_costs_its_account_no_call_rate(mint, post_offer):
    secret = mint(key=tenant_key(ACME))
    replays = post_offers(post_offer, secret, secret, secret, secret)
    (fresh,) = post_offers(post_offer, mint(key=tenant_key(ACME)))
    assert [r.status_code for r in replays] == [201, 401, 401, 401]
    assert fresh.status_code == 201


def post_sdp(client, secret):
    return client.post(CALLS_URL, data="v=0", content_type="application/sdp", HTTP_AUTHORIZATION=f"Bearer {secret}")


@override_settings(LOCAL_REALTIME_RATE_HANGUPS="2/m")
def test_hang_ups_are_rate_limited_per_account(client):
    acme = [hang_up(client, f"{CALLS_URL}/rtc_0000000000000000", tenant_key(ACME)) for _ in range(3)]
    assert [r.status_code for r in acme] == [404, 404, 429]
    assert openai_error(acme[2]) == ("rate_limit_exceeded", "rate_limit_error")
    assert hang_up(client, f"{CALLS_URL}/rtc_0000000000000000", tenant_key(GLOBEX)).status_code == 404
