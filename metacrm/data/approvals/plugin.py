"""Hook implementations of metacrm.data.approvals (see :mod:`metacrm.data.plugin`):
the ``approval_process`` definition kind, the type-check of its conditions
and the record lock save step."""

from metacrm.platform.hooks import hookimpl


@hookimpl
def register_definition_kinds():
    from metacrm.data.approvals.processes import APPROVAL_PROCESS

    return [APPROVAL_PROCESS]


@hookimpl
def check_definitions(definitions, model):
    from metacrm.data.approvals.processes import check_definitions as check

    return check(definitions, model)


@hookimpl
def register_save_steps():
    from metacrm.data.approvals.lock import SAVE_STEPS

    return list(SAVE_STEPS)
