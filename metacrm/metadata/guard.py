"""The guard protocol: what the record store demands of the access layer.

Every :class:`~metacrm.metadata.store.RecordStore` is built with a guard and
asks it before every read and write, so no code path reaches object data
without one — the store fails closed. ``metacrm.access`` implements it.
"""

from __future__ import annotations

from typing import Protocol

from sqlalchemy.sql.elements import ColumnElement

from metacrm.metadata.physical import CompiledObject

# Actions on records; "read" covers list, count, search, related lists and exports.
RECORD_ACTIONS = ("create", "read", "update", "delete")


class Guard(Protocol):
    def require(self, action: str, obj: CompiledObject) -> None:
        """Raise Forbidden unless the user may do ``action`` on ``obj`` at all."""

    def scope(self, action: str, obj: CompiledObject) -> ColumnElement | None:
        """The WHERE clause limiting the rows ``action`` may touch (None: all rows).
        Used by lists and by single-record checks alike."""

    def readable_fields(self, obj: CompiledObject) -> set[str]:
        """Fields the user may see (and so filter, sort and search on)."""

    def writable_fields(self, obj: CompiledObject) -> set[str]:
        """Fields the user may write."""

    def may_manage_metadata(self) -> bool:
        """Whether the user may change definitions."""
