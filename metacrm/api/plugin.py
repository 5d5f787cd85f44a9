"""Registers the REST API blueprints (a built-in plugin)."""

from metacrm.api.access import blueprint as access_blueprint
from metacrm.api.auth import blueprint as auth_blueprint
from metacrm.api.data import blueprint as data_blueprint
from metacrm.api.meta import blueprint as meta_blueprint
from metacrm.api.openapi import blueprint as openapi_blueprint
from metacrm.plugins import hookimpl


@hookimpl
def register_blueprints():
    return [auth_blueprint, meta_blueprint, data_blueprint, openapi_blueprint, access_blueprint]
