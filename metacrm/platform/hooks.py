"""Hook specifications and the plugin manager.

Every extension point is one function below (the Datasette pattern): its
docstring says when it is called, with what, and what it returns. Built-in parts
(the API, the screens, the standard CRM) register through these same hooks.

Plugins are discovered through the ``metacrm.plugins`` entry-point group.
"""

from __future__ import annotations

import pluggy

PROJECT = "metacrm"
ENTRY_POINT_GROUP = "metacrm.plugins"

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
        (``metacrm.rules.registry_from_plugins``). A function's name must be
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
        of every metadata change, in its transaction."""

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
    def app_started(self, app):
        """The Flask ``app`` is fully built. Called once at the end of the
        factory, e.g. to add template globals. Returns nothing."""


def create_plugin_manager(builtin_plugins=(), load_entry_points: bool = True) -> pluggy.PluginManager:
    """Build the plugin manager: the specs, then the built-in plugins, then
    the installed ones from the ``metacrm.plugins`` entry points."""
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(HookSpecs)
    for plugin in builtin_plugins:
        pm.register(plugin)
    if load_entry_points:
        pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    return pm
