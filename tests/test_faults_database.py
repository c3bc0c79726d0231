"""The database becomes unreachable under a running gateway (a proxy in front of PostgreSQL is cut):
API paths answer 503 database_unavailable in JSON, pages a short 503 page; once it is back, all works."""

import time

import requests

from tests.parts import OPENAI_TENANT, POSTGRES, TcpProxy, fake_openai, postgres_database, server_env
from tests.servers import manage, start_server
from tests.vault_server import free_port


def test_api_answers_database_unavailable_while_the_database_is_cut_off(tmp_path):
    port = free_port()
    with postgres_database() as name, fake_openai() as endpoint:
        proxy = TcpProxy(POSTGRES).restore()
        env = server_env(tmp_path, DATABASE_URL=f"postgres://postgres@127.0.0.1:{proxy.port}/{name}")
        manage(env, "migrate", "--noinput")
        tenant = OPENAI_TENANT.format(rate="", provider="openai_realtime", endpoint=endpoint)
        raw_key = manage(env, "shell", "-c", tenant).strip().splitlines()[-1]
        # Every request reads the settings generation, so even a warm process cannot tell whether a key
        # was revoked meanwhile: it refuses rather than guess.
        unseen_key = manage(env, "shell", "-c", tenant).strip().splitlines()[-1]
        server = start_server(env, port)
        base = f"http://127.0.0.1:{port}"

        def mint(key=raw_key):
            return requests.post(
                f"{base}/api/v1/realtime_session", json={}, headers={"Authorization": f"Api-Key {key}"}, timeout=10
            )

        # A session cookie makes the request load its session (and user) from the database.
        cookie = {"sessionid": "faults0session0id0000000000000000"}

        try:
            assert mint().status_code == 200
            proxy.cut()
            me = requests.get(f"{base}/api/v1/settings/me", cookies=cookie, timeout=10)
            for answer in (mint(), mint(unseen_key), me):
                assert answer.status_code == 503, answer.text
                assert answer.headers["Content-Type"] == "application/json"
                assert answer.json()["error"]["code"] == "database_unavailable"
            page = requests.get(f"{base}/", cookies=cookie, timeout=10)
            assert page.status_code == 503
            assert "database cannot be reached" in page.text
            proxy.restore()
            # The pool connects again on its own backoff (a second or a few): bounded, then it must work.
            deadline = time.monotonic() + 20
            while (status := mint(unseen_key).status_code) != 200 and time.monotonic() < deadline:
                time.sleep(0.5)
            assert status == 200
        finally:
            server.terminate()
            server.wait(10)
            proxy.cut()
