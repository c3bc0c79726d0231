"""Redis fails under a running gateway: mints keep working from the database, rate limits count per
process, and a metric and one log line per outage say so (config/cache.py)."""

import logging
import time

import pytest
import requests
from django.core.cache import caches
from django.test import override_settings

from tests.parts import OPENAI_TENANT, RedisServer, fake_openai, server_env
from tests.servers import manage, start_server
from tests.test_production_server import metric
from tests.vault_server import free_port


@pytest.fixture
def redis_server():
    server = RedisServer().start()
    yield server
    server.stop()


def mint(base, raw_key):
    return requests.post(
        f"{base}/api/v1/realtime_session", json={}, headers={"Authorization": f"Api-Key {raw_key}"}, timeout=10
    )


def test_a_server_keeps_minting_when_redis_stops_and_limits_count_per_process(tmp_path, redis_server):
    port = free_port()
    env = server_env(tmp_path, REDIS_URL=redis_server.url, REDIS_RETRY_SECONDS="1")
    log_path = tmp_path / "server.log"
    with fake_openai() as endpoint, open(log_path, "w") as log:
        manage(env, "migrate", "--noinput")
        tenant = OPENAI_TENANT.format(rate="4/d", provider="openai_realtime", endpoint=endpoint)
        raw_key = manage(env, "shell", "-c", tenant).strip().splitlines()[-1]
        server = start_server(env, port, log=log)
        base = f"http://127.0.0.1:{port}"
        try:
            assert mint(base, raw_key).status_code == 200  # counted in Redis
            redis_server.stop()
            answers = [mint(base, raw_key) for _ in range(6)]
            # A fresh count in this process's memory: four more, then the limit holds.
            assert [answer.status_code for answer in answers] == [200, 200, 200, 200, 429, 429], answers[-1].text
            assert answers[-1].json()["error"]["code"] == "rate_limited"
            text = requests.get(f"{base}/metrics", timeout=10).text
            assert metric(text, "shared_cache_degraded") == 1
            assert metric(text, "shared_cache_outages_total") == 1
            assert metric(text, "shared_cache_fallback_operations_total") > 0
            ready = requests.get(f"{base}/readyz", timeout=10)
            assert ready.status_code == 200  # still ready: pulling every instance would be the outage
            assert ready.json()["checks"]["cache"].startswith("degraded"), ready.text

            redis_server.start()  # the same port: Redis is back, empty
            deadline = time.monotonic() + 15
            while metric(requests.get(f"{base}/metrics", timeout=10).text, "shared_cache_degraded") != 0:
                assert time.monotonic() < deadline, "the server did not go back to Redis"
                assert mint(base, raw_key).status_code in (200, 429)
                time.sleep(0.2)
            assert mint(base, raw_key).status_code == 200  # Redis counts afresh
        finally:
            server.terminate()
            server.wait(10)
    lines = log_path.read_text().splitlines()
    assert len([line for line in lines if "shared cache: Redis at" in line and "failed" in line]) == 1, lines
    assert len([line for line in lines if "answers again" in line]) == 1, lines
    assert not [line for line in lines if "Traceback" in line or " 500 " in line], lines


def redis_cache(url, retry_seconds):
    return override_settings(
        CACHES={
            "default": {
                "BACKEND": "config.cache.DegradingRedisCache",
                "LOCATION": url,
                "RETRY_SECONDS": retry_seconds,
                "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
            }
        }
    )


def test_the_cache_serves_from_memory_while_redis_is_down_and_tries_again_after_the_period(redis_server, caplog):
    caplog.set_level(logging.WARNING, logger="config.cache")
    with redis_cache(redis_server.url, 0.5):
        cache = caches["default"]
        cache.set("shared", "from redis")
        redis_server.stop()
        assert cache.get("shared") is None  # memory knows nothing of what Redis held
        with pytest.raises(ValueError):
            cache.incr("counter")  # Django's contract holds: a missing key
        assert cache.add("counter", 1, 60)
        assert cache.incr("counter") == 2
        assert cache.get_or_set("generation", lambda: 7) == 7
        assert [r.message for r in caplog.records].count(caplog.records[0].message) == 1  # once per outage

        redis_server.start()
        assert cache.get("generation") == 7  # within the period: still memory, no trip to Redis
        time.sleep(0.6)
        assert cache.get("generation") is None  # after it: Redis again (restarted empty)
        cache.set("generation", 8)
        assert cache.get("generation") == 8
        outage, recovery = (record.message for record in caplog.records)
        assert "failed" in outage and "answers again" in recovery

        # What memory held is gone: a later outage starts clean rather than with old values.
        redis_server.stop()
        assert cache.get("counter") is None
