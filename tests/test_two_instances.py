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


def test_two_instances_sharing_redis_enforce_one_rate_limit(tmp_path, local_service):
    require_redis(REDIS_URL)
    redis.Redis.from_url(REDIS_URL).flushdb()
    ports = [free_port(), free_port()]
    env = {
        "PATH": "/usr/bin:/bin",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'shared.sqlite3'}",
        "REDIS_URL": REDIS_URL,
        "SECRET_KEY": "shared-secret-key-of-both-instances-0123456789abcdef",
        **local_service.gateway_env,
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


ROTATION_TENANT = """
from settings_admin.models import SpeechSettings, Tenant, TenantAPIKey
tenant = Tenant.objects.get(slug="default")
SpeechSettings.objects.filter(tenant=tenant).update(
    provider="openai_realtime", model="gpt-realtime", endpoint="http://127.0.0.1:{port}/v1/realtime/client_secrets")
print(TenantAPIKey.objects.create_key(name="rotation", tenant=tenant)[1])
"""


def fingerprint(key):
    import hashlib

    return "sess_" + hashlib.sha256(f"Bearer {key}".encode()).hexdigest()[:12]


ROTATE = """
from settings_admin.registry import registry
from settings_admin.secrets import credential_set
credential_set(reference="speech/tenants/default/openai_realtime", provider=registry.get("openai_realtime"),
               value="{value}")
"""


def test_two_instances_see_a_key_rotation_together(tmp_path, vault_server):
    import subprocess
    import sys

    from tests.servers import ROOT
    from tests.vault_server import ROOT_TOKEN

    require_redis(REDIS_URL)
    redis.Redis.from_url(REDIS_URL).flushdb()
    provider_port, ports = free_port(), [free_port(), free_port()]
    fake = subprocess.Popen([sys.executable, "-m", "tests.bench.fake_provider", "--port", str(provider_port)],
                            cwd=ROOT, stdout=subprocess.DEVNULL)  # fmt: skip
    env = {
        "PATH": "/usr/bin:/bin",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'shared.sqlite3'}",
        "REDIS_URL": REDIS_URL,
        "SECRET_KEY": "shared-secret-key-of-both-instances-0123456789abcdef",
        "VAULT_ADDR": vault_server.addr,
        "VAULT_TOKEN": ROOT_TOKEN,
        "SPEECH_ALLOWED_ENDPOINT_HOSTS": f"127.0.0.1:{provider_port}",
        "SPEECH_SECRETS_CACHE_SECONDS": "3600",  # only the shared invalidation can make them read again
    }
    manage(env, "migrate", "--noinput")
    raw_key = manage(env, "shell", "-c", ROTATION_TENANT.format(port=provider_port)).strip().splitlines()[-1]
    # A third process writes the keys as the admin would, through the same Vault and database.
    manage(env, "shell", "-c", ROTATE.format(value="sk-before-rotation-0001"))
    servers = [start_server(env, port) for port in ports]

    def minted_with():
        return [
            requests.post(
                f"http://127.0.0.1:{port}/api/v1/realtime_session",
                json={},
                headers={"Authorization": f"Api-Key {raw_key}"},
                timeout=10,
            ).json()["session"]["id"]
            for port in ports
        ]

    try:
        assert minted_with() == [fingerprint("sk-before-rotation-0001")] * 2
        manage(env, "shell", "-c", ROTATE.format(value="sk-after-rotation-0002"))
        assert minted_with() == [fingerprint("sk-after-rotation-0002")] * 2
    finally:
        for process in [*servers, fake]:
            process.terminate()
            process.wait(10)
        redis.Redis.from_url(REDIS_URL).flushdb()
