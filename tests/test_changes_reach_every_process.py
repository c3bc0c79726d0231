"""With the embedded defaults (one SQLite file, no Redis: each process has its own local-memory cache),
a revoked API key and a changed voice take effect on the next request of every running server process:
two `make run`-style servers, and the two workers of `make serve`."""


import requests

from tests.servers import manage, production_env, start_production_server, start_server
from tests.vault_server import free_port

MAKE_KEY = """
from settings_admin.models import Tenant, TenantAPIKey
print(TenantAPIKey.objects.create_key(name="two-servers", tenant=Tenant.objects.get(slug="default"))[1])
"""
# As admin revokes a key: a save of the row.
REVOKE = """
from settings_admin.models import TenantAPIKey
key = TenantAPIKey.objects.get(name="two-servers")
key.revoked = True
key.save()
"""


def mint(port, raw_key):
    return requests.post(
        f"http://127.0.0.1:{port}/api/v1/realtime_session",
        json={},
        headers={"Authorization": f"Api-Key {raw_key}"},
        timeout=10,
    )


def test_a_revoked_key_and_a_new_voice_reach_two_running_servers_at_once(tmp_path, local_service):
    ports = [free_port(), free_port()]
    env = {
        "PATH": "/usr/bin:/bin",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'shared.sqlite3'}",
        "SECRET_KEY": "shared-secret-key-of-both-servers-0123456789abcdef",
        # Caches that outlive the test: only the invalidation can make a server read again.
        "SPEECH_SETTINGS_CACHE_SECONDS": "3600",
        **local_service.gateway_env,
    }
    manage(env, "migrate", "--noinput")  # the default tenant, on the built-in local provider
    raw_key = manage(env, "shell", "-c", MAKE_KEY).strip().splitlines()[-1]
    servers = [start_server(env, port) for port in ports]
    try:
        # Both servers have read the key and the settings into their caches.
        assert [mint(port, raw_key).json()["voice"] for port in ports] == ["verse", "verse"]

        # A third process (the shell, as `make run`'s admin would be another): the next session has the new voice.
        manage(env, "speech_settings", "default", "--voice", "coral")
        assert [mint(port, raw_key).json()["voice"] for port in ports] == ["coral", "coral"]

        manage(env, "shell", "-c", REVOKE)
        refused = [mint(port, raw_key) for port in ports]
        assert [response.status_code for response in refused] == [401, 401]
        assert {response.json()["error"]["code"] for response in refused} == {"invalid_api_key"}
    finally:
        for server in servers:
            server.terminate()
            server.wait(10)


def test_a_revoked_key_is_refused_by_every_worker_of_the_production_server(tmp_path, local_service):
    from concurrent.futures import ThreadPoolExecutor

    port = free_port()
    env = production_env(
        tmp_path,
        port,
        **local_service.gateway_env,  # its service has no rate limits: up to 400 mints in a few seconds
        SPEECH_PROVIDER_CALLS_PER_TENANT=8,  # the eight mints sent at once
        SPEECH_SETTINGS_CACHE_SECONDS=3600,
    )
    manage(env, "migrate", "--noinput")
    manage(env, "collectstatic", "--noinput")
    raw_key = manage(env, "shell", "-c", MAKE_KEY).strip().splitlines()[-1]
    process = start_production_server(env)

    def workers_served():
        return {path.name.rsplit("_", 1)[-1] for path in (tmp_path / "prometheus").glob("counter_*.db")}

    try:
        with ThreadPoolExecutor(8) as pool:
            sent = 0
            # Which worker accepts a connection is the kernel's choice: send until both have cached the key.
            while len(workers_served()) < 2 and sent < 400:
                assert {r.status_code for r in pool.map(lambda _: mint(port, raw_key), range(8))} == {200}
                sent += 8
            assert len(workers_served()) == 2, "both workers should have served requests"

            manage(env, "shell", "-c", REVOKE)
            refused = list(pool.map(lambda _: mint(port, raw_key), range(sent)))
        assert {response.status_code for response in refused} == {401}
        assert {response.json()["error"]["code"] for response in refused} == {"invalid_api_key"}
    finally:
        process.terminate()
        process.wait(40)
