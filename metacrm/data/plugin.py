"""The data layer's parts as built-in plugins; their tenant tables share
one migrations folder, each part on an Alembic branch of its own."""

from pathlib import Path

from metacrm.data.approvals import plugin as approvals_plugin
from metacrm.data.conversion import plugin as conversion_plugin
from metacrm.data.dashboards import plugin as dashboards_plugin
from metacrm.data.duplicates import plugin as duplicates_plugin
from metacrm.data.exports import plugin as exports_plugin
from metacrm.data.forecast import plugin as forecast_plugin
from metacrm.data.imports import plugin as imports_plugin
from metacrm.data.marketing import plugin as marketing_plugin
from metacrm.data.reports import plugin as reports_plugin
from metacrm.platform.hooks import hookimpl


class DataTables:
    @hookimpl
    def tenant_migration_locations(self):
        return [Path(__file__).parent / "migrations"]


BUILTIN = (
    DataTables(),
    imports_plugin,
    exports_plugin,
    duplicates_plugin,
    reports_plugin,
    dashboards_plugin,
    forecast_plugin,
    approvals_plugin,
    marketing_plugin,
    conversion_plugin,
)
