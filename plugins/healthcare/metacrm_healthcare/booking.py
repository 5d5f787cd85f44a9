"""No double booking: a practitioner's live appointments never overlap.

The rule language checks one record; an overlap is a question about the
other appointments of the same practitioner, asked at the moment of the
write. Two concurrent bookings of one slot would both find it free if they
only asked, so the step first locks the practitioner's row (``SELECT … FOR
UPDATE`` on PostgreSQL; on SQLite a write transaction already holds the
database's write lock from its ``BEGIN IMMEDIATE``) and keeps the lock until
the save commits: the second booking waits, then sees the first and is
refused.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from metacrm.plugins import PendingSave, SaveContext

OBJECT = "appointment"
# The fields the check reads: an object of the same name without them (a
# tenant's own "appointment", where the module is not installed) is left alone.
FIELDS = frozenset({"practitioner", "start_at", "end_at", "status"})
# Statuses that free the slot: such an appointment neither blocks nor is blocked.
FREEING = frozenset({"cancelled", "no_show"})


def _utc(value: datetime) -> datetime:
    """Stored datetimes may come back naive (SQLite keeps UTC without an offset)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _slot(save: PendingSave) -> tuple[int, datetime, datetime] | None:
    """(practitioner, start, end) of a live booking this save writes, or None."""
    if save.action == "delete":
        return None
    record = save.current()
    practitioner, start, end = record.get("practitioner"), record.get("start_at"), record.get("end_at")
    if practitioner is None or start is None or end is None or record.get("status") in FREEING:
        return None
    start, end = _utc(start), _utc(end)
    if end <= start:
        return None  # the validation rule ends_after_start refuses it
    if save.before is not None and not ({"practitioner", "start_at", "end_at", "status"} & save.changed()):
        return None  # an edit that leaves the slot alone (a note, a reminder flag) checks nothing
    return practitioner, start, end


def _when(start: datetime, end: datetime) -> str:
    return f"{start:%Y-%m-%d %H:%M}–{end:%H:%M} UTC"


class NoDoubleBooking:
    """The save step (``register_save_steps``); it acts on appointments only."""

    # After validation rules (400): a booking they refuse is not worth a lock.
    order = 420

    def before_write(self, ctx: SaveContext, saves: list[PendingSave]) -> None:
        if ctx.obj.api_name != OBJECT or not FIELDS.issubset(ctx.obj.fields):
            return
        slots = {save.index: slot for save in saves if not save.errors and (slot := _slot(save)) is not None}
        if not slots:
            return
        practitioners = sorted({practitioner for practitioner, _, _ in slots.values()})
        self._lock(ctx, practitioners)
        table = ctx.obj.table
        taken: dict[int, list[tuple[datetime, datetime]]] = {}  # bookings earlier in this same call
        for save in saves:
            if save.index not in slots:
                continue
            practitioner, start, end = slots[save.index]
            overlapping = sa.select(table.c.start_at, table.c.end_at).where(
                table.c.practitioner == practitioner,
                table.c.deleted_at.is_(None),
                table.c.status.not_in(sorted(FREEING)),
                table.c.start_at < end,
                table.c.end_at > start,
            )
            if save.record_id is not None:
                overlapping = overlapping.where(table.c.id != save.record_id)
            clash = ctx.conn.execute(overlapping.limit(1)).first()
            if clash is not None:
                clash = (_utc(clash.start_at), _utc(clash.end_at))
            else:
                clash = next(((s, e) for s, e in taken.get(practitioner, []) if s < end and e > start), None)
            if clash is not None:
                save.error(
                    "start_at",
                    f"The practitioner is already booked at {_when(*clash)}: choose another time or practitioner",
                )
            else:
                taken.setdefault(practitioner, []).append((start, end))

    def _lock(self, ctx: SaveContext, practitioners: list[int]) -> None:
        """Hold the practitioners' rows until the save commits, in id order
        (two calls booking the same two practitioners cannot deadlock)."""
        if ctx.conn.dialect.name != "postgresql":
            return  # SQLite: the write transaction already holds the database's write lock
        practitioner = ctx.store.model.object("practitioner").table
        query = sa.select(practitioner.c.id).where(practitioner.c.id.in_(practitioners)).order_by(practitioner.c.id)
        ctx.conn.execute(query.with_for_update(of=practitioner)).all()
