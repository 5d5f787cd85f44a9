"""Hook implementations of metacrm.data.exports (see :mod:`metacrm.data.plugin`)."""

from metacrm.platform.hooks import hookimpl  # noqa: F401
