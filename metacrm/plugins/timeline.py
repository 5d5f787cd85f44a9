"""The activity timeline of a record (the customer 360° view): one stream,
newest first, of

* ``activity`` — records of the tenant's activity object (crm_core's
  ``activity``, :data:`ACTIVITY_OBJECT`) linked to the record by any lookup
  to its object, or by the ``related_object`` / ``related_record_id`` pair;
* ``change`` — the record's audit entries (created, changed, deleted,
  restored, new owner), showing only the fields the user may read;
* ``email`` — e-mails automations put in the outbox for the record;
* ``approval`` — approval requests of the record: submitted, approved,
  rejected, recalled (the audit entries ``approval.*`` the approval engine
  writes, with the process and the comment);
* ``comment`` — comments people wrote on the record
  (:mod:`metacrm.plugins.collaboration`);

for the record and for the records of its layout's related lists (an
account's contacts, opportunities and cases: their activities, changes and
e-mails roll up into the account's stream).

Everything goes through the record store and the user's guard: a related
record the user cannot read adds nothing, a hidden field's change is not
shown, and an entry that only changed hidden fields is left out.
Framework-free (no Flask): the screens render it, the API could serve it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from metacrm.metadata.physical import CompiledObject
from metacrm.metadata.store import RecordStore
from metacrm.platform.clock import as_utc
from metacrm.platform.errors import ValidationFailed
from metacrm.platform.tables import audit_log
from metacrm.plugins.collaboration.tables import record_comments
from metacrm.plugins.record_layout import default_layout, permits
from metacrm.rules.automation.tables import automation_outbox

# The object whose records are the timeline's activities (crm_core's). A
# tenant without it simply has no activity entries.
ACTIVITY_OBJECT = "activity"
KINDS = ("activity", "change", "email", "approval", "comment")
# Audit actions shown as changes, and the word for each.
CHANGE_ACTIONS = {
    "record.created": "created",
    "record.updated": "updated",
    "record.deleted": "deleted",
    "record.restored": "restored",
    "record.owner_changed": "owner_changed",
}
# Audit actions of the approval engine shown as approval entries.
APPROVAL_ACTIONS = {
    "approval.submitted": "submitted",
    "approval.approved": "approved",
    "approval.rejected": "rejected",
    "approval.recalled": "recalled",
}
DEFAULT_LIMIT = 25
MAX_LIMIT = 100
# How many records of each related list roll up into the stream (the newest).
MAX_RELATED = 200
KIND_RANK = {kind: rank for rank, kind in enumerate(KINDS)}


@dataclass(frozen=True)
class Target:
    """A record whose events are in the stream: the page's record or one of
    its related records (``name`` set for those, to say where it happened)."""

    object: str
    record_id: int
    name: str | None = None


@dataclass
class Entry:
    kind: str  # activity | change | email | approval | comment
    at: datetime
    id: int  # the activity's record id, the audit entry's or the outbox row's id
    target: Target
    action: str | None = None  # change: created, updated, ...; approval: submitted, approved, rejected, recalled
    actor: str | None = None
    changes: list[tuple[str, Any, Any]] = field(default_factory=list)  # (field, before, after)
    record: dict | None = None  # activity: the activity as the record store dumps it
    email: dict | None = None  # email: to, subject, status
    approval: dict | None = None  # approval: process, step, comment
    comment: dict | None = None  # comment: body, author_id, edited_at

    @property
    def key(self) -> tuple:
        return (self.at, KIND_RANK[self.kind], self.id)


@dataclass
class Timeline:
    entries: list[Entry]
    next_before: str | None  # the ``before`` of the next (older) page


def activity_object(store: RecordStore) -> CompiledObject | None:
    """The activity object, when the tenant has it and the user may read it."""
    obj = store.model.object(ACTIVITY_OBJECT)
    return obj if obj is not None and permits(store.guard, "read", obj) else None


def activity_links(store: RecordStore, object_name: str) -> list[str]:
    """The activity object's readable lookups to ``object_name`` (how an
    activity is linked to such a record)."""
    activity = activity_object(store)
    if activity is None:
        return []
    readable = store.guard.readable_fields(activity)
    return [
        name
        for name, field_type in activity.fields.items()
        if field_type.is_lookup and field_type.reference_target == object_name and name in readable
    ]


def related_targets(store: RecordStore, object_name: str, record_id: int) -> list[Target]:
    """The records of the layout's related lists whose events roll up: lookups
    from another object (not the activity object itself) that the user may
    read, newest first, at most :data:`MAX_RELATED` per list."""
    layout = default_layout(store.model, object_name) or {}
    targets = []
    for related in layout.get("related_lists") or []:
        child = store.model.object(related.get("object"))
        if child is None or child.api_name in (ACTIVITY_OBJECT, object_name):
            continue
        if not permits(store.guard, "read", child) or related.get("field") not in store.guard.readable_fields(child):
            continue
        name_field = child.name_field if child.name_field in store.guard.readable_fields(child) else None
        page = store.query(
            child.api_name,
            fields=[name_field] if name_field else [],
            filters=[(related["field"], "eq", record_id)],
            sort="-updated_at",
            limit=MAX_RELATED,
        )
        for row in page.data:
            name = row.get(name_field) if name_field else None
            targets.append(Target(child.api_name, row["id"], str(name) if name is not None else f"#{row['id']}"))
    return targets


def parse_before(raw: str | None) -> tuple | None:
    """The ``before`` cursor: ``<ISO time>~<kind>~<id>``; a 422 naming it when malformed."""
    if not raw:
        return None
    try:
        at, kind, entry_id = raw.split("~")
        return (as_utc(datetime.fromisoformat(at)), KIND_RANK[kind], int(entry_id))
    except (ValueError, KeyError):
        raise ValidationFailed(
            "before must be a timeline cursor", details={"fields": {"before": ["not a timeline cursor"]}}
        ) from None


def parse_kinds(raw: Iterable[str]) -> tuple[str, ...]:
    """The kinds asked for (``kind=activity&kind=email``); all when none; a 422 for an unknown one."""
    kinds = tuple(dict.fromkeys(k for k in raw if k))
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise ValidationFailed(
            f"kind must be one of {', '.join(KINDS)}", details={"fields": {"kind": [f"unknown kind {unknown[0]!r}"]}}
        )
    return kinds or KINDS


def timeline(
    store: RecordStore,
    object_name: str,
    record_id: int,
    *,
    kinds: tuple[str, ...] = KINDS,
    before: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> Timeline:
    """One page of the record's stream (404 when the user may not read the
    record), older than the ``before`` cursor."""
    record = store.get(object_name, record_id, fields=[])
    limit = max(1, min(int(limit), MAX_LIMIT))
    cursor = parse_before(before)
    targets = [Target(object_name, record["id"]), *related_targets(store, object_name, record["id"])]
    fetch = limit + 1
    entries: list[Entry] = []
    if "activity" in kinds:
        entries += _activities(store, targets, cursor, fetch)
    if "change" in kinds:
        entries += _changes(store, targets, cursor, fetch)
    if "email" in kinds:
        entries += _emails(store, targets, cursor, fetch)
    if "approval" in kinds:
        entries += _approvals(store, targets, cursor, fetch)
    if "comment" in kinds:
        entries += _comments(store, targets, cursor, fetch)
    entries.sort(key=lambda e: e.key, reverse=True)
    more = len(entries) > limit
    entries = entries[:limit]
    next_before = None
    if more:
        last = entries[-1]
        next_before = f"{last.at.isoformat()}~{last.kind}~{last.id}"
    return Timeline(entries, next_before)


def _older(kind: str, at, entry_id, cursor: tuple | None):
    """The keyset condition of one source: its rows after ``cursor`` in the
    stream's order (time, then kind, then id, all descending)."""
    if cursor is None:
        return sa.true()
    cursor_at, cursor_rank, cursor_id = cursor
    rank = KIND_RANK[kind]
    if rank < cursor_rank:
        return at <= cursor_at
    if rank > cursor_rank:
        return at < cursor_at
    return sa.or_(at < cursor_at, sa.and_(at == cursor_at, entry_id < cursor_id))


def _by_object(targets: list[Target]) -> dict[str, dict[int, Target]]:
    grouped: dict[str, dict[int, Target]] = {}
    for target in targets:
        grouped.setdefault(target.object, {})[target.record_id] = target
    return grouped


def _activities(store: RecordStore, targets: list[Target], cursor, fetch: int) -> list[Entry]:
    activity = activity_object(store)
    if activity is None:
        return []
    table = activity.table
    readable = store.guard.readable_fields(activity)
    paired = {"related_object", "related_record_id"} <= readable
    links: list[tuple[str, dict[int, Target]]] = []
    conditions = []
    for object_name, by_id in _by_object(targets).items():
        for lookup in activity_links(store, object_name):
            links.append((lookup, by_id))
            conditions.append(table.c[lookup].in_(list(by_id)))
        if paired:
            conditions.append(
                sa.and_(table.c.related_object == object_name, table.c.related_record_id.in_(list(by_id)))
            )
    if not conditions:
        return []
    where = sa.and_(sa.or_(*conditions), _older("activity", table.c.created_at, table.c.id, cursor))
    page = store.query(activity.api_name, sort="-created_at,-id", limit=min(fetch, 200), extra_where=where)
    entries = []
    grouped = _by_object(targets)
    for row in page.data:
        target = _activity_target(row, links, grouped, paired)
        at = as_utc(datetime.fromisoformat(row["created_at"]))
        entries.append(Entry("activity", at, row["id"], target, actor=None, record=row))
    return entries


def _activity_target(row: dict, links, grouped: dict[str, dict[int, Target]], paired: bool) -> Target:
    """Which of the stream's records an activity belongs to (the page's own
    record first: it is the first target of each object)."""
    found = []
    for lookup, by_id in links:
        value = row.get(lookup)
        if value and value["id"] in by_id:
            found.append(by_id[value["id"]])
    if paired and row.get("related_object") in grouped:
        target = grouped[row["related_object"]].get(row.get("related_record_id"))
        if target is not None:
            found.append(target)
    own = [t for t in found if t.name is None]
    return (own or found)[0]


def _target_clause(table, grouped: dict[str, dict[int, Target]], *, as_text: bool):
    return sa.or_(
        *[
            sa.and_(table.c.object == name, table.c.record_id.in_([str(i) if as_text else i for i in by_id]))
            for name, by_id in grouped.items()
        ]
    )


def _rows(store: RecordStore, kind: str, table, at, grouped, cursor, fetch: int, *where, as_text: bool = False):
    """The newest ``fetch`` rows of one source table for the stream's records,
    older than ``cursor`` (``at`` is the table's time column; ``as_text`` when
    its record ids are stored as text, as the audit log's are), with the
    source's own conditions ``where``."""
    query = (
        sa.select(table)
        .where(
            _target_clause(table, grouped, as_text=as_text),
            *where,
            _older(kind, at, table.c.id, cursor),
        )
        .order_by(at.desc(), table.c.id.desc())
        .limit(fetch)
    )
    with store.binding.connect() as conn:
        return conn.execute(query).mappings().all()


def _changes(store: RecordStore, targets: list[Target], cursor, fetch: int) -> list[Entry]:
    grouped = _by_object(targets)
    actions = audit_log.c.action.in_(list(CHANGE_ACTIONS))
    rows = _rows(store, "change", audit_log, audit_log.c.at, grouped, cursor, fetch, actions, as_text=True)
    readable = {name: store.guard.readable_fields(store.object(name)) for name in grouped}
    entries = []
    for row in rows:
        action = CHANGE_ACTIONS[row["action"]]
        changes = []
        if action == "updated":
            details = (row["details"] or {}).get("changes") or {}
            changes = [(name, pair[0], pair[1]) for name, pair in details.items() if name in readable[row["object"]]]
            if not changes:  # only hidden fields changed: nothing the user may see
                continue
        target = grouped[row["object"]][int(row["record_id"])]
        at = as_utc(row["at"])
        entries.append(Entry("change", at, row["id"], target, action=action, actor=row["actor_email"], changes=changes))
    return entries


def _emails(store: RecordStore, targets: list[Target], cursor, fetch: int) -> list[Entry]:
    grouped = _by_object(targets)
    table = automation_outbox
    rows = _rows(store, "email", table, table.c.created_at, grouped, cursor, fetch, table.c.kind == "email")
    entries = []
    for row in rows:
        payload = row["payload"] or {}
        # The subject and the address only: the body was written by an
        # automation for its recipient and may quote fields this user cannot read.
        email = {"to": payload.get("to"), "subject": payload.get("subject"), "status": row["status"]}
        target = grouped[row["object"]][row["record_id"]]
        entries.append(Entry("email", as_utc(row["created_at"]), row["id"], target, email=email))
    return entries


def _approvals(store: RecordStore, targets: list[Target], cursor, fetch: int) -> list[Entry]:
    grouped = _by_object(targets)
    actions = audit_log.c.action.in_(list(APPROVAL_ACTIONS))
    rows = _rows(store, "approval", audit_log, audit_log.c.at, grouped, cursor, fetch, actions, as_text=True)
    entries = []
    for row in rows:
        details = row["details"] or {}
        approval = {"process": details.get("process"), "step": details.get("step"), "comment": details.get("comment")}
        target = grouped[row["object"]][int(row["record_id"])]
        action = APPROVAL_ACTIONS[row["action"]]
        entries.append(
            Entry(
                "approval",
                as_utc(row["at"]),
                row["id"],
                target,
                action=action,
                actor=row["actor_email"],
                approval=approval,
            )
        )
    return entries


def _comments(store: RecordStore, targets: list[Target], cursor, fetch: int) -> list[Entry]:
    grouped = _by_object(targets)
    table = record_comments
    rows = _rows(store, "comment", table, table.c.created_at, grouped, cursor, fetch)
    entries = []
    for row in rows:
        comment = {
            "body": row["body"],
            "author_id": row["author_id"],
            "mine": row["author_id"] == store.actor.user_id,
            "edited_at": as_utc(row["edited_at"]) if row["edited_at"] else None,
        }
        target = grouped[row["object"]][row["record_id"]]
        at = as_utc(row["created_at"])
        entries.append(Entry("comment", at, row["id"], target, actor=row["author_email"], comment=comment))
    return entries


# -- quick actions ---------------------------------------------------------------------------------------------

# The quick actions of the timeline: a value of the activity object's
# ``activity_type`` picklist each, and the ``status`` it is logged with (a
# call or a note is done when logged; a task is still to do).
QUICK_ACTIONS = {"call": "completed", "note": "completed", "task": None}


def quick_actions(store: RecordStore) -> list[str]:
    """The quick actions the user can take: those whose type the activity
    object's ``activity_type`` offers, when the user may create activities."""
    activity = activity_object(store)
    if activity is None or not permits(store.guard, "create", activity):
        return []
    field_type = activity.fields.get("activity_type")
    if field_type is None or "activity_type" not in store.guard.writable_fields(activity):
        return []
    offered = {choice["value"] for choice in field_type.choices()}
    return [action for action in QUICK_ACTIONS if action in offered]


def log_activity(store: RecordStore, object_name: str, record_id: int, action: str, values: dict) -> dict:
    """Create an activity of type ``action`` on a record through the store
    (its rules and access apply), linked by the activity object's lookup to
    the record's object, else by ``related_object`` / ``related_record_id``.
    ``values`` are the form's values of the activity's fields."""
    if action not in quick_actions(store):
        raise ValidationFailed(
            f"cannot log a {action!r} here", details={"fields": {"activity_type": [f"not offered: {action!r}"]}}
        )
    record = store.get(object_name, record_id, fields=[])
    activity = activity_object(store)
    data = {name: value for name, value in values.items() if name in activity.fields}
    data["activity_type"] = action
    status = QUICK_ACTIONS[action]
    if status and "status" in activity.fields and status in {c["value"] for c in activity.fields["status"].choices()}:
        data.setdefault("status", status)
    links = activity_links(store, object_name)
    if links:
        data[links[0]] = record["id"]
    else:
        data.update(related_object=object_name, related_record_id=record["id"])
    return store.create(activity.api_name, data)
