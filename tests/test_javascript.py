"""Runs the browser modules' unit tests (tests/js/*.test.mjs) with Node's built-in test runner."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_javascript_unit_tests():
    node = shutil.which("node")
    if node is None:
        message = "node is not installed; it runs tests/js"
        pytest.fail(message) if os.environ.get("CI") == "true" else pytest.skip(message)
    files = sorted(str(p) for p in (ROOT / "tests" / "js").glob("*.test.mjs"))
    assert files
    result = subprocess.run([node, "--test", *files], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
