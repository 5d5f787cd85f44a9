"""What every part of the record store shares: the store's state (tenant
binding, compiled model, guard, actor, save pipeline), its connection and
transaction (nested stores write in their caller's), the object and field
look-ups and the guard's row scope, and small helpers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Self

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from metacrm.metadata.guard import Guard
from metacrm.metadata.physical import CompiledModel, CompiledObject
from metacrm.metadata.saving import MAX_DEPTH, PendingSave, SaveContext
from metacrm.platform import audit
from metacrm.platform.database import TenantBinding
from metacrm.platform.errors import BadRequest, Conflict, NotFound

# How system columns are typed for filters and sorting.
SYSTEM_FIELD_TYPES = {
    "id": "integer",
    "owner_id": "integer",
    "created_by": "integer",
    "updated_by": "integer",
    "version": "integer",
    "created_at": "datetime",
    "updated_at": "datetime",
    "deleted_at": "datetime",
}


class StoreCore:
    """The state and plumbing the query, write and delete parts build on."""

    def __init__(
        self,
        binding: TenantBinding,
        model: CompiledModel,
        guard: Guard,
        actor: audit.Actor,
        registry,
        *,
        steps: tuple = (),
        instance=None,
    ):
        self.binding = binding
        self.model = model
        self.guard = guard
        self.actor = actor
        self.registry = registry
        self.steps = steps
        self.instance = instance  # the Instance, for steps that need its jobs or plugins (None in bare tools)
        self.depth = 0
        self._conn: Connection | None = None  # set on nested stores
        self._after_commit: list | None = None  # callbacks of the outermost transaction

    def nested(self, conn: Connection, *, guard: Guard | None = None, depth: int | None = None) -> Self:
        """A store writing in ``conn`` (an open transaction of this tenant),
        ``depth`` levels below a user's call; its after-commit work runs when
        the outermost transaction commits."""
        depth = self.depth + 1 if depth is None else depth
        if depth > MAX_DEPTH:
            raise Conflict(f"saves caused by saves nest more than {MAX_DEPTH} deep; an automation loops")
        inner = type(self)(
            self.binding,
            self.model,
            guard or self.guard,
            self.actor,
            self.registry,
            steps=self.steps,
            instance=self.instance,
        )
        inner.depth = depth
        inner._conn = conn
        inner._after_commit = self._after_commit if self._after_commit is not None else []
        return inner

    @contextmanager
    def _connect(self) -> Iterator[Connection]:
        if self._conn is not None:
            yield self._conn
        else:
            with self.binding.connect() as conn:
                yield conn

    @contextmanager
    def _begin(self) -> Iterator[Connection]:
        """The write transaction (the caller's, for a nested store); after a
        successful commit the queued after-commit callbacks run."""
        if self._conn is not None:
            yield self._conn
            return
        self._after_commit = []
        try:
            with self.binding.begin() as conn:
                yield conn
            callbacks, self._after_commit = self._after_commit, None
            for callback in callbacks:
                callback()
        finally:
            self._after_commit = None

    def _run_steps(self, phase: str, ctx: SaveContext, saves: list[PendingSave]) -> None:
        for step in self.steps:
            method = getattr(step, phase, None)
            if method is None:
                continue
            if phase == "after_commit":
                self._after_commit.append(lambda method=method: method(ctx, saves))
            else:
                method(ctx, saves)

    # -- helpers -------------------------------------------------------------------

    def object(self, api_name: str) -> CompiledObject:
        obj = self.model.object(api_name)
        if obj is None:
            raise NotFound(f"no object {api_name!r}")
        return obj

    def _field_type(self, obj: CompiledObject, name: str):
        if name in obj.fields:
            return obj.fields[name]
        if name in SYSTEM_FIELD_TYPES:
            return self.registry.bind({"api_name": name, "type": SYSTEM_FIELD_TYPES[name]})
        return None

    def _visible(self, obj: CompiledObject) -> set[str]:
        return self.guard.readable_fields(obj) & set(obj.fields)

    @staticmethod
    def _live(obj: CompiledObject, deleted: bool) -> sa.ColumnElement:
        """Records in the recycle bin (``deleted``) or out of it."""
        return obj.table.c.deleted_at.is_not(None) if deleted else obj.table.c.deleted_at.is_(None)

    def _scoped(self, action: str, obj: CompiledObject, *, deleted: bool = False):
        where = [self._live(obj, deleted)]
        scope = self.guard.scope(action, obj)
        if scope is not None:
            where.append(scope)
        return sa.and_(*where)


def _record_id(value: Any) -> int:
    if isinstance(value, bool):
        raise BadRequest(f"{value!r} is not a record id")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise BadRequest(f"{value!r} is not a record id") from None
    if number < 1 or number > 2**63 - 1:
        raise BadRequest(f"{value!r} is not a record id")
    return number
