"""Merging duplicates: one survivor keeps the chosen values; what pointed at
the losers points at it; the losers go to the recycle bin.

:func:`merge` runs in one transaction through the record store: the caller
must be able to update the survivor and delete each loser (their guard);
the survivor's new values are an ordinary update (validation, automations,
audit); every lookup of any object pointing at a loser (related records,
activities and so the timeline) is moved to the survivor by a store acting
for the platform, since moving them is part of a merge the user may do
(records outside their own scope are not left pointing at the recycle
bin), and so are the many-to-many links to a loser (in their link tables,
one link kept where a record linked both); an audit entry ``record.merged``
lists the losers and what moved.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from metacrm.metadata.guard import SystemGuard
from metacrm.metadata.store import MAX_LIMIT, RecordStore
from metacrm.platform import audit
from metacrm.platform.errors import ValidationFailed

MAX_LOSERS = 2


def _ids(survivor: Any, losers: Any) -> tuple[int, list[int]]:
    errors: dict[str, list[str]] = {}
    if not isinstance(survivor, int) or isinstance(survivor, bool) or survivor <= 0:
        errors["survivor"] = ["must be a record id"]
    if not isinstance(losers, list) or not losers or len(losers) > MAX_LOSERS:
        errors["losers"] = [f"must be a list of 1 to {MAX_LOSERS} record ids"]
    elif any(not isinstance(i, int) or isinstance(i, bool) or i <= 0 for i in losers):
        errors["losers"] = ["must be record ids"]
    elif survivor in losers or len(set(losers)) != len(losers):
        errors["losers"] = ["must be other records than the survivor, each once"]
    if errors:
        raise ValidationFailed("the merge is not valid: " + "; ".join(f"{k} {v[0]}" for k, v in errors.items()),
                               details={"fields": errors})  # fmt: skip
    return survivor, list(losers)


def _references(store: RecordStore, object_name: str):
    """(object, lookup field) of every lookup pointing at ``object_name``."""
    for other in store.model.objects.values():
        for field_type in other.fields.values():
            if field_type.is_lookup and field_type.reference_target == object_name:
                yield other.api_name, field_type.api_name


def _links(store: RecordStore, object_name: str):
    """(object, many-to-many field, its link table) of every link field to ``object_name``."""
    for other in store.model.objects.values():
        for field_type in other.fields.values():
            if field_type.stores_links and field_type.reference_target == object_name:
                yield other.api_name, field_type.api_name, other.junctions[field_type.api_name]


def _move_links(conn, junction, survivor_id: int, loser_ids: list[int]) -> int:
    """Point the links at the losers to the survivor (a record already linked
    to both keeps one link); how many records now link the survivor instead."""
    losing = junction.c.target_id.in_(loser_ids)
    sources = set(conn.execute(sa.select(junction.c.source_id).where(losing)).scalars())
    if not sources:
        return 0
    already = set(
        conn.execute(
            sa.select(junction.c.source_id).where(
                junction.c.target_id == survivor_id, junction.c.source_id.in_(sources)
            )
        ).scalars()
    )
    conn.execute(junction.delete().where(losing))
    new = sorted(sources - already)
    if new:
        conn.execute(junction.insert(), [{"source_id": source, "target_id": survivor_id} for source in new])
    return len(sources)


def merge(store: RecordStore, object_name: str, survivor: Any, losers: Any, values: dict | None = None) -> dict:
    """Merge ``losers`` into ``survivor``; the survivor as it is afterwards,
    with ``merged`` (the losers' ids) and ``moved`` (``{"object.field": n}``)."""
    survivor_id, loser_ids = _ids(survivor, losers)
    if values is not None and not isinstance(values, dict):
        raise ValidationFailed("values must be an object", details={"fields": {"values": ["must be an object"]}})
    obj = store.object(object_name)
    store.guard.require("update", obj)
    store.guard.require("delete", obj)
    moved: dict[str, int] = {}
    callbacks: list = []
    with store.binding.begin() as conn:
        tx = store.nested(conn, depth=store.depth)
        tx.get(object_name, survivor_id, action="update", fields=[])
        for loser in loser_ids:
            tx.get(object_name, loser, action="delete", fields=[])
        system = tx.nested(conn, guard=SystemGuard(), depth=store.depth)
        for other, field in _references(store, object_name):
            count = 0
            while True:
                page = system.query(other, filters=[(field, "in", ",".join(map(str, loser_ids)))], fields=[],
                                    limit=MAX_LIMIT)  # fmt: skip
                if not page.data:
                    break
                for record in page.data:
                    system.update(other, record["id"], {field: survivor_id})
                    count += 1
            if count:
                moved[f"{other}.{field}"] = count
        for other, field, junction in _links(store, object_name):
            count = _move_links(conn, junction, survivor_id, loser_ids)
            if count:
                moved[f"{other}.{field}"] = count
        for loser in loser_ids:
            tx.delete(object_name, loser)
        # After the losers left: the survivor's new values are not their duplicates any more.
        if values:
            tx.update(object_name, survivor_id, dict(values))
        audit.record(
            conn,
            store.actor,
            "record.merged",
            object=object_name,
            record_id=survivor_id,
            details={"losers": loser_ids, "moved": moved, "fields": sorted(values or {})},
        )
        callbacks = list(tx._after_commit or [])
    for callback in callbacks:
        callback()
    result = store.get(object_name, survivor_id)
    return {**result, "merged": loser_ids, "moved": moved}
