"""Hook implementations of metacrm.data.marketing (see :mod:`metacrm.data.plugin`)."""

from metacrm.platform.hooks import hookimpl

from . import kind


@hookimpl
def register_definition_kinds():
    return list(kind.KINDS)


@hookimpl
def check_definitions(definitions, model):
    return kind.check_definitions(definitions, model)
