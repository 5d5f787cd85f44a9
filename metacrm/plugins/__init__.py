"""The public plugin API: what a plugin imports from metacrm, and all it
should (the bundled plugins under ``plugins/`` import nothing else; an
import-linter contract and ``tests/test_plugin_api.py`` keep it so).

- Hooks: :data:`hookimpl` marks a hook implementation (the hooks are
  listed in :mod:`metacrm.platform.hooks`); :func:`create_plugin_manager`
  builds a manager with the installed plugins, e.g. to test an entry point.
- Field types (``register_field_types``): subclass :class:`FieldType`; its
  :class:`Widgets` name the Jinja macros the screens use.
- Definition kinds (``register_definition_kinds``): :class:`DefinitionKind`.
- Rule functions (``register_rule_functions``): :class:`Function` with its
  :class:`Param`\\ s, the :class:`RuleType` it returns (:data:`NUMBER`,
  :data:`TEXT`...), a type rule given a :class:`CallCheck` and a SQL form
  given a :class:`SqlCall`.
- Save steps (``register_save_steps``): objects shaped as
  :class:`SaveStep`, seeing a :class:`SaveContext` and the
  :class:`PendingSave`\\ s of a call; they refuse a value with
  ``PendingSave.error`` or raise :class:`ValidationFailed`.
- Record events (``register_record_events``): :class:`RecordEvents`
  scoped to the objects they name, composed in (order, plugin) order.
- Automation actions (``register_automation_actions``):
  :class:`AutomationAction`, called with an :class:`ActionCall`.
- Jobs (``register_jobs``): :class:`JobSpec`, periodic with :func:`crontab`;
  :func:`job_queue` queues one.
- Tenant tables (``tenant_migration_locations``): Alembic scripts create
  them in :func:`target_schema`.
- Metadata packages (``metadata_packages``): names an object or field may
  not take are :data:`PLATFORM_RESERVED` and :func:`reserved_reason`.
- Screens (``register_record_panels``, ``register_record_actions``,
  ``register_list_actions``, ``register_dashboard_widgets``):
  :class:`RecordPanel`, :class:`RecordAction`, :class:`ListAction`,
  :class:`DashboardWidget`; templates and static files from the plugin's
  ``templates/`` and ``static/`` folders.
- Time: :func:`utcnow`, the platform's one clock.

Tests: installing metacrm registers the pytest plugin
:mod:`metacrm.plugins.testing` (a ``pytest11`` entry point), whose fixtures
give a plugin's tests an instance on SQLite and PostgreSQL, an app and a
client, and a tenant with the plugin's metadata package installed.

Discovery, install, upgrade and uninstall of metadata packages
(:mod:`metacrm.plugins.packages`), the request context of the web
layers (:mod:`metacrm.plugins.context`), comments and followers
(:mod:`metacrm.plugins.collaboration`) and satisfaction surveys
(:mod:`metacrm.plugins.surveys`) live in this package too; they are the
platform's, not the plugin API.
"""

from metacrm.metadata.events import RecordEvents
from metacrm.metadata.fieldtypes.base import FieldType, Widgets
from metacrm.metadata.kinds import DefinitionKind
from metacrm.metadata.reserved import PLATFORM_RESERVED, reserved_reason
from metacrm.metadata.saving import PendingSave, SaveContext, SaveStep
from metacrm.platform.clock import utcnow
from metacrm.platform.errors import ValidationFailed
from metacrm.platform.hooks import create_plugin_manager, hookimpl
from metacrm.platform.jobs import JobSpec, crontab, job_queue
from metacrm.platform.migrations import target_schema
from metacrm.plugins.extensions import DashboardWidget, ListAction, RecordAction, RecordPanel
from metacrm.rules.automation.actions import ActionCall, AutomationAction
from metacrm.rules.functions import CallCheck, Function, Param, SqlCall
from metacrm.rules.types import BOOLEAN, DATE, DATETIME, ID, NUMBER, TEXT, RuleType

__all__ = [
    "hookimpl",
    "create_plugin_manager",
    "FieldType",
    "Widgets",
    "DefinitionKind",
    "Function",
    "Param",
    "CallCheck",
    "SqlCall",
    "RuleType",
    "BOOLEAN",
    "DATE",
    "DATETIME",
    "ID",
    "NUMBER",
    "TEXT",
    "SaveStep",
    "RecordEvents",
    "SaveContext",
    "PendingSave",
    "ValidationFailed",
    "AutomationAction",
    "ActionCall",
    "JobSpec",
    "crontab",
    "job_queue",
    "target_schema",
    "PLATFORM_RESERVED",
    "reserved_reason",
    "utcnow",
    "RecordPanel",
    "RecordAction",
    "ListAction",
    "DashboardWidget",
]
