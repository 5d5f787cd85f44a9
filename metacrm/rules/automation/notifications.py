"""A user's in-app notifications (written by NOTIFY actions): the one place
that reads them and marks them read, for the REST API
(``/api/v1/notifications``) and the screens (the bell, ``/notifications``).

Every function takes the tenant binding and the user's id: a user sees and
marks only their own notifications.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from metacrm.platform.clock import utcnow
from metacrm.platform.database import TenantBinding
from metacrm.platform.errors import NotFound
from metacrm.rules.automation.tables import notifications


@dataclass(frozen=True)
class NotificationPage:
    """Newest first; ``next_before`` is the id to pass as ``before`` for the
    next page (None on the last one)."""

    rows: list[dict[str, Any]]
    unread: int
    next_before: int | None


def _mine(user_id: int):
    return notifications.c.user_id == user_id


def unread_count(tenant: TenantBinding, user_id: int) -> int:
    with tenant.connect() as conn:
        return _unread(conn, user_id)


def _unread(conn, user_id: int) -> int:
    query = (
        sa.select(sa.func.count()).select_from(notifications).where(_mine(user_id), notifications.c.read_at.is_(None))
    )
    return conn.execute(query).scalar() or 0


def page(
    tenant: TenantBinding, user_id: int, *, limit: int, unread_only: bool = False, before: int | None = None
) -> NotificationPage:
    """One page of the user's notifications, newest first, with the unread count."""
    query = sa.select(notifications).where(_mine(user_id))
    if unread_only:
        query = query.where(notifications.c.read_at.is_(None))
    if before is not None:
        query = query.where(notifications.c.id < before)
    with tenant.connect() as conn:
        rows = [
            dict(row) for row in conn.execute(query.order_by(notifications.c.id.desc()).limit(limit + 1)).mappings()
        ]
        unread = _unread(conn, user_id)
    more = len(rows) > limit
    rows = rows[:limit]
    return NotificationPage(rows, unread, rows[-1]["id"] if more and rows else None)


def mark_read(tenant: TenantBinding, user_id: int, note_id: int) -> dict[str, Any]:
    """Mark one of the user's notifications read (again: a no-op); 404 when
    it is not theirs."""
    mine = sa.and_(notifications.c.id == note_id, _mine(user_id))
    with tenant.begin() as conn:
        row = conn.execute(sa.select(notifications).where(mine)).mappings().first()
        if row is None:
            raise NotFound(f"no notification {note_id}")
        if row["read_at"] is None:
            conn.execute(notifications.update().where(mine).values(read_at=utcnow()))
            row = conn.execute(sa.select(notifications).where(mine)).mappings().first()
    return dict(row)


def mark_all_read(tenant: TenantBinding, user_id: int) -> int:
    """Mark every unread notification of the user read; how many were."""
    with tenant.begin() as conn:
        result = conn.execute(
            notifications.update().where(_mine(user_id), notifications.c.read_at.is_(None)).values(read_at=utcnow())
        )
    return result.rowcount


def notify(
    conn, user_ids, message: str, *, source: str | None = None, object: str | None = None, record_id: int | None = None
) -> None:
    """Write one in-app notification per user in ``user_ids``, in the caller's
    transaction (so it exists only if the change it announces commits).
    ``source`` fills the ``rule`` column: what sent it (``approval:<process>``)."""
    rows = [
        {
            "user_id": int(user_id),
            "rule": source,
            "object": object,
            "record_id": record_id,
            "message": message[:2000],
            "created_at": utcnow(),
        }
        for user_id in dict.fromkeys(user_ids)
    ]
    if rows:
        conn.execute(notifications.insert(), rows)
