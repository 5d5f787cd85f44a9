"""The record store: one generic repository for every object.

Create, get, partial update, soft delete (recycle bin), restore and purge;
bulk create/update (all-or-nothing, errors per row); queries with field
selection, filters, search, sort, keyset and offset pagination, and related
records. Every call is checked by the guard it was built with, every change
is written to the audit log with old and new values in the same transaction,
and every value reaches SQL as a bound parameter.

The store never switches on a field type's name: it asks the type whether
it is a lookup or keeps links in a link table, what it points at, and
whether it numbers itself (:mod:`metacrm.metadata.fieldtypes.base`).

One class, built in layers, each a module:

- :mod:`.base` — :class:`~.base.StoreCore`: the store's state, connection
  and transaction (nested stores), object and field look-ups, row scope;
- :mod:`.query` — :class:`~.query.Queries`: get, query, related;
- :mod:`.write` — :class:`~.write.Writes`: create, update, bulk, the checks
  of every save, auto-numbers, link tables;
- :mod:`.delete` — :class:`~.delete.Deletes`: soft delete, restore, purge
  and their on-delete cascades;
- :mod:`.sealing` — encrypted fields: ciphertexts and blind indexes in,
  clear values out, exact-match filters, key rotation.
"""

from __future__ import annotations

# The audit log every part writes to, as ``store.audit`` (tests break it on purpose).
from metacrm.platform import audit  # noqa: F401

from .base import SYSTEM_FIELD_TYPES
from .delete import Deletes
from .query import DEFAULT_LIMIT, MAX_LIMIT, Page
from .write import MAX_BULK


class RecordStore(Deletes):
    """``steps`` is the save pipeline (:mod:`metacrm.metadata.saving`); build
    stores with :func:`metacrm.metadata.model.record_store` to get the
    instance's steps. A store made by :meth:`nested` works inside another
    store's transaction."""


__all__ = ["DEFAULT_LIMIT", "MAX_BULK", "MAX_LIMIT", "SYSTEM_FIELD_TYPES", "Page", "RecordStore"]
