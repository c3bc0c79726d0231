"""settings_admin is a reusable app: it reaches providers only through settings, never by import."""

import ast
from pathlib import Path

APP = Path(__file__).resolve().parents[1] / "settings_admin"


def imported_modules(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module


def test_settings_admin_never_imports_speech():
    offenders = {
        f"{path.relative_to(APP)}: {module}"
        for path in APP.rglob("*.py")
        for module in imported_modules(path)
        if module == "speech" or module.startswith("speech.")
    }
    assert offenders == set()
