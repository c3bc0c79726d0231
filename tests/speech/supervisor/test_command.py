"""manage.py call_supervisor needs Redis; make serve starts it either way (--only-with-redis)."""

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings


@override_settings(SPEECH_CALL_DISPATCH="in_process", REDIS_URL="")
def test_without_redis_the_supervisor_refuses_to_start_and_says_why():
    with pytest.raises(CommandError, match="call_supervisor takes its jobs from Redis: set REDIS_URL"):
        call_command("call_supervisor")


@override_settings(SPEECH_CALL_DISPATCH="in_process", REDIS_URL="")
def test_without_redis_make_serves_start_is_a_quiet_no_op():
    out = io.StringIO()
    call_command("call_supervisor", "--only-with-redis", stdout=out)
    assert "not started: no REDIS_URL" in out.getvalue()


@override_settings(SPEECH_CALL_DISPATCH="redis", REDIS_URL="redis://127.0.0.1:1/0")
def test_a_bound_below_one_is_refused():
    with pytest.raises(CommandError, match="--max-calls must be 1 or more"):
        call_command("call_supervisor", "--max-calls", "0")


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"SPEECH_CALL_DISPATCH": "reddis"}, "speech.E010"),
        ({"SPEECH_CALL_DISPATCH": "redis", "REDIS_URL": ""}, "speech.E011"),
        ({"SPEECH_SUPERVISOR_MAX_CALLS": 0}, "speech.E012"),
    ],
)
def test_a_dispatch_that_would_leave_calls_unsupervised_fails_the_system_check(overrides, code):
    from speech.checks import check_call_dispatch

    assert check_call_dispatch() == []
    with override_settings(**overrides):
        assert [error.id for error in check_call_dispatch()] == [code]
