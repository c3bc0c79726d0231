"""Password guessing on the login pages (site and admin) is stopped by django-axes, per client address
and per user name, with the client address as the rate limits see it (NUM_PROXIES)."""

import json
import os
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.test import Client

from settings_admin.models import TenantAPIKey
from tests.servers import ROOT

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"
ATTACKER = "203.0.113.7"
VICTIM_IP = "198.51.100.20"
LOCKED = "Too many failed log-ins"
LOGIN = "/login/"
ADMIN_LOGIN = "/admin/login/"


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    # Every failure hashes a password; the default hasher would make each test take seconds.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def limit(settings):
    return getattr(settings, "AXES_FAILURE_LIMIT", 10)  # (10 without axes: the test then fails on its point)


def log_in(path, username, password, ip=ATTACKER, **headers):
    """One login from a fresh browser at `ip`: the answer, and whether it ended up logged in."""
    browser = Client(REMOTE_ADDR=ip)
    response = browser.post(path, {"username": username, "password": password, "next": "/admin/"}, **headers)
    return response, "_auth_user_id" in browser.session


def assert_locked_out(response, logged_in):
    assert not logged_in
    assert response.status_code == 429
    page = response.content.decode()
    assert LOCKED in page
    assert 'name="password"' in page  # the login page itself, not a bare text
    assert int(response["Retry-After"]) == django_settings.AXES_COOLOFF_TIME.total_seconds()


def guess(path, username, times, ip=ATTACKER, **headers):
    for _ in range(times):
        response, logged_in = log_in(path, username, "wrong guess", ip=ip, **headers)
        assert not logged_in


def test_the_right_password_after_too_many_wrong_ones_is_refused_with_a_reason(user, limit):
    response, logged_in = log_in(LOGIN, "alice", "wrong guess")
    assert response.status_code == 200
    assert "didn't match" in response.content.decode()  # below the limit: the usual answer
    guess(LOGIN, "alice", limit - 2)
    response, logged_in = log_in(LOGIN, "alice", "wrong guess")  # the limit-th failure locks
    assert_locked_out(response, logged_in)
    assert_locked_out(*log_in(LOGIN, "alice", PASSWORD))


def test_the_admin_login_is_throttled_too(admin_user, limit):
    guess(ADMIN_LOGIN, "admin", limit)
    response, logged_in = log_in(ADMIN_LOGIN, "admin", "password")  # admin_user's password
    assert_locked_out(response, logged_in)
    assert "/static/admin/css/login.css" in response.content.decode()  # the admin's own login page
    assert_locked_out(*log_in(LOGIN, "admin", "password"))  # one count for both pages


def test_one_address_guessing_many_user_names_is_stopped(user, limit):
    for number in range(limit):
        log_in(LOGIN, f"someone{number}", "wrong guess")
    assert_locked_out(*log_in(LOGIN, "alice", PASSWORD))
    # Alice herself, elsewhere, is not locked out by a stranger's guessing at other names.
    assert log_in(LOGIN, "alice", PASSWORD, ip=VICTIM_IP)[1]


def test_many_addresses_guessing_one_user_name_are_stopped(user, django_user_model, limit):
    for number in range(limit):
        log_in(LOGIN, "alice", "wrong guess", ip=f"192.0.2.{number + 1}")
    assert_locked_out(*log_in(LOGIN, "alice", PASSWORD, ip=VICTIM_IP))
    # Only alice: another user at the same addresses still logs in.
    django_user_model.objects.create_user("bob", password=PASSWORD)
    assert log_in(LOGIN, "bob", PASSWORD, ip="192.0.2.1")[1]


def test_a_forged_x_forwarded_for_neither_dodges_the_count_nor_frames_another_address(user, settings, limit):
    assert settings.REST_FRAMEWORK["NUM_PROXIES"] == 0
    for number in range(limit):
        # A fresh forged address on every try, and a fresh user name (else the name's own count stops it).
        log_in(LOGIN, f"someone{number}", "wrong guess", HTTP_X_FORWARDED_FOR=f"{VICTIM_IP}, 10.0.0.{number}")
    assert_locked_out(*log_in(LOGIN, "alice", PASSWORD, HTTP_X_FORWARDED_FOR="192.0.2.99"))
    assert log_in(LOGIN, "alice", PASSWORD, ip=VICTIM_IP)[1]


def test_behind_a_trusted_proxy_the_proxys_client_address_counts(user, settings, limit):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    proxy = "10.0.0.1"
    for number in range(limit):
        # The client forges the left part; the proxy appends the address it saw.
        log_in(LOGIN, f"someone{number}", "wrong guess", ip=proxy, HTTP_X_FORWARDED_FOR=f"10.9.9.{number}, {ATTACKER}")
    assert_locked_out(*log_in(LOGIN, "alice", PASSWORD, ip=proxy, HTTP_X_FORWARDED_FOR=ATTACKER))
    # Another client behind the same proxy is not locked out with the attacker.
    assert log_in(LOGIN, "alice", PASSWORD, ip=proxy, HTTP_X_FORWARDED_FOR=VICTIM_IP)[1]


def test_the_lockout_ends_after_the_cool_off_and_tries_during_it_do_not_prolong_it(user, settings, limit):
    cool_off = 2
    settings.AXES_COOLOFF_TIME = timedelta(seconds=cool_off)
    guess(LOGIN, "alice", limit)
    locked_at = time.monotonic()
    deadline = locked_at + cool_off + 10
    response, logged_in = log_in(LOGIN, "alice", PASSWORD)
    assert response.status_code == 429
    while not logged_in:  # the right password, tried again and again during the lockout
        assert time.monotonic() < deadline, "the lockout did not end after its cool-off"
        time.sleep(0.2)
        response, logged_in = log_in(LOGIN, "alice", PASSWORD)
    assert time.monotonic() - locked_at >= cool_off - 0.5  # (the clock started at the last failure)
    assert response.status_code == 302


def test_a_locked_out_address_still_reaches_the_api_with_a_key_or_a_session(user, speech_settings, openai_mint, limit):
    guess(LOGIN, "alice", limit)
    assert_locked_out(*log_in(LOGIN, "alice", PASSWORD))
    _, raw = TenantAPIKey.objects.create_key(name="integration", tenant=speech_settings.tenant)
    body = {"content_type": "application/json", "data": json.dumps({})}
    by_key = Client(REMOTE_ADDR=ATTACKER).post("/realtime_session", HTTP_AUTHORIZATION=f"Api-Key {raw}", **body)
    assert by_key.status_code == 200
    browser = Client(REMOTE_ADDR=ATTACKER)
    browser.force_login(user)  # a session made before the lockout stays valid
    assert browser.post("/realtime_session", **body).status_code == 200


def test_the_limits_come_from_the_environment():
    env = {**os.environ, "AXES_FAILURE_LIMIT": "4", "AXES_COOLOFF_SECONDS": "90"}
    env["DJANGO_SETTINGS_MODULE"] = "config.settings"
    script = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.AXES_FAILURE_LIMIT, s.AXES_COOLOFF_TIME.total_seconds())"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["4", "90.0"], out.stderr
