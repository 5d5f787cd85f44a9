"""Deleting records: soft delete into the recycle bin, restore, and purge
for good. Each applies the on-delete rule of every lookup pointing at the
records (restrict, set null, or cascade to the referring records, which a
restore brings back too); a purge also removes link-table rows."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from metacrm.metadata.physical import CompiledObject
from metacrm.metadata.saving import PendingSave, SaveContext
from metacrm.platform import audit
from metacrm.platform.clock import utcnow
from metacrm.platform.errors import Conflict, NotFound

from . import sealing
from .base import _record_id
from .write import Writes


class Deletes(Writes):
    """``delete``, ``restore`` and ``purge`` with their cascades. Built on
    :class:`Writes`: a delete is a save (action ``delete``) and runs the
    same pipeline steps."""

    def _referrers(self, target: str):
        """(object, lookup field, on-delete rule) of every relation pointing at ``target``."""
        for other in self.model.objects.values():
            for field_type in other.fields.values():
                if field_type.is_lookup and field_type.reference_target == target:
                    yield other, field_type.api_name, field_type.on_delete

    def delete(self, object_name: str, record_id: Any) -> None:
        """Soft delete into the recycle bin, applying each lookup's on-delete rule."""
        obj = self.object(object_name)
        self.guard.require("delete", obj)
        record_id = _record_id(record_id)
        now = utcnow()
        with self._begin() as conn:
            found = conn.execute(
                sa.select(obj.table).where(self._scoped("delete", obj), obj.table.c.id == record_id)
            ).first()
            if found is None:
                raise NotFound(f"no {object_name} {record_id}")
            before = sealing.open_row(self.registry, obj.api_name, obj.fields, dict(found._mapping))
            saves = [PendingSave(0, "delete", {}, before=before, record_id=record_id)]
            ctx = SaveContext(conn, self, obj, "delete", self.depth)
            self._prepare(ctx, saves, single=True)
            effects: dict[str, Any] = {}
            self._soft_delete(conn, obj, [record_id], now, effects)
            audit.record(
                conn, self.actor, "record.deleted", object=obj.api_name, record_id=record_id, details=effects or None
            )
            self._run_steps("after_write", ctx, saves)
            self._run_steps("after_commit", ctx, saves)

    def _soft_delete(self, conn: Connection, obj: CompiledObject, ids: list[int], now, effects: dict, depth=0) -> None:
        if depth > 10:
            raise Conflict("cascading deletes nest too deeply")
        # Into the bin first: a cascade that comes back round (a record that is
        # its own parent, a cycle of lookups) then finds nothing left to delete.
        conn.execute(
            obj.table.update()
            .where(obj.table.c.id.in_(ids))
            .values(deleted_at=now, updated_at=now, updated_by=self.actor.user_id, version=obj.table.c.version + 1)
        )
        for other, field_name, on_delete in self._referrers(obj.api_name):
            column = other.table.c[field_name]
            live = sa.and_(column.in_(ids), other.table.c.deleted_at.is_(None))
            if on_delete == "restrict":
                blocking = conn.execute(sa.select(sa.func.count()).select_from(other.table).where(live)).scalar()
                if blocking:
                    raise Conflict(
                        f"{blocking} {other.api_name} record(s) still refer to it through {field_name}",
                        details={"restricted_by": f"{other.api_name}.{field_name}", "count": blocking},
                    )
            elif on_delete == "set_null":
                result = conn.execute(
                    other.table.update()
                    .where(live)
                    .values(
                        {
                            field_name: None,
                            "updated_at": now,
                            "updated_by": self.actor.user_id,
                            "version": other.table.c.version + 1,
                        }
                    )
                )
                if result.rowcount:
                    effects.setdefault("cleared", {})[f"{other.api_name}.{field_name}"] = result.rowcount
            else:
                children = conn.execute(sa.select(other.table.c.id).where(live)).scalars().all()
                if children:
                    effects.setdefault("cascaded", {}).setdefault(other.api_name, []).extend(children)
                    self._soft_delete(conn, other, children, now, effects, depth + 1)

    def restore(self, object_name: str, record_id: Any) -> dict:
        """Back from the recycle bin, with the records its delete cascaded to."""
        obj = self.object(object_name)
        self.guard.require("delete", obj)
        record_id = _record_id(record_id)
        with self._begin() as conn:
            deleted_at = conn.execute(
                sa.select(obj.table.c.deleted_at).where(
                    self._scoped("delete", obj, deleted=True), obj.table.c.id == record_id
                )
            ).scalar()
            if deleted_at is None:
                raise NotFound(f"no {object_name} {record_id} in the recycle bin")
            self._undelete(conn, obj, [record_id], deleted_at)
            audit.record(conn, self.actor, "record.restored", object=obj.api_name, record_id=record_id)
        return self.get(object_name, record_id)

    def _undelete(self, conn: Connection, obj: CompiledObject, ids: list[int], deleted_at, depth=0) -> None:
        conn.execute(
            obj.table.update()
            .where(obj.table.c.id.in_(ids))
            .values(
                deleted_at=None, updated_at=utcnow(), updated_by=self.actor.user_id, version=obj.table.c.version + 1
            )
        )
        if depth > 10:
            return
        for other, field_name, on_delete in self._referrers(obj.api_name):
            if on_delete != "cascade":
                continue
            children = (
                conn.execute(
                    sa.select(other.table.c.id).where(
                        other.table.c[field_name].in_(ids), other.table.c.deleted_at == deleted_at
                    )
                )
                .scalars()
                .all()
            )
            if children:
                self._undelete(conn, other, children, deleted_at, depth + 1)

    def purge(self, object_name: str, record_ids: list[int] | None = None, *, older_than=None) -> int:
        """Delete records from the recycle bin for good (by id, or all deleted
        before ``older_than``). Returns how many were purged."""
        obj = self.object(object_name)
        self.guard.require("delete", obj)
        where = [self._scoped("delete", obj, deleted=True)]
        if record_ids is not None:
            where.append(obj.table.c.id.in_([_record_id(i) for i in record_ids]))
        if older_than is not None:
            where.append(obj.table.c.deleted_at < older_than)
        with self._begin() as conn:
            ids = conn.execute(sa.select(obj.table.c.id).where(*where)).scalars().all()
            if ids:
                self._hard_delete(conn, obj, ids)
                audit.record(
                    conn,
                    self.actor,
                    "record.purged",
                    object=obj.api_name,
                    details={"ids": ids[:1000], "count": len(ids)},
                )
        return len(ids)

    def _hard_delete(self, conn: Connection, obj: CompiledObject, ids: list[int], depth=0) -> None:
        for other, field_name, on_delete in self._referrers(obj.api_name):
            column = other.table.c[field_name]
            if on_delete == "cascade" and depth < 10:
                children = conn.execute(sa.select(other.table.c.id).where(column.in_(ids))).scalars().all()
                if children:
                    self._hard_delete(conn, other, children, depth + 1)
            else:
                conn.execute(other.table.update().where(column.in_(ids)).values({field_name: None}))
        for other in self.model.objects.values():
            for name, junction in other.junctions.items():
                if other.fields[name].reference_target == obj.api_name:
                    conn.execute(junction.delete().where(junction.c.target_id.in_(ids)))
        for junction in obj.junctions.values():
            conn.execute(junction.delete().where(junction.c.source_id.in_(ids)))
        conn.execute(obj.table.delete().where(obj.table.c.id.in_(ids)))
