"""Automations ship in metadata packages (objects/<object>/automations.yaml),
install idempotently, and are versioned like every definition."""

from __future__ import annotations

import pytest

from metacrm.platform import audit, tenancy
from metacrm.platform.errors import ValidationFailed
from metacrm.plugins.packages import apply_package, load_package

RULE = 'WHEN created IF ISBLANK(stage) THEN SET stage = "new"'


def _package(tmp_path, rule: str = RULE):
    root = tmp_path / "pkg"
    folder = root / "objects" / "lead"
    folder.mkdir(parents=True)
    (root / "package.yaml").write_text("name: leads\nversion: '1.0'\n")
    (folder / "object.yaml").write_text("api_name: lead\nlabel: Lead\n")
    (folder / "fields.yaml").write_text(
        "- {api_name: title, label: Title, type: text}\n- {api_name: stage, label: Stage, type: text}\n"
    )
    (folder / "automations.yaml").write_text(f"- api_name: default_stage\n  rule: '{rule}'\n  order: 5\n")
    return load_package(root)


def test_a_package_installs_its_automations_once(instance, tmp_path):
    from metacrm.access.guard import SystemGuard
    from metacrm.metadata.model import model_for, record_store

    tenancy.create_tenant(instance, "acme", "Acme")
    binding = instance.db.bind("acme")
    package = _package(tmp_path)
    apply_package(instance, binding, package, audit.SYSTEM)
    model = model_for(instance, binding)
    assert model.definitions.get("automation", "lead.default_stage").document["order"] == 5
    revision = model.revision
    apply_package(instance, binding, package, audit.SYSTEM)  # nothing differs: no new revision
    assert model_for(instance, binding).revision == revision
    lead = record_store(instance, binding, SystemGuard(), audit.SYSTEM).create("lead", {"title": "L"})
    assert lead["stage"] == "new"


def test_a_package_with_a_broken_rule_is_refused_whole(instance, tmp_path):
    tenancy.create_tenant(instance, "acme", "Acme")
    binding = instance.db.bind("acme")
    with pytest.raises(ValidationFailed, match="unknown field"):
        apply_package(instance, binding, _package(tmp_path, "WHEN created THEN SET nothing = 1"), audit.SYSTEM)
