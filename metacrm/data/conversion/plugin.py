"""Hook implementations of metacrm.data.conversion (see :mod:`metacrm.data.plugin`):
the ``conversion`` definition kind."""

from metacrm.platform.hooks import hookimpl


@hookimpl
def register_definition_kinds():
    from metacrm.data.conversion.kind import CONVERSION

    return [CONVERSION]
