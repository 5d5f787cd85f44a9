"""``metacrm plugin new`` writes a plugin that works as written: generated
into a tmp folder, installed with pip (offline: ``--no-deps
--no-build-isolation --no-index``), found through its entry point and
installed in a tenant, and its own tests pass in a subprocess.

pip installs it into a folder of its own (``--target``) put on the path of
this test and of the subprocess only: installed into the shared venv, the
other test processes of a parallel run (xdist) would find its entry point
for as long as it is there — and fail to import it, their path having been
read before — so they would list it as a broken plugin."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from metacrm.app import build_instance
from metacrm.cli import main
from metacrm.metadata.guard import SystemGuard
from metacrm.metadata.model import model_for, record_store
from metacrm.platform import audit, tenancy
from metacrm.platform.errors import BadRequest
from metacrm.plugins import lifecycle
from metacrm.plugins.scaffold import write_plugin
from tests.conftest import BACKENDS, drop_namespaces, make_config

NAME = "hello"  # the walkthrough's name: its samples are run in the generated plugin
DIST = "metacrm-hello"
DOC = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"


def walkthrough_samples() -> tuple[str, str]:
    """The Python samples of docs/plugins.md's walkthrough: hooks for
    plugin.py, then a test for the generated tests."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## Walkthrough: a module from the scaffold", 1)[1].split("\n## ", 1)[0]
    hooks, test = re.findall(r"```python\n(.*?)```", section, re.S)
    return hooks, test


def _pip(*args: str) -> None:
    result = subprocess.run([sys.executable, "-m", "pip", "-q", *args], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]


@pytest.fixture(scope="module")
def scaffolded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("scaffold") / NAME
    result = CliRunner().invoke(main, ["plugin", "new", NAME, "--path", str(folder)])
    assert result.exit_code == 0, result.output
    assert f"wrote {DIST}" in result.output
    hooks, test = walkthrough_samples()
    with (folder / f"metacrm_{NAME}" / "plugin.py").open("a", encoding="utf-8") as plugin_file:
        plugin_file.write("\n\n" + hooks)
    with (folder / "tests" / f"test_{NAME}.py").open("a", encoding="utf-8") as test_file:
        test_file.write(f"\n\nfrom metacrm_{NAME}.plugin import mark_done  # noqa: E402\n\n\n" + test)
    site = folder.parent / "site"
    _pip("install", "--no-deps", "--no-build-isolation", "--no-index", "--target", str(site), str(folder))
    sys.path.insert(0, str(site))  # importable, and its entry point found, here
    try:
        yield folder, site
    finally:
        sys.path.remove(str(site))
        for module in [m for m in sys.modules if m.startswith(f"metacrm_{NAME}")]:
            del sys.modules[module]


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_scaffold_installs_in_a_tenant_through_its_entry_point(scaffolded, backend, tmp_path):
    instance = build_instance(make_config(tmp_path, backend), load_entry_points=True)
    try:
        instance.upgrade_platform()
        assert NAME in instance.pm.tenant_plugins() and NAME not in instance.pm.broken
        tenancy.create_tenant(instance, "maker", "Maker")
        binding = instance.db.bind("maker")
        result = lifecycle.install(instance, binding, NAME, audit.SYSTEM)
        assert result["plugin"] == NAME and result["version"] == "0.1.0"
        store = record_store(instance, binding, SystemGuard(), audit.SYSTEM)
        item = store.create(f"{NAME}_item", {"title": "One", "code": " x-1 ", "status": "done"})
        assert item["code"] == "X-1" and item["done_at"] is not None  # its record event and automation
        assert model_for(instance, binding).object(f"{NAME}_item") is not None
    finally:
        drop_namespaces(instance)
        instance.dispose()


def test_the_generated_tests_pass(scaffolded):
    folder, site = scaffolded
    result = subprocess.run(
        [sys.executable, "-m", "pytest", str(folder / "tests"), "-q", "-p", "no:xdist", "-p", "no:cacheprovider"],
        cwd=folder,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    # 3 generated tests and the walkthrough's, on every database the environment names
    assert f"{4 * len(BACKENDS)} passed" in result.stdout, result.stdout[-3000:]


def test_a_bad_name_or_a_used_folder_is_refused(tmp_path):
    with pytest.raises(BadRequest, match="no plugin name"):
        write_plugin("Bad-Name", tmp_path / "bad")
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "file.txt").write_text("mine")
    with pytest.raises(BadRequest, match="not empty"):
        write_plugin("fine", tmp_path / "used")
