"""Hook implementations of metacrm.data.imports (see :mod:`metacrm.data.plugin`):
the ``imports.run`` job."""

from metacrm.platform.hooks import hookimpl


@hookimpl
def register_jobs():
    from metacrm.data.imports.service import JOBS

    return JOBS
