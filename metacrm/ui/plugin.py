"""Registers the screens (a built-in plugin)."""

from pathlib import Path

from metacrm.plugins import hookimpl
from metacrm.ui import views  # noqa: F401  (registers the routes)
from metacrm.ui.blueprint import blueprint
from metacrm.ui.formatting import init_formatting
from metacrm.ui.i18n import init_i18n
from metacrm.ui.shell import init_shell

blueprint.record_once(lambda state: (init_i18n(state.app), init_shell(state.app), init_formatting(state.app)))


@hookimpl
def register_blueprints():
    return [blueprint]


@hookimpl
def tenant_migration_locations():
    """The screens' own tenant tables (recently viewed records, personal list views)."""
    return [Path(__file__).parent / "migrations"]
