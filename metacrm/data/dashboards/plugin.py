"""Hook implementations of metacrm.data.dashboards (see :mod:`metacrm.data.plugin`)."""

from metacrm.platform.hooks import hookimpl

from . import kind


@hookimpl
def register_definition_kinds():
    return list(kind.KINDS)
