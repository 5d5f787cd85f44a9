"""Hook specifications and the plugin manager.

Every extension point is one function below (the Datasette pattern): its
docstring says when it is called, with what, and what it returns. Built-in parts
(the API, the screens, the standard CRM) register through these same hooks.

Plugins are discovered through the ``metacrm.plugins`` entry-point group.
Built-in plugins run for every tenant; a plugin from an entry point is
*tenant-scoped*: its tenant hooks run only in the tenants where it is
installed (:meth:`PluginManager.for_tenant`, the one accessor; the
installed set is the tenant's package records, docs/plugins.md). A plugin
that fails to import, or whose registration hook raises, is recorded in
:attr:`PluginManager.broken` by name and left out; the platform runs on.
"""

from __future__ import annotations

import importlib.metadata
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pluggy

PROJECT = "metacrm"
ENTRY_POINT_GROUP = "metacrm.plugins"

log = logging.getLogger(__name__)

# Hooks that run per tenant: only the implementations of built-in plugins and
# of plugins installed in the tenant are called (PluginManager.for_tenant).
# The others (blueprints, commands, field types, definition kinds, tenant
# tables, jobs...) make up what the instance can run or read and stay
# instance-wide: a tenant's stored data must stay readable after an uninstall.
TENANT_HOOKS = frozenset(
    {
        "register_save_steps",
        "register_record_events",
        "register_rule_functions",
        "check_definitions",
        "generate_demo_data",
        "plugin_installed",
        "plugin_upgraded",
        "plugin_uninstalled",
        "register_record_panels",
        "register_record_actions",
        "register_list_actions",
        "register_dashboard_widgets",
    }
)

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class HookSpecs:
    @hookspec
    def register_blueprints(self):
        """Return a list of Flask blueprints to register on the app.

        Called once by the app factory, after configuration and the database
        are set up. Every view requires a signed-in user unless it is marked
        with ``metacrm.platform.web.public``."""

    @hookspec
    def register_commands(self, cli):
        """Add click commands or groups to the ``metacrm`` command ``cli``.

        Called once when the command line is built. Returns nothing."""

    @hookspec
    def tenant_migration_locations(self):
        """Return a list of folders (``pathlib.Path``) holding Alembic migration
        scripts for tables the plugin keeps in every tenant namespace.

        Each folder is its own Alembic branch (give the first revision a
        ``branch_labels``). Called whenever a tenant namespace is created or
        upgraded; the scripts run inside the same transaction."""

    @hookspec
    def tenant_secret_columns(self):
        """Return a list of ``{"table": ..., "columns": [...], "restore": ...}``:
        columns of the plugin's tenant tables that hold secrets (signing
        keys, credentials), and in words how an administrator sets them
        again (``restore``).

        Tenant export never writes their values (the manifest lists them as
        ``withheld_secrets``); import leaves them empty — or leaves out the
        rows that cannot be without them — and reports what to set again."""

    @hookspec
    def tenant_created(self, tenant, connection):
        """A tenant namespace was just created and migrated.

        ``tenant`` is the :class:`~metacrm.platform.database.TenantBinding`;
        ``connection`` is inside the creating transaction (write seed rows
        here; raising aborts the whole creation). Returns nothing."""

    @hookspec
    def register_field_types(self):
        """Return a list of field-type classes (subclasses of
        ``metacrm.metadata.fieldtypes.base.FieldType``) to add to the registry.

        Called once when an instance is built. A type's ``name`` must be new:
        a plugin cannot replace a built-in type."""

    @hookspec
    def register_rule_functions(self):
        """Return a list of rule functions (``metacrm.rules.functions.Function``)
        to add to the rule language.

        Called when a tenant's function registry is built
        (``metacrm.rules.functions_for``, once per metadata revision);
        tenant-scoped: a plugin's functions exist only in tenants where it is
        installed. A function's name must be
        new: a plugin cannot replace a built-in function. Give each one a
        Python implementation, a SQL implementation (or None: then it cannot
        be used in filters and record scopes), a doc string and an example."""

    @hookspec
    def register_save_steps(self):
        """Return a list of save-pipeline steps (objects with an ``order`` and
        any of ``before_write``, ``after_write``, ``after_commit``; see
        ``metacrm.metadata.saving``) to run around every record write.

        Called once per instance, when its record stores are first built.
        Steps run by ascending ``order`` (docs/rules.md lists the built-in
        numbers: defaults 100, layout conditions 200, before-save automations
        300, validation rules 400, after-save automations 600)."""

    @hookspec
    def register_definition_kinds(self):
        """Return a list of definition kinds
        (``metacrm.metadata.kinds.DefinitionKind``: a name, a JSON Schema, a
        check against the live definitions, a key per object or tenant-wide,
        how a change writes it, its package file and meta API path) to add
        to the kinds a tenant's metadata can hold.

        Called once per instance, when its kind registry is first needed
        (``metacrm.metadata.kinds.kinds_for``). A kind's name must be new: a
        plugin cannot replace a built-in kind. Documents of the kind are then
        validated and versioned by every metadata change, installed from
        packages, served by the meta API and carried by tenant export and
        import like the built-in ones (docs/plugins.md)."""

    @hookspec
    def check_definitions(self, definitions, model):
        """Check the proposed metadata of a tenant before a change commits.

        ``definitions`` is the :class:`~metacrm.metadata.definitions.DefinitionSet`
        as it will be after the change, ``model`` its compiled model. Return a
        list of ``(kind, key, path, message)`` problems (e.g. a formula that no
        longer type-checks because a field it reads was deleted); any problem
        rejects the whole change with a 422 naming each path. Called at the end
        of every metadata change, in its transaction. The problems must follow
        from ``definitions`` and ``model`` alone (no database, no clock): they
        are kept per set of definitions, so the same definitions in another
        tenant are not checked again."""

    @hookspec
    def register_automation_actions(self):
        """Return a list of automation actions
        (``metacrm.rules.automation.AutomationAction``: a name, a function
        taking an ``ActionCall``, argument types, ``phase`` "before" or
        "after" the write, ``slow`` for work done on a job) that automation
        rules call with ``CALL name(args)``.

        Called when an instance first runs or checks automations. Names must
        be unique across plugins. The access layer registers the
        round-robin / least-busy owner assignment and return-to-pool actions
        through this hook (docs/automation.md)."""

    @hookspec
    def metadata_packages(self):
        """Return a list of folders (``pathlib.Path``), each a metadata package
        (``package.yaml`` plus ``objects/<name>/*.yaml``; see docs/plugins.md).

        Called when packages are listed or installed (``metacrm package``)."""

    @hookspec
    def register_jobs(self):
        """Return a list of ``metacrm.platform.jobs.JobSpec``: background jobs
        (enqueued by name) and periodic ones (with a ``schedule`` crontab).

        Called once per instance when its job queue is built, in web workers
        and in ``metacrm worker`` alike."""

    @hookspec
    def generate_demo_data(self, tenant, create, owner_ids, progress):
        """Fill the freshly created demo tenant with sample records.

        ``create(object_api_name, rows) -> list[int]`` inserts up to 1,000 rows
        (dicts of field values, optionally with ``owner_id``) through the
        record store and returns their ids; ``owner_ids`` are the demo users;
        ``progress(object_api_name, done, total)`` reports progress. Called by
        ``metacrm demo`` after the plugins' metadata packages are installed.
        Returns a dict of counts per object (or None)."""

    @hookspec
    def register_record_events(self):
        """Return a list of :class:`metacrm.metadata.events.RecordEvents`:
        handlers of the save events of the objects each one names
        (``objects``), with any of ``before_save``, ``after_save``,
        ``after_delete`` and ``on_stage_change``.

        Tenant-scoped: a plugin's handlers run only in tenants where it is
        installed. Every plugin's handlers of an event run, ordered by
        (``order``, plugin name). ``before_save`` runs before validation
        rules and may change values or refuse one (``PendingSave.error``);
        the others run after the write, in its transaction. A handler that
        raises anything but ``ValidationFailed`` rolls the whole save back
        and the caller gets a 500 ``plugin_failed`` naming the plugin.
        Collected once per instance."""

    @hookspec
    def plugin_installed(self, tenant, connection, plugin, version):
        """``plugin`` (its name) at ``version`` was just installed in
        ``tenant`` (a ``TenantBinding``); ``connection`` is inside the
        installing transaction, after its definitions were applied (write
        seed rows here; raising aborts the whole install). Only the
        installed plugin's own implementation is called."""

    @hookspec
    def plugin_upgraded(self, tenant, connection, plugin, old_version, new_version):
        """``plugin`` was upgraded from ``old_version`` to ``new_version`` in
        ``tenant``, inside the upgrading transaction (migrate the plugin's
        own rows here; raising aborts the upgrade). Only the upgraded
        plugin's implementation is called."""

    @hookspec
    def plugin_uninstalled(self, tenant, connection, plugin, purge):
        """``plugin`` was just uninstalled from ``tenant`` (its definitions
        are in the recycle bin, or gone with their data when ``purge``),
        inside the uninstalling transaction. Only the uninstalled plugin's
        implementation is called."""

    @hookspec
    def register_record_panels(self):
        """Return a list of :class:`metacrm.plugins.RecordPanel`: cards on the
        record page of the objects each names, after the layout's sections.

        A panel's ``template`` is a file of the plugin's ``templates/``
        folder, named ``"<plugin>/<file>"``; it is rendered with ``panel`` =
        ``context(store, record)`` (the signed-in user's record store: reads
        pass the guard), ``record`` and ``obj``. Autoescaped; no inline script
        or style (the CSP refuses them): static files are served from the
        plugin's ``static/`` folder at ``/plugins/<plugin>/static/<file>``.
        Tenant-scoped; called on every record page (keep it cheap). A panel
        whose context raises shows "cannot be shown"; the page renders."""

    @hookspec
    def register_record_actions(self):
        """Return a list of :class:`metacrm.plugins.RecordAction`: entries of
        the record page's Actions menu on the objects each names, for users
        holding its ``permission`` on the object. Choosing one posts (CSRF-
        checked, through the guard) to the platform, which calls
        ``run(store, record)`` and shows the text it returns; a
        ``ValidationFailed`` it raises is shown as the refusal. ``name`` is
        unique among the tenant's record actions. Tenant-scoped."""

    @hookspec
    def register_list_actions(self):
        """Return a list of :class:`metacrm.plugins.ListAction`: choices of a
        list's bulk bar on the objects each names, for users holding its
        ``permission``. Applying one calls ``run(store, object_name, ids)``
        with the selected ids the user can read and shows the text it
        returns. ``name`` is unique among the tenant's list actions.
        Tenant-scoped."""

    @hookspec
    def register_dashboard_widgets(self):
        """Return a list of :class:`metacrm.plugins.DashboardWidget`: widget
        types a dashboard definition names with ``type: plugin`` and
        ``widget: <type>``. The widget renders the type's ``template`` with
        ``widget`` = ``context(store, definition)`` (the viewer's record
        store); the API answers that dict as ``data``. Tenant-scoped: in a
        tenant without the plugin the widget says its type is unknown."""

    @hookspec
    def app_started(self, app):
        """The Flask ``app`` is fully built. Called once at the end of the
        factory, e.g. to add template globals. Returns nothing."""


class PluginManager(pluggy.PluginManager):
    """pluggy's manager with what the platform needs to know of each plugin:
    the distribution and version of a tenant-scoped one (every other plugin
    is built in and runs for every tenant), and which plugins are broken."""

    def __init__(self) -> None:
        super().__init__(PROJECT)
        self.add_hookspecs(HookSpecs)
        # plugin name -> (distribution name, version) of tenant-scoped plugins
        self.distributions: dict[str, tuple[str, str]] = {}
        # plugin name -> why it is left out (import error, raising hook)
        self.broken: dict[str, str] = {}
        self._tenant_hooks: dict[frozenset[str], TenantHooks] = {}

    def register_tenant_plugin(self, plugin: Any, name: str, distribution: str, version: str) -> None:
        """Register a tenant-scoped plugin (what entry points give; tests
        register module objects this way)."""
        self.register(plugin, name=name)
        self.distributions[name] = (distribution, version)
        self._tenant_hooks.clear()

    def load_entry_points(self) -> None:
        """Register every plugin of the ``metacrm.plugins`` entry points; one
        that fails to import is reported by name and skipped."""
        for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            if self.get_plugin(entry_point.name) is not None or entry_point.name in self.broken:
                continue
            try:
                plugin = entry_point.load()
            except Exception as exc:  # noqa: BLE001 - any import failure of a plugin is reported, not raised
                self.report_broken(entry_point.name, f"cannot be loaded: {exc!r}")
                continue
            dist = entry_point.dist
            self.register_tenant_plugin(
                plugin, entry_point.name, dist.name if dist else entry_point.name, dist.version if dist else "0"
            )

    def report_broken(self, name: str, reason: str) -> None:
        """Leave plugin ``name`` out from now on, and say why (log, ``metacrm
        plugin list``, the plugins screen)."""
        log.error("plugin %s is broken and left out: %s", name, reason)
        self.broken.setdefault(name, reason)
        plugin = self.get_plugin(name)
        if plugin is not None:
            self.unregister(plugin)
            self.distributions.pop(name, None)
            self._tenant_hooks.clear()

    def tenant_plugins(self) -> dict[str, tuple[str, str]]:
        """The loaded tenant-scoped plugins: name -> (distribution, version)."""
        return dict(self.distributions)

    def each(self, hook_name: str, **kwargs: Any) -> Iterator[tuple[str, Any]]:
        """Call every implementation of a registration hook on its own and
        yield ``(plugin name, result)``; one that raises makes its plugin
        broken (reported, left out) instead of failing the caller."""
        for impl in reversed(getattr(self.hook, hook_name).get_hookimpls()):
            try:
                result = impl.function(*[kwargs[name] for name in impl.argnames])
            except Exception as exc:  # noqa: BLE001 - a plugin's failure is its own, reported by name
                if impl.plugin_name not in self.distributions:
                    raise  # a built-in plugin's failure is the platform's bug
                self.report_broken(impl.plugin_name, f"{hook_name} raised {exc!r}")
                continue
            yield impl.plugin_name, result

    def for_tenant(self, installed: Iterable[str]) -> TenantHooks:
        """The hooks as a tenant with the plugins ``installed`` sees them:
        for the hooks in :data:`TENANT_HOOKS`, only built-in plugins and the
        installed ones are called."""
        key = frozenset(installed)
        hooks = self._tenant_hooks.get(key)
        if hooks is None:
            left_out = [
                plugin for name, plugin in self.list_name_plugin() if name in self.distributions and name not in key
            ]
            hooks = self._tenant_hooks[key] = TenantHooks(self, left_out)
        return hooks

    def runs_for(self, plugin_name: str, installed: Iterable[str]) -> bool:
        """Whether ``plugin_name``'s tenant hooks run with ``installed`` (a
        plugin registered without a distribution is built in)."""
        return plugin_name not in self.distributions or plugin_name in set(installed)


class TenantHooks:
    """``hooks.<name>(...)`` for one installed set: the tenant hooks call
    only the plugins that run for the tenant; the others are the manager's."""

    def __init__(self, pm: PluginManager, left_out: list[Any]):
        self._pm = pm
        self._left_out = left_out
        self._callers: dict[str, Callable[..., Any]] = {}

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name not in TENANT_HOOKS or not self._left_out:
            return getattr(self._pm.hook, name)
        caller = self._callers.get(name)
        if caller is None:
            caller = self._callers[name] = self._pm.subset_hook_caller(name, self._left_out)
        return caller


def create_plugin_manager(builtin_plugins=(), load_entry_points: bool = True) -> PluginManager:
    """Build the plugin manager: the specs, then the built-in plugins, then
    the installed ones from the ``metacrm.plugins`` entry points (tenant-scoped)."""
    pm = PluginManager()
    for plugin in builtin_plugins:
        pm.register(plugin)
    if load_entry_points:
        pm.load_entry_points()
    return pm
