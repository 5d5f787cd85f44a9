"""Registers the screens (a built-in plugin)."""

from pathlib import Path

from metacrm.plugins import hookimpl
from metacrm.ui import views  # noqa: F401  (registers the routes)
from metacrm.ui.blueprint import blueprint
from metacrm.ui.formatting import init_formatting
from metacrm.ui.i18n import init_i18n
from metacrm.ui.plugin_screens import init_plugin_screens
from metacrm.ui.setup import init_setup
from metacrm.ui.shell import init_shell


def _init_app(state) -> None:
    for init in (init_i18n, init_shell, init_formatting, init_setup, init_plugin_screens):
        init(state.app)


blueprint.record_once(_init_app)


@hookimpl
def register_blueprints():
    return [blueprint]


@hookimpl
def tenant_migration_locations():
    """The screens' own tenant tables (recently viewed records, personal list views)."""
    return [Path(__file__).parent / "migrations"]
