"""Management commands facing a fault of the database or Redis: one clear line on stderr, no traceback."""

import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import get_commands, load_command_class

from settings_admin.management.base import FaultReportingCommand
from tests.parts import RedisServer, server_env
from tests.servers import ROOT, manage
from tests.vault_server import free_port

COMMANDS = [
    ["speech_settings", "default"],
    ["speech_settings", "default", "--voice", "alloy"],
    ["secrets_check"],
    ["bootstrap"],
    ["audit_prune"],
]


def run(env, *args):
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_a_command_reports_an_unreachable_database_in_one_line(tmp_path, args):
    # Nothing listens on this port: PostgreSQL refuses at once.
    env = server_env(tmp_path, DATABASE_URL=f"postgres://postgres@127.0.0.1:{free_port()}/nowhere")
    result = run(env, *args)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("CommandError: The database cannot be reached or failed: ")


def test_a_command_works_on_while_redis_is_down(tmp_path):
    redis_server = RedisServer()  # its port, with no Redis started on it
    env = server_env(tmp_path, REDIS_URL=redis_server.url)
    manage({**env, "REDIS_URL": ""}, "migrate", "--noinput")
    result = run(env, "speech_settings", "default", "--voice", "alloy")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    # A settings change needs only the database (its generation lives there); at most one warning.
    assert result.stderr.count("shared cache: Redis at") <= 1
    assert "voice                      alloy" in result.stdout


def test_every_project_command_reports_faults_in_one_line():
    ours = {
        name: app
        for name, app in get_commands().items()
        if (Path(ROOT) / app.replace(".", "/") / "management" / "commands" / f"{name}.py").exists()
    }
    assert {"speech_settings", "secrets_check", "bootstrap", "audit_prune"} <= set(ours)
    for name, app in ours.items():
        assert isinstance(load_command_class(app, name), FaultReportingCommand), name
