"""Reading the run log and the outbox, and retrying an outbox row: the one
way the REST API (``/api/v1/automation-runs``) and the setup screens
(``/setup/automations/runs``, ``/setup/outbox``) read them.

Both are paged by id, newest first (keyset: ``before`` is the last id of
the previous page). Outbox rows are summarised for people: a webhook shows
its address's origin only (a hook URL often carries a token in its path or
query), never the rule's signing secret. Depends on :mod:`metacrm.platform`
and the automation tables only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

import sqlalchemy as sa

from metacrm.platform import audit
from metacrm.platform.clock import as_utc, utcnow
from metacrm.platform.errors import NotFound, ValidationFailed
from metacrm.rules.automation.outbox import enqueue_delivery
from metacrm.rules.automation.tables import automation_outbox, automation_runs

RESULTS = ("ok", "skipped", "error")
OUTBOX_STATUSES = ("pending", "delivered", "undelivered", "failed")


@dataclass(frozen=True)
class Page:
    rows: list[dict]
    next_before: int | None


def run_json(row) -> dict:
    return {
        "id": row["id"],
        "rule": row["rule"],
        "object": row["object"],
        "record_id": row["record_id"],
        "trigger": row["trigger"],
        "result": row["result"],
        "error": row["error"],
        "actions": row["actions"],
        "at": as_utc(row["at"]).isoformat(),
        "duration_ms": row["duration_ms"],
    }


def runs_page(
    binding,
    *,
    rule: str | None = None,
    object_name: str | None = None,
    record_id: int | None = None,
    result: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before: int | None = None,
    limit: int = 50,
) -> Page:
    """One page of the run log, newest first, filtered (``until`` excluded)."""
    query = sa.select(automation_runs)
    if rule:
        query = query.where(automation_runs.c.rule == rule)
    if object_name:
        query = query.where(automation_runs.c.object == object_name)
    if record_id is not None:
        query = query.where(automation_runs.c.record_id == record_id)
    if result:
        if result not in RESULTS:
            raise ValidationFailed(
                "result must be ok, skipped or error", details={"fields": {"result": ["ok, skipped or error"]}}
            )
        query = query.where(automation_runs.c.result == result)
    if since is not None:
        query = query.where(automation_runs.c.at >= since)
    if until is not None:
        query = query.where(automation_runs.c.at < until)
    if before is not None:
        query = query.where(automation_runs.c.id < before)
    with binding.connect() as conn:
        rows = list(conn.execute(query.order_by(automation_runs.c.id.desc()).limit(limit + 1)).mappings())
    data = [run_json(r) for r in rows[:limit]]
    return Page(data, data[-1]["id"] if len(rows) > limit else None)


def _destination(kind: str, payload: dict) -> str:
    """Where a row goes, safe to show: the recipient of a mail, the origin of a webhook, the action of a call."""
    if kind == "email":
        return str(payload.get("to") or "")
    if kind == "webhook":
        parts = urlsplit(str(payload.get("url") or ""))
        return f"{parts.scheme}://{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")
    return str(payload.get("action") or "")


def outbox_json(row) -> dict:
    payload = row["payload"] or {}
    return {
        "id": row["id"],
        "kind": row["kind"],
        "rule": row["rule"],
        "object": row["object"],
        "record_id": row["record_id"],
        "destination": _destination(row["kind"], payload),
        "subject": payload.get("subject") if row["kind"] == "email" else None,
        "status": row["status"],
        "attempts": row["attempts"],
        "last_error": row["last_error"],
        "created_at": as_utc(row["created_at"]),
        "next_attempt_at": as_utc(row["next_attempt_at"]) if row["next_attempt_at"] else None,
        "delivered_at": as_utc(row["delivered_at"]) if row["delivered_at"] else None,
    }


def outbox_page(binding, *, status: str | None = None, before: int | None = None, limit: int = 50) -> Page:
    """One page of the outbox, newest first (summaries: :func:`outbox_json`)."""
    query = sa.select(automation_outbox)
    if status:
        if status not in OUTBOX_STATUSES:
            raise ValidationFailed(
                f"status must be one of {', '.join(OUTBOX_STATUSES)}",
                details={"fields": {"status": [", ".join(OUTBOX_STATUSES)]}},
            )
        query = query.where(automation_outbox.c.status == status)
    if before is not None:
        query = query.where(automation_outbox.c.id < before)
    with binding.connect() as conn:
        rows = list(conn.execute(query.order_by(automation_outbox.c.id.desc()).limit(limit + 1)).mappings())
    data = [outbox_json(r) for r in rows[:limit]]
    return Page(data, data[-1]["id"] if len(rows) > limit else None)


def outbox_counts(binding) -> dict[str, int]:
    """How many rows the outbox holds in each status."""
    with binding.connect() as conn:
        found = conn.execute(
            sa.select(automation_outbox.c.status, sa.func.count()).group_by(automation_outbox.c.status)
        ).all()
    return {status: 0 for status in OUTBOX_STATUSES} | {status: count for status, count in found}


def retry_outbox(instance, binding, actor: audit.Actor, row_id: int) -> dict:
    """Send a failed (or undelivered) row again: back to pending with fresh
    attempts, due now, handed to the job queue (the retry job covers a
    queue that is down). A pending or delivered row is refused (422).
    The retry is audited as ``actor``'s."""
    with binding.begin() as conn:
        row = conn.execute(sa.select(automation_outbox).where(automation_outbox.c.id == row_id)).mappings().first()
        if row is None:
            raise NotFound(f"no outbox row {row_id}")
        if row["status"] not in ("failed", "undelivered"):
            raise ValidationFailed(
                f"only a failed or undelivered row can be retried; this one is {row['status']}",
                details={"fields": {"status": [row["status"]]}},
            )
        conn.execute(
            automation_outbox.update()
            .where(automation_outbox.c.id == row_id)
            .values(status="pending", attempts=0, next_attempt_at=utcnow(), last_error=None)
        )
        audit.record(
            conn,
            actor,
            "automation.outbox_retried",
            object=row["object"],
            record_id=row["record_id"],
            details={"outbox_id": row_id, "kind": row["kind"], "rule": row["rule"], "was": row["status"]},
        )
    enqueue_delivery(instance, binding.slug, [row_id])
    with binding.connect() as conn:
        return outbox_json(
            conn.execute(sa.select(automation_outbox).where(automation_outbox.c.id == row_id)).mappings().one()
        )
