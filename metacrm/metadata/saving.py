"""The save pipeline: steps that run around every record write.

The record store runs the same pipeline for every create, update and delete,
single or bulk, from the API, the screens, imports and automations alike.
Layers above ``metadata`` (the rule language's defaults, layout conditions,
validation rules and automations; a plugin's own checks) plug in as
:class:`SaveStep` objects returned by the ``register_save_steps`` hook. The
order of one save (docs/rules.md, "Order of execution") is:

1. the store loads and type-checks the values the caller sent (field types,
   field-level security, read-only and system fields);
2. ``before_write`` of every step, by ascending ``order``: steps may change
   ``PendingSave.values`` (defaults, field updates) and add errors;
3. the store checks required fields and references; any error so far
   rejects the whole call (per row for bulk calls) and nothing is written;
4. the store writes the rows and their audit entries;
5. ``after_write`` of every step, by ascending ``order``, in the same
   transaction (related writes, outbox rows, run logs): an exception rolls
   the whole save back;
6. commit; then ``after_commit`` of every step (enqueue jobs; must not fail).

Steps that write records do so through :meth:`SaveContext.nested`, which
shares the transaction and counts the depth, so a chain of automations that
comes back round stops at :data:`MAX_DEPTH`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy.engine import Connection

from metacrm.metadata.physical import CompiledObject
from metacrm.platform import audit

if TYPE_CHECKING:
    from metacrm.metadata.store import RecordStore

# Saves caused by saves (automations updating records that trigger
# automations…) nest at most this deep; deeper is a Conflict naming the chain.
MAX_DEPTH = 5


@dataclass
class PendingSave:
    """One record of a create, update or delete call.

    Values are column values as stored (what ``FieldType.to_db`` returns):
    ``Decimal``, ``date``, ``datetime``, ``str``, ``bool``, lookup ids,
    ``";a;b;"`` texts for multi-picklists and tags."""

    index: int  # position in the call; row errors are reported under it
    action: str  # "create", "update" or "delete"
    values: dict[str, Any]  # the columns to write; steps may add or change entries
    before: Mapping[str, Any] | None = None  # stored columns before the save (None on create)
    given: frozenset[str] = frozenset()  # fields the caller sent
    many: dict[str, list[int]] = field(default_factory=dict)  # many-to-many values being written
    record_id: int | None = None  # known before update/delete, after the insert on create
    errors: dict[str, list[str]] = field(default_factory=dict)

    @property
    def is_new(self) -> bool:
        return self.action == "create"

    def current(self) -> dict[str, Any]:
        """The record as it will be stored: its stored values overlaid with the new ones."""
        return {**(self.before or {}), **self.values}

    def changed(self) -> set[str]:
        """Fields whose value this save changes (every given field on create)."""
        if self.before is None:
            return set(self.values)
        return {name for name, value in self.values.items() if self.before.get(name) != value}

    def error(self, field_name: str, message: str) -> None:
        self.errors.setdefault(field_name, []).append(message)


@dataclass
class SaveContext:
    """What a step sees of the call it runs in."""

    conn: Connection  # the transaction of the save
    store: RecordStore  # the store making the call (its guard, actor, model)
    obj: CompiledObject
    action: str
    depth: int = 0  # 0 for a user's call; +1 for each save a step causes

    @property
    def actor(self) -> audit.Actor:
        return self.store.actor

    @property
    def instance(self):
        """The :class:`~metacrm.platform.instance.Instance` (its job queue,
        its plugins), or None for a store built without one."""
        return self.store.instance

    def nested(self, guard=None) -> RecordStore:
        """A record store writing in this same transaction, one level deeper,
        acting with ``guard`` (default: the caller's)."""
        return self.store.nested(self.conn, guard=guard, depth=self.depth + 1)


class SaveStep(Protocol):
    """A step of the save pipeline; every method is optional."""

    order: int  # lower runs first; see docs/rules.md for the built-in numbers

    def before_write(self, ctx: SaveContext, saves: list[PendingSave]) -> None: ...

    def after_write(self, ctx: SaveContext, saves: list[PendingSave]) -> None: ...

    def after_commit(self, ctx: SaveContext, saves: list[PendingSave]) -> None: ...


def ordered(steps) -> tuple:
    return tuple(sorted(steps, key=lambda step: getattr(step, "order", 0)))
