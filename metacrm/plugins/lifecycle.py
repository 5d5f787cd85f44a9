"""The lifecycle of a plugin in a tenant: install, upgrade, uninstall.

One path for the CLI (``metacrm plugin ...``), the API (``/api/v1/plugins``)
and the plugins screen. A plugin is installed in a tenant when the tenant
holds the package record the install wrote (``package`` definitions, key:
the package name, ``plugin``: the plugin's name); the record also keeps
what the install wrote — a fingerprint of every definition (provenance,
:func:`metacrm.plugins.packages.apply_package`) — and what the plugin
``requires``. Its tenant hooks run only while the record is there
(``metacrm.metadata.model.tenant_hooks``).

Every operation is ONE metadata change (one transaction, one revision):
definitions, pools, the record, and the plugin's own callback
(``plugin_installed``, ``plugin_upgraded``, ``plugin_uninstalled``); a
callback that raises rolls it all back.
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass, field
from pathlib import Path

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from metacrm.metadata.model import definition_kinds, metadata_service, model_for
from metacrm.platform import audit
from metacrm.platform.caches import CacheSlot
from metacrm.platform.database import TenantBinding
from metacrm.platform.errors import Conflict, MetacrmError, NotFound, PluginFailed
from metacrm.platform.instance import Instance
from metacrm.plugins.packages import (
    Package,
    apply_package,
    load_package,
    package_definitions,
    remove_definitions,
)


@dataclass
class PluginInfo:
    """A plugin the instance runs, as an installer sees it."""

    name: str
    distribution: str
    version: str  # its package's version, else its distribution's
    label: str
    package: Package | None = None
    requires: dict[str, str] = field(default_factory=dict)  # plugin -> version range
    platform: str | None = None  # the metacrm versions it runs on


# (package folder, mtime of its package.yaml) -> the package read from it:
# listing plugins reads no YAML twice, and a changed package is read again.
LOADED_PACKAGES: CacheSlot[dict[tuple[str, int], Package]] = CacheSlot("loaded_packages")


def _load(instance: Instance, path: Path) -> Package:
    cache = instance.caches.get_or_build(LOADED_PACKAGES, dict)
    manifest = path / "package.yaml"
    key = (str(path), manifest.stat().st_mtime_ns if manifest.is_file() else 0)
    if key not in cache:
        cache[key] = load_package(path)
    return cache[key]


def platform_version() -> str:
    return importlib.metadata.version("metacrm")


def available_plugins(instance: Instance) -> dict[str, PluginInfo]:
    """The tenant-scoped plugins the instance runs, and any other plugin
    offering a metadata package, by name. A plugin whose package cannot be
    listed or read is reported broken (``instance.pm.broken``) and left out."""
    pm = instance.pm
    packages: dict[str, list[Path]] = {}
    for plugin, paths in pm.each("metadata_packages"):
        packages.setdefault(plugin, []).extend(Path(p) for p in paths or ())
    plugins = {}
    for name in sorted(set(pm.tenant_plugins()) | set(packages)):
        distribution, version = pm.tenant_plugins().get(name, (name, "0"))
        try:
            loaded = [_load(instance, path) for path in packages.get(name, [])]
        except MetacrmError as exc:
            pm.report_broken(name, f"its metadata package cannot be read: {exc.message}")
            continue
        if len(loaded) > 1:
            pm.report_broken(name, "offers more than one metadata package; a plugin ships at most one")
            continue
        package = loaded[0] if loaded else None
        manifest = package.manifest if package else {}
        plugins[name] = PluginInfo(
            name,
            distribution,
            package.version if package else version,
            package.label if package else name,
            package,
            {str(k): str(v) for k, v in (manifest.get("requires") or {}).items()},
            manifest.get("platform"),
        )
    return plugins


def installed_plugins(instance: Instance, binding: TenantBinding) -> dict[str, dict]:
    """The tenant's package records by plugin name."""
    records = model_for(instance, binding).definitions.live("package")
    return {d.document.get("plugin", d.key): d.document for d in records}


def plugin_states(instance: Instance, binding: TenantBinding) -> list[dict]:
    """Each plugin the instance offers, with the version installed in the
    tenant, then those installed in the tenant that the instance no longer
    runs (removed or broken: they can only be uninstalled). ``state`` is
    ``available``, ``installed`` (this version), ``upgradable`` or
    ``missing``; ``required_by``: the installed plugins requiring it."""
    installed = installed_plugins(instance, binding)
    offered = available_plugins(instance)

    def required_by(name: str) -> list[str]:
        return sorted(other for other, r in installed.items() if other != name and name in (r.get("requires") or {}))

    rows = []
    for name, info in sorted(offered.items()):
        here = installed.get(name, {}).get("version")
        manifest = info.package.manifest if info.package else {}
        rows.append(
            {
                "name": name,
                "distribution": info.distribution,
                "label": info.label,
                "version": info.version,
                "installed_version": here,
                "state": "available" if here is None else "installed" if here == info.version else "upgradable",
                "requires": info.requires,
                "required_by": required_by(name),
                "objects": sorted(info.package.objects) if info.package else [],
                "description": manifest.get("description", ""),
                "translations": manifest.get("translations") or {},
            }
        )
    for name, record in sorted(installed.items()):
        if name in offered:
            continue
        rows.append(
            {
                "name": name,
                "distribution": None,
                "label": record.get("label", name),
                "version": None,
                "installed_version": record.get("version"),
                "state": "missing",
                "requires": record.get("requires") or {},
                "required_by": required_by(name),
                "objects": record.get("objects") or [],
                "description": instance.pm.broken.get(name, ""),
                "translations": {},
            }
        )
    return rows


def _available(instance: Instance, name: str) -> PluginInfo:
    plugins = available_plugins(instance)
    if name not in plugins:
        if name in instance.pm.broken:
            raise Conflict(f"plugin {name} is broken: {instance.pm.broken[name]}", details={"plugin": name})
        known = ", ".join(sorted(plugins)) or "none"
        raise NotFound(f"no plugin {name!r}; available: {known}", details={"plugin": name})
    return plugins[name]


def _satisfies(version: str, spec: str) -> bool:
    try:
        return Version(version) in SpecifierSet(spec)
    except (InvalidSpecifier, InvalidVersion):
        return False


def _check_requirements(info: PluginInfo, installed: dict[str, dict]) -> None:
    problems = []
    if info.platform and not _satisfies(platform_version(), info.platform):
        problems.append(f"metacrm {info.platform} (this is {platform_version()})")
    for other, spec in sorted(info.requires.items()):
        record = installed.get(other)
        if record is None:
            problems.append(f"{other} {spec} (not installed)")
        elif not _satisfies(str(record.get("version")), spec):
            problems.append(f"{other} {spec} (installed: {record.get('version')})")
    if problems:
        raise Conflict(
            f"{info.name} {info.version} requires {'; '.join(problems)}",
            details={"plugin": info.name, "requires": problems},
        )


def _callback(instance: Instance, hook_name: str, **kwargs) -> None:
    """Call ``plugin``'s own implementation of a lifecycle hook; one that
    raises aborts the operation with an error naming the plugin."""
    plugin = kwargs["plugin"]
    for impl in getattr(instance.pm.hook, hook_name).get_hookimpls():
        if impl.plugin_name != plugin:
            continue
        try:
            impl.function(*[kwargs[name] for name in impl.argnames])
        except MetacrmError:
            raise
        except Exception as exc:
            raise PluginFailed(
                f"plugin {plugin} failed in {hook_name}: {exc}; nothing was changed",
                details={"plugin": plugin, "hook": hook_name},
            ) from exc


def install(instance: Instance, binding: TenantBinding, name: str, actor: audit.Actor) -> dict:
    """Install plugin ``name`` in the tenant, or bring it to the instance's
    version (an upgrade when another version is installed; idempotent when
    the same is). Checks ``requires`` and the platform version first."""
    info = _available(instance, name)
    installed = installed_plugins(instance, binding)
    _check_requirements(info, installed)
    previous = installed.get(name)
    old_version = previous.get("version") if previous else None

    def callbacks(tx) -> None:
        if previous is None:
            _callback(
                instance,
                "plugin_installed",
                tenant=binding,
                connection=tx.conn,
                plugin=name,
                version=info.version,
            )
        elif old_version != info.version:
            _callback(
                instance,
                "plugin_upgraded",
                tenant=binding,
                connection=tx.conn,
                plugin=name,
                old_version=old_version,
                new_version=info.version,
            )

    if info.package is not None:
        result = apply_package(
            instance, binding, info.package, actor, plugin=name, upgrade_from=previous, on_applied=callbacks
        )
    else:
        result = _record_only(instance, binding, info, actor, callbacks)
    action = "installed" if previous is None else "upgraded" if old_version != info.version else "reapplied"
    return {**result, "plugin": name, "action": action, "previous_version": old_version}


def upgrade(instance: Instance, binding: TenantBinding, name: str, actor: audit.Actor) -> dict:
    """Bring an installed plugin to the instance's version (a diff between
    the versions that keeps the tenant's customisations; see
    :func:`~metacrm.plugins.packages.apply_package`)."""
    if name not in installed_plugins(instance, binding):
        raise NotFound(f"plugin {name} is not installed in {binding.slug}", details={"plugin": name})
    return install(instance, binding, name, actor)


def _record_only(instance: Instance, binding: TenantBinding, info: PluginInfo, actor: audit.Actor, callbacks) -> dict:
    """Install a plugin that ships no metadata: its record alone."""
    record = {
        "api_name": info.name,
        "plugin": info.name,
        "version": info.version,
        "label": info.label,
        "objects": [],
        "requires": info.requires,
        "definitions": {},
    }
    with metadata_service(instance, binding, actor).change(f"install plugin {info.name} {info.version}") as tx:
        existing = tx.state.get("package", info.name)
        if existing is None or existing.document != record:
            tx.write_definition("package", info.name, record)
        callbacks(tx)
        revision = tx.revision if tx.entries else None
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    return {**counts, "package": None, "version": info.version, "revision": revision, "conflicts": []}


def uninstall(
    instance: Instance, binding: TenantBinding, name: str, actor: audit.Actor, *, purge: bool = False
) -> dict:
    """Take plugin ``name`` out of the tenant: its definitions go to the
    recycle bin (objects and fields keep their data; a reinstall brings
    them back) or, with ``purge``, are removed with their data. Refused
    while another installed plugin requires it."""
    installed = installed_plugins(instance, binding)
    record = installed.get(name)
    if record is None:
        raise NotFound(f"plugin {name} is not installed in {binding.slug}", details={"plugin": name})
    dependants = sorted(other for other, r in installed.items() if other != name and name in (r.get("requires") or {}))
    if dependants:
        raise Conflict(
            f"{', '.join(dependants)} require{'s' if len(dependants) == 1 else ''} {name}: uninstall them first",
            details={"plugin": name, "required_by": dependants},
        )
    kinds = definition_kinds(instance)
    if "definitions" in record:
        keys = [tuple(entry.split(":", 1)) for entry in record["definitions"]]
    else:  # installed before installs kept their provenance: what the package ships
        info = available_plugins(instance).get(name)
        keys = package_definitions(kinds, info.package) if info and info.package else []
    summary = f"uninstall plugin {name} {record.get('version')}" + (" (purge)" if purge else "")
    with metadata_service(instance, binding, actor).change(summary) as tx:
        removed = remove_definitions(tx, kinds, keys, purge=purge)
        tx.remove_definition("package", record["api_name"])
        _callback(instance, "plugin_uninstalled", tenant=binding, connection=tx.conn, plugin=name, purge=purge)
        revision = tx.revision
    return {"plugin": name, "version": record.get("version"), "removed": removed, "purged": purge, "revision": revision}
