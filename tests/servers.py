"""Run the project as real server processes, for tests that need more than one instance."""

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
import requests

ROOT = Path(__file__).resolve().parents[1]


def require_redis(url):
    try:
        redis.Redis.from_url(url).ping()
    except redis.ConnectionError:
        message = f"Redis is not running at {url}"
        pytest.fail(message) if os.environ.get("CI") == "true" else pytest.skip(message)


def manage(env, *args, stdin=None):
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def start_server(env, port, *, log=subprocess.DEVNULL):
    """runserver on 127.0.0.1:port; its stderr (the log) goes to `log`, an open file, when given."""
    process = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload", "--skip-checks"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    return _answering(process, f"http://127.0.0.1:{port}/login/")


def production_env(tmp_path, port, **settings):
    """The environment of a production server (make serve's granian: 2 workers x 16 threads here) on
    127.0.0.1:port, with a SQLite database in tmp_path; `settings` add to it or replace its values."""
    return {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "SECRET_KEY": "production-test-secret-key-0123456789abcdefghijkl",
        "STATIC_FROM_SOURCE": "false",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus"),
        "BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "2",
        "WEB_THREADS": "16",
        "ACCESS_LOG": "false",
        **{name: str(value) for name, value in settings.items()},
    }


def start_production_server(env):
    """The production server (`python -m config.serve`: make serve's granian) on env["BIND"], answering."""
    process = subprocess.Popen(
        [sys.executable, "-m", "config.serve"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return _answering(process, f"http://{env['BIND']}/healthz")


def _answering(process, url):
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=1, allow_redirects=False)
            return process
        except requests.ConnectionError:
            time.sleep(0.1)
    process.kill()
    pytest.fail(f"{url} did not answer")


class LocalService:
    """The local provider's service (`python -m speech.local`) as a real process on 127.0.0.1."""

    def __init__(self, *, port, api_key, env, log=None):
        self.port = port
        self.api_key = api_key
        self.env = env
        self.log = log
        self.url = f"http://127.0.0.1:{port}"
        self.v1 = f"{self.url}/v1"
        self.process = None

    def start(self):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "speech.local"],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=self.log or subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"the local provider on port {self.port} exited with {self.process.returncode}")
            try:
                requests.get(f"{self.url}/healthz", timeout=1)
                return self
            except requests.ConnectionError:
                time.sleep(0.1)
        self.process.kill()
        pytest.fail(f"the local provider on port {self.port} did not start")

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def key(self, account):
        """The server key of `account`, as the gateway derives it for a tenant."""
        from speech.local.accounts import account_key

        return account_key(master=self.api_key, account=account)

    def open_calls(self):
        return requests.get(f"{self.url}/healthz", timeout=5).json()["calls"]

    def wait_calls(self, count=0, seconds=10):
        """Open calls once they have had up to `seconds` to reach `count`."""
        deadline = time.monotonic() + seconds
        while (calls := self.open_calls()) != count and time.monotonic() < deadline:
            time.sleep(0.1)
        return calls

    @property
    def gateway_env(self):
        """What a gateway process needs to reach this service."""
        return {"LOCAL_REALTIME_URL": self.v1, "LOCAL_REALTIME_API_KEY": self.api_key}


# Generous limits for the service tests share; a test of a limit starts a service with its own.
SHARED_LOCAL_LIMITS = {
    "LOCAL_REALTIME_MAX_CALLS": "64",
    "LOCAL_REALTIME_MAX_CALLS_PER_ACCOUNT": "32",
    "LOCAL_REALTIME_RATE_CLIENT_SECRETS": "",
    "LOCAL_REALTIME_RATE_CALLS": "",
    "LOCAL_REALTIME_RATE_HANGUPS": "",
}


def start_local_service(*, api_key, port=None, log=None, **settings):
    """Start the local provider with `settings` (LOCAL_REALTIME_* names) over the shared test limits."""
    import secrets

    from tests.vault_server import free_port

    port = port or free_port()
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "LOCAL_REALTIME_API_KEY": api_key or "sk-local-test-" + secrets.token_hex(16),
        "LOCAL_REALTIME_PORT": str(port),
        "LOCAL_REALTIME_HOST": "127.0.0.1",
        "ACCESS_LOG": "false",
        **SHARED_LOCAL_LIMITS,
        **{name: str(value) for name, value in settings.items()},
    }
    return LocalService(port=port, api_key=env["LOCAL_REALTIME_API_KEY"], env=env, log=log).start()


class OfferDelayProxy:
    """A TCP proxy on 127.0.0.1 in front of a local service that holds each SDP offer for `delay` seconds
    (a slow provider for the page's negotiation timeout; set `delay` to 0 to let offers through at once)."""

    def __init__(self, upstream_port, delay=0.0):
        import socket
        import threading

        self.upstream_port = upstream_port
        self.delay = delay
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        import socket
        import threading

        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            threading.Thread(target=self._pipe, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, False), daemon=True).start()

    def _pipe(self, source, destination, requests_side):
        try:
            while data := source.recv(65536):
                if requests_side and data.startswith(b"POST /v1/realtime/calls ") and self.delay:
                    time.sleep(self.delay)
                destination.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, destination):
                with contextlib.suppress(OSError):
                    sock.shutdown(2)

    def close(self):
        self.closed = True
        self.listener.close()
