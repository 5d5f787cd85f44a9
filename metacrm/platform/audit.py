"""The append-only audit log of a tenant: who did what, when, from where.

Writes go through :func:`record` on a connection of the tenant binding.
Changes to a tenant's own data and metadata write their entry inside the
transaction of the change, so both commit (or roll back) together. Changes to
login identities live in the platform namespace (another database file on
SQLite), so their entries are written right after that commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from metacrm.platform.bulk import insert_values
from metacrm.platform.clock import as_utc, utcnow
from metacrm.platform.tables import audit_log


@dataclass(frozen=True)
class Actor:
    """Who acts and from where (request id ties log lines to the entry)."""

    user_id: int | None = None
    email: str | None = None
    ip: str | None = None
    request_id: str | None = None


SYSTEM = Actor(email="system")


def record(
    conn: Connection,
    actor: Actor,
    action: str,
    *,
    object: str | None = None,
    record_id: Any = None,
    details: dict | None = None,
) -> None:
    conn.execute(
        audit_log.insert().values(
            at=utcnow(),
            actor_id=actor.user_id,
            actor_email=actor.email,
            action=action,
            object=object,
            record_id=None if record_id is None else str(record_id),
            details=details,
            ip=actor.ip,
            request_id=actor.request_id,
        )
    )


def record_many(
    conn: Connection, actor: Actor, action: str, *, object: str | None, items: list[tuple[Any, dict | None]]
) -> None:
    """One entry per ``(record_id, details)`` pair, written at once
    (:func:`~metacrm.platform.bulk.insert_values`: bulk operations write a
    thousand entries in one COPY on PostgreSQL)."""
    if not items:
        return
    at = utcnow()
    insert_values(
        conn,
        audit_log,
        _ENTRY_COLUMNS,
        [
            (
                at,
                actor.user_id,
                actor.email,
                action,
                object,
                None if record_id is None else str(record_id),
                details,
                actor.ip,
                actor.request_id,
            )
            for record_id, details in items
        ],
    )


_ENTRY_COLUMNS = ["at", "actor_id", "actor_email", "action", "object", "record_id", "details", "ip", "request_id"]


def entries(
    conn: Connection,
    *,
    action: str | None = None,
    limit: int = 100,
    before_id: int | None = None,
    object: str | None = None,
    record_id: Any = None,
    actor_id: int | None = None,
    field: str | None = None,
    actor_email: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[dict]:
    """Newest first, narrowed to an action (``record.*``: every action that
    starts ``record.``), an object, a record, the user who acted (by id or
    e-mail address), a field (entries whose details name it: values written,
    changes, reads) and a time span (``since`` ≤ at < ``until``)."""
    query = sa.select(audit_log).order_by(audit_log.c.id.desc())
    if action and action.endswith("*"):
        query = query.where(audit_log.c.action.startswith(action[:-1], autoescape=True))
    elif action:
        query = query.where(audit_log.c.action == action)
    if actor_email:
        query = query.where(sa.func.lower(audit_log.c.actor_email) == actor_email.lower())
    if since is not None:
        query = query.where(audit_log.c.at >= since)
    if until is not None:
        query = query.where(audit_log.c.at < until)
    if object:
        query = query.where(audit_log.c.object == object)
    if record_id is not None:
        query = query.where(audit_log.c.record_id == str(record_id))
    if actor_id is not None:
        query = query.where(audit_log.c.actor_id == actor_id)
    if field:
        # A portable pre-filter on the JSON text; names_field() then decides exactly.
        text = sa.cast(audit_log.c.details, sa.Text)
        query = query.where(text.contains(f'"{field}"', autoescape=True))
    rows: list[dict] = []
    while len(rows) < limit:
        page = query.limit(limit)
        if before_id:
            page = page.where(audit_log.c.id < before_id)
        found = [dict(row) for row in conn.execute(page).mappings()]
        for item in found:
            if field is None or names_field(item["details"], field):
                item["at"] = as_utc(item["at"]).isoformat()
                rows.append(item)
        if len(found) < limit or field is None:
            break
        before_id = found[-1]["id"]
    return rows[:limit]


def names_field(details: Any, field: str) -> bool:
    """Whether an entry's details are about ``field``: a value it wrote
    (``values``), a change (``changes``) or a read (``fields``)."""
    if not isinstance(details, dict):
        return False
    for key in ("values", "changes"):
        if isinstance(details.get(key), dict) and field in details[key]:
            return True
    return isinstance(details.get("fields"), list) and field in details["fields"]
