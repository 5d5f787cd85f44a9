"""Roles and access shipped in a metadata package (``access/roles.yaml``,
``access/policies.yaml``): written with the package's install, once — an
administrator's later change survives a reinstall — and entries naming a
role the tenant lacks are skipped."""

from __future__ import annotations

import yaml

from metacrm.access.changes import AccessChanges
from metacrm.access.policy import policy_for
from metacrm.platform import audit

PACKAGE = {
    "package.yaml": {"name": "clinic", "version": "1.0.0"},
    "objects/chart/object.yaml": {
        "api_name": "chart",
        "label": "Chart",
        "plural_label": "Charts",
        "name_field": "title",
    },
    "objects/chart/fields.yaml": [
        {"api_name": "title", "label": "Title", "type": "text", "required": True, "options": {}},
        {"api_name": "diagnosis", "label": "Diagnosis", "type": "long_text", "options": {}},
    ],
    "access/roles.yaml": [{"api_name": "clinician", "label": "Clinician", "translations": {"zh_CN": "临床医生"}}],
    "access/policies.yaml": [
        {"role": "clinician", "object": "chart", "access": {"create": True, "read": "all", "update": "all"}},
        {"role": "read_only", "object": "chart", "access": {"read": "all", "fields": {"diagnosis": "hidden"}}},
        {"role": "nobody_here", "object": "chart", "access": {"read": "all"}},
    ],
}


def _write_package(folder):
    for name, content in PACKAGE.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(content, allow_unicode=True), encoding="utf-8")
    return folder


def test_package_roles_and_access_are_written_once(package_tenant, tmp_path):
    folder = _write_package(tmp_path / "clinic")
    tenant = package_tenant(folder, slug="clinic", users=())
    policy = policy_for(tenant.instance, tenant.binding)
    assert policy.roles["clinician"].label == "Clinician"
    assert policy.entries[("clinician", "chart")]["read"] == "all"
    assert policy.fields[("read_only", "chart")] == {"diagnosis": "hidden"}
    assert not any(role == "nobody_here" for role, _ in policy.entries)
    # an administrator shows the diagnosis to read-only users; reinstalling keeps their choice
    changes = AccessChanges(tenant.instance, tenant.binding, audit.SYSTEM, held=frozenset({"admin"}), policy=policy)
    with changes.change("show diagnoses") as change:
        change.put_object_access("read_only", "chart", {"read": "all"})
    assert tenant.install(folder)["revision"] is None
    assert ("read_only", "chart") not in policy_for(tenant.instance, tenant.binding).fields
