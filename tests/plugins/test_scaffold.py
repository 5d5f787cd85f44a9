"""``metacrm plugin new`` writes a plugin that works as written: generated
into a tmp folder, installed with pip into this environment (offline:
``--no-deps --no-build-isolation``), found through its entry point and
installed in a tenant, and its own tests pass in a subprocess. The
distribution is uninstalled at the end so no other test sees it."""

from __future__ import annotations

import subprocess
import sys

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

NAME = "scaffolded"
DIST = "metacrm-scaffolded"


def _pip(*args: str) -> None:
    result = subprocess.run([sys.executable, "-m", "pip", "-q", *args], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]


@pytest.fixture(scope="module")
def scaffolded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("scaffold") / NAME
    result = CliRunner().invoke(main, ["plugin", "new", NAME, "--path", str(folder)])
    assert result.exit_code == 0, result.output
    assert f"wrote {DIST}" in result.output
    _pip("install", "--no-deps", "--no-build-isolation", "--no-index", "-e", str(folder))
    # this process started before the install: make the new package importable here too
    sys.path.insert(0, str(folder))
    try:
        yield folder
    finally:
        sys.path.remove(str(folder))
        for module in [m for m in sys.modules if m.startswith(f"metacrm_{NAME}")]:
            del sys.modules[module]
        _pip("uninstall", "-y", DIST)


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
    result = subprocess.run(
        [sys.executable, "-m", "pytest", str(scaffolded / "tests"), "-q", "-p", "no:xdist", "-p", "no:cacheprovider"],
        cwd=scaffolded,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert " passed" in result.stdout and "failed" not in result.stdout


def test_a_bad_name_or_a_used_folder_is_refused(tmp_path):
    with pytest.raises(BadRequest, match="no plugin name"):
        write_plugin("Bad-Name", tmp_path / "bad")
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "file.txt").write_text("mine")
    with pytest.raises(BadRequest, match="not empty"):
        write_plugin("fine", tmp_path / "used")
