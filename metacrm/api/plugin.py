"""Registers the REST API blueprints (a built-in plugin)."""

from metacrm.api.access import blueprint as access_blueprint
from metacrm.api.approvals import blueprint as approvals_blueprint
from metacrm.api.auth import blueprint as auth_blueprint
from metacrm.api.automations import blueprint as automations_blueprint
from metacrm.api.collaboration import blueprint as collaboration_blueprint
from metacrm.api.conversion import blueprint as conversion_blueprint  # h1: lead conversion
from metacrm.api.dashboards import blueprint as dashboards_blueprint
from metacrm.api.data import blueprint as data_blueprint
from metacrm.api.duplicates import blueprint as duplicates_blueprint
from metacrm.api.exports import blueprint as exports_blueprint
from metacrm.api.forecast import blueprint as forecast_blueprint
from metacrm.api.imports import blueprint as imports_blueprint
from metacrm.api.marketing import blueprint as marketing_blueprint
from metacrm.api.meta import blueprint as meta_blueprint
from metacrm.api.openapi import blueprint as openapi_blueprint
from metacrm.api.ownership import blueprint as ownership_blueprint
from metacrm.api.plugins import blueprint as plugins_blueprint  # h6: plugin lifecycle
from metacrm.api.pools import blueprint as pools_blueprint
from metacrm.api.reports import blueprint as reports_blueprint  # h3: reports
from metacrm.api.rules import blueprint as rules_blueprint
from metacrm.plugins import hookimpl


@hookimpl
def register_blueprints():
    return [
        auth_blueprint,
        meta_blueprint,
        data_blueprint,
        exports_blueprint,
        duplicates_blueprint,
        openapi_blueprint,
        access_blueprint,
        pools_blueprint,
        ownership_blueprint,
        automations_blueprint,
        rules_blueprint,
        imports_blueprint,
        reports_blueprint,  # h3: reports
        forecast_blueprint,  # h4: forecast
        dashboards_blueprint,  # h4: dashboards
        approvals_blueprint,
        marketing_blueprint,
        conversion_blueprint,  # h1: lead conversion
        collaboration_blueprint,
        plugins_blueprint,  # h6: plugin lifecycle
    ]
