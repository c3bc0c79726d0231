"""Run the project as real server processes, for tests that need more than one instance."""

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
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            requests.get(f"http://127.0.0.1:{port}/login/", timeout=1, allow_redirects=False)
            return process
        except requests.ConnectionError:
            time.sleep(0.1)
    process.kill()
    pytest.fail(f"the server on port {port} did not start")
