"""Two server instances sharing one database and one Redis behave as one gateway."""

import redis
import requests

from tests.servers import manage, require_redis, start_server
from tests.vault_server import free_port

REDIS_URL = "redis://127.0.0.1:6379/13"
MAKE_KEY = """
from settings_admin.models import Tenant, TenantAPIKey
tenant = Tenant.objects.get(slug="default")
tenant.rate_limit_api_key = "3/m"
tenant.save()
print(TenantAPIKey.objects.create_key(name="bench", tenant=tenant)[1])
"""


def test_two_instances_sharing_redis_enforce_one_rate_limit(tmp_path):
    require_redis(REDIS_URL)
    redis.Redis.from_url(REDIS_URL).flushdb()
    ports = [free_port(), free_port()]
    env = {
        "PATH": "/usr/bin:/bin",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'shared.sqlite3'}",
        "REDIS_URL": REDIS_URL,
        "SECRET_KEY": "shared-secret-key-of-both-instances-0123456789abcdef",
        "LOCAL_REALTIME_URL": f"http://127.0.0.1:{ports[0]}/local-realtime/v1",
    }
    manage(env, "migrate", "--noinput")
    raw_key = manage(env, "shell", "-c", MAKE_KEY).strip().splitlines()[-1]
    servers = [start_server(env, port) for port in ports]
    try:
        statuses = [
            requests.post(
                f"http://127.0.0.1:{ports[i % 2]}/api/v1/realtime_session",
                json={},
                headers={"Authorization": f"Api-Key {raw_key}"},
                timeout=10,
            ).status_code
            for i in range(6)
        ]
    finally:
        for server in servers:
            server.terminate()
            server.wait(10)
        redis.Redis.from_url(REDIS_URL).flushdb()
    assert statuses == [200, 200, 200, 429, 429, 429]
