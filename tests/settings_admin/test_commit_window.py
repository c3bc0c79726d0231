"""A change is published only once it commits: a request in another thread while the change waits in its
transaction reads the old rows, and must not keep them past the commit (on the old code it cached them
under the new generation for SPEECH_SETTINGS_CACHE_SECONDS)."""

import json
import subprocess
import sys

from tests.servers import ROOT, manage


def test_a_request_while_a_change_waits_to_commit_does_not_keep_the_old_rows(tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "SECRET_KEY": "commit-window-test-secret-key-0123456789abcdef",
        "SPEECH_SETTINGS_CACHE_SECONDS": "3600",  # what is cached stays for the whole test
    }
    manage(env, "migrate", "--noinput")
    result = subprocess.run(
        [sys.executable, "-m", "tests.settings_admin.commit_window"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen == {
        "before": "verse",
        "voice": {"during": "verse", "after": "coral"},
        "revocation": {"during": "coral", "after": "invalid_api_key"},
    }
