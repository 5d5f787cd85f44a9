"""What a compiled rule reads at run time.

* :class:`RecordContext` — one record for the Python compiler: its field
  values, a resolver for lookup paths, the user, the clock, and (for
  validation and automation rules) the values before the save.
* :class:`SqlContext` — the table and parameters for the SQL compiler.
* :class:`UserGlobals` — the ``$User`` values of both (defined with the
  guard protocol, :mod:`metacrm.metadata.guard`, whose guards answer it).

Depends on :mod:`metacrm.metadata.physical`, :mod:`metacrm.metadata.guard`
and :mod:`metacrm.platform.clock`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa

from metacrm.metadata.guard import UserGlobals
from metacrm.metadata.physical import CompiledModel
from metacrm.platform.clock import utcnow


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class RecordContext:
    """One record, as the Python compiler reads it.

    * ``values``: field values by api name, as Python values (``Decimal``
      or ``int``, ``date``, aware ``datetime``, ``str``, ``bool``, a list
      for multi-picklists and tags, the target id for lookups). Floats,
      naive datetimes and ``;a;b;`` texts are accepted and normalised.
    * ``related(path)``: the value at a lookup path such as
      ``("account", "owner", "email")`` — None when a lookup on the way is
      empty (or its record is in the recycle bin, as in SQL). Without a
      resolver every path is null.
    * ``user``, ``now``, ``today``: ``$User``, ``$Now``/``NOW()``,
      ``$Today``/``TODAY()`` (defaults: no user, the current UTC time, its date).
    * ``prior``, ``is_new``: the values before the save and whether the
      record is being created (ISNEW, ISCHANGED, PRIORVALUE).
    """

    __slots__ = ("values", "_related", "user", "now", "today", "prior", "is_new")

    def __init__(
        self,
        values: Mapping[str, Any] | None = None,
        *,
        related: Callable[[tuple[str, ...]], Any] | None = None,
        user: UserGlobals | None = None,
        now: datetime | None = None,
        today: date | None = None,
        prior: Mapping[str, Any] | None = None,
        is_new: bool = False,
    ):
        self.values = values if values is not None else {}
        self._related = related
        self.user = user or UserGlobals()
        self.now = _utc(now) if now is not None else utcnow()
        self.today = today if today is not None else self.now.date()
        self.prior = prior
        self.is_new = is_new

    def value(self, name: str) -> Any:
        return self.values.get(name)

    def related(self, path: tuple[str, ...]) -> Any:
        return self._related(path) if self._related is not None else None

    def prior_value(self, name: str) -> Any:
        return self.prior.get(name) if self.prior is not None else None


@dataclass(frozen=True)
class SqlContext:
    """Where a compiled SQL expression runs.

    * ``model``, ``object``: the compiled model and the root object.
    * ``table``: the root table or an alias of it (default: the object's
      table); columns are read from it, lookups correlate to it.
    * ``user``: bound as parameters for ``$User.…``.
    * ``now``/``today``: bound for NOW()/TODAY(); when None they are taken
      when the statement executes (so a cached expression never goes stale).
    """

    model: CompiledModel
    object: str
    table: Any = None
    user: UserGlobals = field(default_factory=UserGlobals)
    now: datetime | None = None
    today: date | None = None

    def root_table(self):
        if self.table is not None:
            return self.table
        obj = self.model.object(self.object)
        if obj is None:
            raise KeyError(self.object)
        return obj.table

    def now_parameter(self):
        if self.now is not None:
            return sa.bindparam(None, _utc(self.now), type_=sa.DateTime(timezone=True))
        return sa.bindparam(None, callable_=utcnow, type_=sa.DateTime(timezone=True))

    def today_parameter(self):
        if self.today is not None:
            return sa.bindparam(None, self.today, type_=sa.Date())
        if self.now is not None:
            return sa.bindparam(None, _utc(self.now).date(), type_=sa.Date())
        return sa.bindparam(None, callable_=lambda: utcnow().date(), type_=sa.Date())
