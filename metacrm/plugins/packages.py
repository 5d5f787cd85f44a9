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
import hashlib
import json
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
    """Every package the installed plugins offer, by name (a plugin whose
    package cannot be read is reported broken: :mod:`metacrm.plugins.lifecycle`)."""
    from metacrm.plugins.lifecycle import available_plugins

    return {p.package.name: p.package for p in available_plugins(instance).values() if p.package is not None}


def installed_packages(instance: Instance, binding: TenantBinding) -> list[dict]:
    from metacrm.metadata.model import model_for

    return [d.document for d in model_for(instance, binding).definitions.live("package")]


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


def document_hash(document: Any) -> str:
    """A short fingerprint of a stored definition: a package record keeps
    one per definition it wrote, so an upgrade can tell what the tenant
    changed since (docs/plugins.md, "Versioning and upgrades")."""
    text = json.dumps(document, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def provenance_key(kind: str, key: str) -> str:
    return f"{kind}:{key}"


def _split_key(entry: str) -> tuple[str, str]:
    kind, key = entry.split(":", 1)
    return kind, key


def package_definitions(kinds: KindRegistry, package: Package) -> list[tuple[str, str]]:
    """(kind, key) of every definition ``package`` ships, objects first."""
    keys = [("object", name) for name in package.objects]
    for api_name, docs in package.objects.items():
        for kind in kinds.object_scoped():
            for document in docs.collections.get(kind.collection or "", []):
                keys.append((kind.name, kind.key(api_name, document.get("api_name"))))
    for kind in kinds:
        if not kind.object_scoped and kind.collection:
            keys += [(kind.name, d.get("api_name")) for d in package.collections.get(kind.collection, [])]
    return keys


class _Upgrade:
    """Whether to write each shipped document, given the hashes of what the
    previous version wrote (``base``; None for a first install, which
    writes everything). A definition the tenant changed (or deleted) since
    is kept: silently when the new version ships it unchanged, else
    reported as a conflict. Kept definitions keep their base hash in the
    new record, so the next upgrade still sees them as the tenant's."""

    def __init__(self, tx, base: dict[str, str] | None):
        self.tx = tx
        self.base = base
        self.conflicts: list[dict] = []
        self.kept: set[str] = set()

    def customised(self, kind: str, key: str) -> bool:
        if self.base is None:
            return False
        current = self.tx.state.get(kind, key)
        known = self.base.get(provenance_key(kind, key))
        if current is None:  # deleted by the tenant after it was installed
            return known is not None
        return known is None or document_hash(current.document) != known

    def keep(self, kind: str, key: str, shipped: dict | None = None) -> bool:
        """True when the tenant's version must stay. ``shipped``: the new
        version's document as it would be stored (None: not comparable)."""
        if not self.customised(kind, key):
            return False
        entry = provenance_key(kind, key)
        self.kept.add(entry)
        if shipped is not None and self.base.get(entry) == document_hash(shipped):
            return True  # the package did not change it: nothing to report
        reason = "deleted by the tenant" if self.tx.state.get(kind, key) is None else "changed by the tenant"
        self.conflicts.append({"kind": kind, "key": key, "reason": f"{reason}; the new version was not applied"})
        return True

    def record(self, state, shipped: list[tuple[str, str]]) -> dict[str, str]:
        """The provenance of the new record: the hash of each shipped
        definition as stored now, the base hash of the kept ones."""
        hashes = {}
        for kind, key in shipped:
            entry = provenance_key(kind, key)
            if entry in self.kept and entry in (self.base or {}):
                hashes[entry] = self.base[entry]
            elif state.get(kind, key) is not None:
                hashes[entry] = document_hash(state.get(kind, key).document)
        return hashes


def apply_package(
    instance: Instance,
    binding: TenantBinding,
    package: Package,
    actor: audit.Actor,
    *,
    plugin: str | None = None,
    upgrade_from: dict | None = None,
    on_applied=None,
) -> dict:
    """Bring the tenant's definitions in line with ``package``, in ONE
    metadata change. Returns counts of created / updated / unchanged
    definitions, the revision (None if nothing changed) and ``conflicts``.

    ``plugin`` names the plugin the package belongs to (default: the
    package's name); its record then marks the plugin installed. Objects
    and fields of the package found in the recycle bin (an uninstall) are
    restored with their data. ``upgrade_from``: the package record of the
    installed version; definitions the tenant changed since are kept and
    reported, and those the new version no longer ships go (objects and
    fields into the recycle bin) unless changed. ``on_applied(tx)`` runs
    last, in the same transaction (the plugin's callbacks)."""
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    kinds = definition_kinds(instance)
    object_kinds = _object_kinds(kinds, package)
    tenant_kinds = _tenant_kinds(kinds, package)
    service = metadata_service(instance, binding, actor)
    with service.change(f"install package {package.name} {package.version}") as tx:
        state = tx.state
        upgrade = _Upgrade(tx, (upgrade_from or {}).get("definitions"))

        def count(changed: bool, created: bool = False) -> None:
            counts["created" if created else "updated" if changed else "unchanged"] += 1

        # 0. what an uninstall put in the recycle bin comes back, with its data
        for api_name in package.objects:
            binned = state.get("object", api_name, include_deleted=True)
            if binned is not None and not binned.live:
                tx.restore_object(api_name)
            for document in package.objects[api_name].fields:
                item = state.get("field", f"{api_name}.{document.get('api_name')}", include_deleted=True)
                if item is not None and not item.live and state.object(api_name) is not None:
                    tx.restore_field(api_name, document["api_name"])
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
                key = f"{api_name}.{document.get('api_name', '')}"
                current = state.field(api_name, document.get("api_name", ""))
                if current is not None and normalized_field(document) == current:
                    count(False)
                elif not upgrade.keep("field", key, normalized_field(document)):
                    tx.put("field", api_name, normalized_field(document) if current else document)
                    count(True, created=current is None)
        # 3. object documents (name field, search fields), then layouts, list views, rules…
        for api_name, docs in package.objects.items():
            current = state.object(api_name)
            if current is None:
                raise NotFound(f"object {api_name} is in the recycle bin: restore it before installing {package.name}")
            wanted = {**current, **copy.deepcopy(docs.definition)}
            if current != wanted and (api_name in new_objects or not upgrade.keep("object", api_name)):
                tx.put("object", None, wanted)
            for kind in object_kinds:
                for document in docs.collections.get(kind.collection, []):
                    key = kind.key(api_name, document.get("api_name"))
                    existing = state.get(kind.name, key)
                    if existing is not None and existing.document == document:
                        count(False)
                    elif not upgrade.keep(kind.name, key, document):
                        tx.put(kind.name, api_name, document)
                        count(True, created=existing is None)
        # 3b. tenant-wide definitions (apps), once every object exists
        for kind in tenant_kinds:
            for document in package.collections.get(kind.collection, []):
                key = kind.key(None, document.get("api_name"))
                existing = state.get(kind.name, key)
                if existing is not None and existing.document == document:
                    count(False)
                elif not upgrade.keep(kind.name, key, document):
                    tx.put(kind.name, None, document)
                    count(True, created=existing is None)
        if package.roles or package.policies:  # roles and access it ships, written once like pools
            from metacrm.access.changes import apply_package_access

            counts["created"] += len(apply_package_access(tx, binding.slug, package.roles, package.policies))
        if package.pools:  # pools it ships, created once (the tenant's admins own them after)
            from metacrm.access.changes import apply_package_pools

            counts["created"] += len(apply_package_pools(tx, binding.slug, package.pools))
        # 3c. what the installed version wrote and this one no longer ships
        shipped = package_definitions(kinds, package)
        if upgrade_from:
            still_shipped = set(shipped)
            removed = [
                (kind, key)
                for kind, key in map(_split_key, upgrade_from.get("definitions", {}))
                if (kind, key) not in still_shipped and state.get(kind, key) is not None
            ]
            counts["removed"] = remove_definitions(tx, kinds, [k for k in removed if not upgrade.keep(*k)])
        # 4. the package record itself: what it wrote, as stored now (provenance)
        record = {
            "api_name": package.name,
            "plugin": plugin or package.name,
            "version": package.version,
            "label": package.label,
            "objects": sorted(package.objects),
            "requires": dict(package.manifest.get("requires") or {}),
            "definitions": upgrade.record(state, shipped),
        }
        existing = state.get("package", package.name)
        if existing is None or existing.document != record:
            tx.write_definition("package", package.name, record)
        if on_applied is not None:
            on_applied(tx)
        revision = tx.revision if tx.entries else None
    return {
        **counts,
        "package": package.name,
        "version": package.version,
        "revision": revision,
        "conflicts": upgrade.conflicts,
    }


def remove_definitions(tx, kinds: KindRegistry, keys: list[tuple[str, str]], *, purge: bool = False) -> int:
    """Take the definitions ``keys`` out of the tenant: objects and fields
    into the recycle bin with their data (for good with ``purge``), other
    kinds deleted (a metadata rollback brings them back). Definitions of an
    object going to the bin go with it. Returns how many were removed."""
    objects = {key for kind, key in keys if kind == "object" and tx.state.get("object", key) is not None}
    done = 0
    for kind, key in keys:
        definition_kind = kinds.get(kind)
        item = tx.state.get(kind, key)
        if item is None or kind == "object":
            continue
        object_name = key.split(".", 1)[0] if definition_kind.object_scoped else None
        if object_name in objects:
            continue  # goes to the bin with its object
        api_name = key.split(".", 1)[1] if definition_kind.object_scoped else key
        if kind == "field":
            tx.delete_field(object_name, api_name)
            if purge:
                tx.purge_field(object_name, api_name)
        elif definition_kind.stored_as_is:
            tx.delete(kind, object_name, api_name)
        else:
            continue  # a kind written its own way has no delete path here: it stays
        done += 1
    for name in sorted(objects):
        tx.delete_object(name, along_with=objects)
        done += 1
    if purge:
        for name in sorted(objects):
            tx.purge_object(name)
    return done
