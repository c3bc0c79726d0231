"""Parts the gateway depends on, as real processes a test starts and stops: its own Redis server, a TCP
proxy it can cut in front of PostgreSQL, a fake OpenAI, and a throwaway PostgreSQL database."""

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from contextlib import contextmanager, suppress

import pytest

from tests.servers import ROOT
from tests.vault_server import free_port

REDIS_SERVER = "/usr/bin/redis-server"
POSTGRES = ("127.0.0.1", 5432)


def missing(message):
    """A part the test needs is missing: a failure under CI, a skip elsewhere."""
    pytest.fail(message) if os.environ.get("CI") == "true" else pytest.skip(message)


def until(condition, seconds=15, what=None, step=0.05):
    """Polls `condition()` until it holds (another thread or process makes it so); returns its value."""
    deadline = time.monotonic() + seconds
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what or getattr(condition, '__name__', 'the condition')} did not hold within "
                                 f"{seconds} s")  # fmt: skip
        time.sleep(step)
    return value


def wait_for_port(port, *, seconds=20):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    pytest.fail(f"nothing listens on port {port} after {seconds} s")


class RedisServer:
    """A Redis of the test's own, on a free port, with nothing written to disk."""

    def __init__(self):
        if not (shutil.which(REDIS_SERVER) or os.path.exists(REDIS_SERVER)):
            missing(f"{REDIS_SERVER} is missing (apt-get install redis-server)")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = None

    def start(self):
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port)
        return self

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


class TcpProxy:
    """Forwards 127.0.0.1:port to a target; cut() refuses new connections and breaks the open ones,
    restore() listens again on the same port."""

    def __init__(self, target):
        self.target = target
        self.port = free_port()
        self.lock = threading.Lock()
        self.sockets = set()
        self.listener = None

    def restore(self):
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def cut(self):
        with self.lock:
            if self.listener is None:
                return  # already cut
            # shutdown() wakes the accept() blocked in the other thread; close() alone would leave it
            # accepting on the kernel's socket.
            with suppress(OSError):
                self.listener.shutdown(socket.SHUT_RDWR)
            self.listener.close()
            self.listener = None
            for sock in self.sockets:
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self.sockets.clear()

    def _accept(self, listener):
        while True:
            try:
                client, _ = listener.accept()
            except OSError:  # cut
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self.lock:
                if self.listener is not listener:  # cut while this one was connecting
                    client.close()
                    upstream.close()
                    return
                self.sockets.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    def _pipe(self, source, sink):
        with suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


@contextmanager
def postgres_database():
    """A PostgreSQL database of the test's own (never the shared test database), dropped at the end."""
    import psycopg

    try:
        admin = psycopg.connect(host=POSTGRES[0], port=POSTGRES[1], user="postgres", dbname="postgres", autocommit=True)
    except psycopg.OperationalError as exc:
        missing(f"PostgreSQL is not running at {POSTGRES[0]}:{POSTGRES[1]}: {exc}")
    name = f"faults_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield name
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def fake_openai():
    """tests/bench/fake_provider.py on a free loopback port; yields its mint URL."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.bench.fake_provider", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout.readline().startswith("ready"), "the fake provider did not start"
        yield f"http://127.0.0.1:{port}/v1/realtime/client_secrets"
    finally:
        process.terminate()
        process.wait(10)


# The default tenant minting at the fake OpenAI (set with update(): the admin's checks want https), and an API key.
OPENAI_TENANT = """
from settings_admin.models import SpeechSettings, Tenant, TenantAPIKey
tenant = Tenant.objects.get(slug="default")
tenant.rate_limit_api_key = {rate!r}
tenant.rate_limit_tenant = tenant.rate_limit_user = tenant.rate_limit_anonymous = ""
tenant.save()
SpeechSettings.objects.filter(tenant=tenant).update(provider={provider!r}, model="gpt-realtime", endpoint={endpoint!r})
print(TenantAPIKey.objects.create_key(name="faults", tenant=tenant)[1])
"""


def server_env(tmp_path, **extra):
    return {
        "PATH": f"{os.path.dirname(sys.executable)}:/usr/bin:/bin",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "SECRET_KEY": "faults-test-secret-key-0123456789abcdefghijklmnop",
        "OPENAI_API_KEY": "sk-faults-test-server-key-0123456789",
        "SPEECH_ALLOWED_ENDPOINT_HOSTS": "127.0.0.1",
        **extra,
    }
