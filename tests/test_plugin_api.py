"""The public plugin API keeps its promise: bundled plugins (code and
tests) import nothing of metacrm but ``metacrm.plugins``, it loads no web
framework, and the fixtures come from metacrm's own pytest plugin."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import metacrm.plugins

PLUGINS = Path(__file__).resolve().parents[1] / "plugins"


def _metacrm_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found += [name for name in names if name.split(".")[0] in ("metacrm", "tests")]
    return found


def test_bundled_plugins_and_their_tests_import_only_the_plugin_api():
    files = sorted(PLUGINS.rglob("*.py"))
    assert files, "no bundled plugins found"
    outside = {
        str(path.relative_to(PLUGINS)): name
        for path in files
        for name in _metacrm_imports(path)
        if name != "metacrm.plugins"
    }
    assert outside == {}


def test_every_public_name_resolves():
    assert all(getattr(metacrm.plugins, name, None) is not None for name in metacrm.plugins.__all__)


def test_importing_the_plugin_api_loads_no_web_framework():
    code = "import sys, metacrm.plugins; print([m for m in ('flask', 'werkzeug', 'metacrm.app') if m in sys.modules])"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_the_fixtures_come_from_metacrms_pytest_plugin(request):
    plugin = request.config.pluginmanager.get_plugin("metacrm")
    assert plugin is not None and plugin.__name__ == "metacrm.plugins.testing"
