"""Hook implementations of metacrm.data.exports (see :mod:`metacrm.data.plugin`):
the export job and the daily purge of expired export files."""

from metacrm.platform.hooks import hookimpl


@hookimpl
def register_jobs():
    from metacrm.data.exports.files import JOBS

    return list(JOBS)
