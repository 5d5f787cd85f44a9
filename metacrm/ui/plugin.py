"""Registers the screens (a built-in plugin)."""

from metacrm.plugins import hookimpl
from metacrm.ui.views import blueprint


@hookimpl
def register_blueprints():
    return [blueprint]
