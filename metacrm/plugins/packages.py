"""Metadata packages: the format plugins ship (and export produces).

A package is a folder::

    package.yaml                     name, version, label, description, translations
    objects/<object>/object.yaml     the object definition
    objects/<object>/fields.yaml     a list of field definitions
    objects/<object>/layouts.yaml    a list of layouts          (optional)
    objects/<object>/list_views.yaml a list of list views       (optional)
    objects/<object>/validation_rules.yaml  a list of validation rules (optional)
    objects/<object>/automations.yaml       a list of automation rules (optional; docs/automation.md)
    objects/<object>/<collection>.yaml      a list of any other object-scoped
                                     definition kind, by its ``collection``
    access/pools.yaml                public pools (optional; docs/access.md)
    access/roles.yaml                roles the package adds (optional; docs/plugins.md)
    access/policies.yaml             object and field access per role (optional)
    <collection>.yaml                a list of a tenant-wide definition kind, by its
                                     ``collection`` (``apps.yaml``: the apps of the navigation)

Which file holds which kind is the kind registry's (:mod:`metacrm.metadata.kinds`):
a plugin that registers a kind can ship its definitions in packages too.

Applying a package is idempotent: it compares each document with the
tenant's live definition and changes only what differs, all in ONE metadata
revision (nothing at all when nothing differs). A newer version of a package
therefore applies as a diff. Definitions a tenant added itself are left alone.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from metacrm.metadata.changes import normalized_field
from metacrm.metadata.kinds import DefinitionKind, KindRegistry
from metacrm.metadata.model import definition_kinds, metadata_service
from metacrm.platform import audit
from metacrm.platform.database import TenantBinding
from metacrm.platform.errors import NotFound, ValidationFailed
from metacrm.platform.instance import Instance

RELATION_TYPES = ("lookup", "master_detail", "many_to_many")


@dataclass
class ObjectDocuments:
    definition: dict
    # objects/<object>/<collection>.yaml → its list of documents ("fields", "layouts"…)
    collections: dict[str, list] = field(default_factory=dict)
    folder: Path | None = None

    @property
    def fields(self) -> list[dict]:
        return self.collections.get("fields", [])


@dataclass
class Package:
    name: str
    version: str
    label: str
    path: Path
    manifest: dict
    objects: dict[str, ObjectDocuments]
    pools: list[dict] = field(default_factory=list)
    # <collection>.yaml at the top → its list of tenant-wide documents ("apps")
    collections: dict[str, list] = field(default_factory=dict)
    roles: list[dict] = field(default_factory=list)  # access/roles.yaml
    policies: list[dict] = field(default_factory=list)  # access/policies.yaml: {role, object, access}


# libyaml's safe loader when PyYAML was built with it: the same documents, parsed
# several times faster (installing the Standard CRM parsed ~100 files in pure Python).
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _read_yaml(path: Path, default: Any) -> Any:
    if not path.is_file():
        return default
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER) or default  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        raise ValidationFailed(f"{path}: {exc}", details={"file": str(path)}) from None


def load_package(path: Path) -> Package:
    path = Path(path)
    manifest = _read_yaml(path / "package.yaml", None)
    if not isinstance(manifest, dict) or not manifest.get("name") or not manifest.get("version"):
        raise ValidationFailed(
            f"{path}/package.yaml must name the package and its version", details={"file": str(path / "package.yaml")}
        )
    objects: dict[str, ObjectDocuments] = {}
    for folder in sorted(p for p in (path / "objects").glob("*") if p.is_dir()):
        definition = _read_yaml(folder / "object.yaml", None)
        if not isinstance(definition, dict):
            raise ValidationFailed(f"{folder}/object.yaml must hold an object definition")
        collections = {
            file.stem: _read_yaml(file, []) for file in sorted(folder.glob("*.yaml")) if file.name != "object.yaml"
        }
        documents = ObjectDocuments(definition, collections, folder)
        objects[definition.get("api_name", folder.name)] = documents
    return Package(
        str(manifest["name"]),
        str(manifest["version"]),
        manifest.get("label", manifest["name"]),
        path,
        manifest,
        objects,
        _read_yaml(path / "access" / "pools.yaml", []),
        {file.stem: _read_yaml(file, []) for file in sorted(path.glob("*.yaml")) if file.name != "package.yaml"},
        _read_yaml(path / "access" / "roles.yaml", []),
        _read_yaml(path / "access" / "policies.yaml", []),
    )


def available_packages(instance: Instance) -> dict[str, Package]:
    """Every package the installed plugins offer, by name."""
    packages = {}
    for paths in instance.hook.metadata_packages():
        for path in paths:
            package = load_package(path)
            packages[package.name] = package
    return packages


def installed_packages(instance: Instance, binding: TenantBinding) -> list[dict]:
    from metacrm.metadata.model import model_for

    return [d.document for d in model_for(instance, binding).definitions.live("package")]


def install(instance: Instance, binding: TenantBinding, name: str, actor: audit.Actor) -> dict:
    packages = available_packages(instance)
    if name not in packages:
        raise NotFound(f"no package {name!r}; available: {', '.join(sorted(packages)) or 'none'}")
    return apply_package(instance, binding, packages[name], actor)


def _object_without_derived(definition: dict) -> dict:
    # name_field and search_fields name fields, so they are set once fields exist.
    return {k: v for k, v in definition.items() if k not in ("name_field", "search_fields")}


def _object_kinds(kinds: KindRegistry, package: Package) -> list[DefinitionKind]:
    """The kinds stored as is that the package's object files may hold, in
    registration order (fields, with their DDL, are applied first, apart);
    a file no kind keeps is refused (a typo would otherwise be skipped
    silently)."""
    for docs in package.objects.values():
        for collection in docs.collections:
            kind = kinds.by_collection(collection)
            if kind is None or not kind.object_scoped or not kind.written_by_admins:
                path = f"{docs.folder}/{collection}.yaml"
                known = [k.collection for k in kinds.object_scoped() if k.collection and k.written_by_admins]
                raise ValidationFailed(
                    f"{path}: no definition kind is kept in {collection}.yaml; one of: {', '.join(known)}",
                    details={"file": path},
                )
    return [kind for kind in kinds.object_scoped() if kind.stored_as_is and kind.collection]


def _tenant_kinds(kinds: KindRegistry, package: Package) -> list[DefinitionKind]:
    """The tenant-wide kinds stored as is that the package's top-level files
    may hold (``apps.yaml``), in registration order; an unknown file is refused."""
    wanted = [k for k in kinds if not k.object_scoped and k.stored_as_is and k.collection]
    for collection in package.collections:
        if collection not in {k.collection for k in wanted}:
            path = f"{package.path}/{collection}.yaml"
            known = ", ".join(f"{k.collection}.yaml" for k in wanted) or "none"
            raise ValidationFailed(f"{path}: no definition kind is kept in {collection}.yaml; one of: {known}")
    return wanted


def apply_package(instance: Instance, binding: TenantBinding, package: Package, actor: audit.Actor) -> dict:
    """Bring the tenant's definitions in line with ``package``. Returns counts
    of created / updated / unchanged definitions and the revision (None if
    nothing changed)."""
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    object_kinds = _object_kinds(definition_kinds(instance), package)
    tenant_kinds = _tenant_kinds(definition_kinds(instance), package)
    service = metadata_service(instance, binding, actor)
    with service.change(f"install package {package.name} {package.version}") as tx:
        state = tx.state

        def count(changed: bool, created: bool = False) -> None:
            counts["created" if created else "updated" if changed else "unchanged"] += 1

        # 1. objects, with their plain fields (relations need every object to exist first)
        new_objects = set()
        for api_name, docs in package.objects.items():
            plain = [f for f in docs.fields if f.get("type") not in RELATION_TYPES]
            if state.get("object", api_name, include_deleted=True) is None:
                tx.create_object({**_object_without_derived(docs.definition), "name_field": None}, plain)
                new_objects.add(api_name)
                counts["created"] += 1 + len(plain)
        # 2. every field, relations included: add what is missing, update what differs
        for api_name, docs in package.objects.items():
            for document in docs.fields:
                if api_name in new_objects and document.get("type") not in RELATION_TYPES:
                    continue  # created with its object just now
                current = state.field(api_name, document.get("api_name", ""))
                if current is None or normalized_field(document) != current:
                    tx.put("field", api_name, normalized_field(document) if current else document)
                    count(True, created=current is None)
                else:
                    count(False)
        # 3. object documents (name field, search fields), then layouts, list views, rules…
        for api_name, docs in package.objects.items():
            current = state.object(api_name)
            if current is None:
                raise NotFound(f"object {api_name} is in the recycle bin: restore it before installing {package.name}")
            wanted = {**current, **copy.deepcopy(docs.definition)}
            if current != wanted:
                tx.put("object", None, wanted)
            for kind in object_kinds:
                for document in docs.collections.get(kind.collection, []):
                    existing = state.get(kind.name, kind.key(api_name, document.get("api_name")))
                    if existing is None or existing.document != document:
                        tx.put(kind.name, api_name, document)
                        count(True, created=existing is None)
                    else:
                        count(False)
        # 3b. tenant-wide definitions (apps), once every object exists
        for kind in tenant_kinds:
            for document in package.collections.get(kind.collection, []):
                existing = state.get(kind.name, kind.key(None, document.get("api_name")))
                if existing is None or existing.document != document:
                    tx.put(kind.name, None, document)
                    count(True, created=existing is None)
                else:
                    count(False)
        if package.roles or package.policies:  # roles and access it ships, written once like pools
            from metacrm.access.changes import apply_package_access

            counts["created"] += len(apply_package_access(tx, binding.slug, package.roles, package.policies))
        if package.pools:  # pools it ships, created once (the tenant's admins own them after)
            from metacrm.access.changes import apply_package_pools

            counts["created"] += len(apply_package_pools(tx, binding.slug, package.pools))
        # 4. the package record itself
        record = {
            "api_name": package.name,
            "version": package.version,
            "label": package.label,
            "objects": sorted(package.objects),
        }
        existing = state.get("package", package.name)
        if existing is None or existing.document != record:
            tx.write_definition("package", package.name, record)
        revision = tx.revision if tx.entries else None
    return {**counts, "package": package.name, "version": package.version, "revision": revision}
