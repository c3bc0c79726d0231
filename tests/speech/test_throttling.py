"""The fixed-window counters behind the rate limits."""

import pytest
import redis
from django.core.cache import cache
from django.test import override_settings

from speech.throttling import rate_parse, window_hit
from tests.servers import require_redis

REDIS_URL = "redis://127.0.0.1:6379/13"


@pytest.mark.parametrize(
    ("rate", "parsed"), [("30/m", (30, 60)), ("5/10s", (5, 10)), ("1000/d", (1000, 86400)), ("2/h", (2, 3600))]
)
def test_rates_read_as_count_per_period(rate, parsed):
    assert rate_parse(rate) == parsed


def count_three_hits_and_join_an_open_window():
    assert [window_hit("speech-test-window", 60) for _ in range(3)] == [1, 2, 3]
    assert cache.get("speech-test-window") == 3
    # Opened by another worker meanwhile: this hit only adds to it.
    cache.set("speech-test-other", 7, 60)
    assert window_hit("speech-test-other", 60) == 8


def test_a_window_counts_every_hit_in_local_memory():
    count_three_hits_and_join_an_open_window()


def test_a_window_counts_every_hit_in_redis_and_lives_as_long_as_its_window():
    require_redis(REDIS_URL)
    with override_settings(CACHES={"default": {"BACKEND": "config.cache.DegradingRedisCache", "LOCATION": REDIS_URL}}):
        cache.clear()
        count_three_hits_and_join_an_open_window()
        assert 0 < redis.Redis.from_url(REDIS_URL).ttl(cache.make_key("speech-test-window")) <= 60
        cache.clear()


@pytest.mark.parametrize(
    "setting",
    ["SPEECH_TELEMETRY_RATE", "SPEECH_SETTINGS_WRITE_RATE", "SPEECH_VOICE_PREVIEW_RATE", "SPEECH_CALL_REPORT_RATE"],
)
def test_a_gateway_rate_that_is_not_a_rate_fails_the_system_check(settings, setting):
    from speech.checks import check_gateway_rates

    setattr(settings, setting, "30 per minute")
    assert [error.id for error in check_gateway_rates()] == ["speech.E001"]
    setattr(settings, setting, "30/m")
    assert check_gateway_rates() == []
