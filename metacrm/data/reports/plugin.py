"""Hook implementations of metacrm.data.reports (see :mod:`metacrm.data.plugin`)."""

from metacrm.platform.hooks import hookimpl  # noqa: F401
