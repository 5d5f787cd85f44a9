"""Hook implementations of metacrm.data.duplicates (see :mod:`metacrm.data.plugin`):
the ``duplicate_rule`` definition kind and the duplicate check save step."""

from metacrm.platform.hooks import hookimpl


@hookimpl
def register_definition_kinds():
    from metacrm.data.duplicates.rules import DUPLICATE_RULE

    return [DUPLICATE_RULE]


@hookimpl
def register_save_steps():
    from metacrm.data.duplicates.checks import SAVE_STEPS

    return list(SAVE_STEPS)
