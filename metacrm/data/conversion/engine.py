"""Converting a record by a ``conversion`` definition (:mod:`.kind`).

:func:`convert` runs in ONE transaction through the record store, so every
record it writes passes the save pipeline (defaults, validation rules,
automations, duplicate checks, audit):

* the caller must be able to update the source record (their update scope;
  a record outside it is "not found"), and it must not be converted yet;
* each target is an existing record the caller may read (one they may not
  is refused exactly like a missing id), a new record created with the
  caller's guard from the mapped source values (only fields the caller may
  read are copied, only fields they may write are written) and the values
  they gave, or left out when the definition lets it;
* the source is then marked (``mark``, ``stamp``, the ``link`` lookups) and
  the related records (activities) are pointed at the targets, both by a
  store acting for the platform: they are part of the conversion the
  caller may do, like the moves of a merge;
* an audit entry ``record.converted`` names what was created or chosen.

Errors name the target: ``{"fields": {"account.name": ["is required"]}}``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from metacrm.data.duplicates import Match, find_duplicates
from metacrm.metadata.guard import SystemGuard
from metacrm.metadata.store import MAX_BULK, RecordStore
from metacrm.platform import audit
from metacrm.platform.clock import utcnow
from metacrm.platform.errors import Conflict, Forbidden, NotFound, ValidationFailed

from .kind import conversion as conversion_of

ENTRY_KEYS = frozenset({"id", "values"})


@dataclass
class TargetChoice:
    """What the caller wants for one target: an existing record, a new one
    (with values of their own over the mapped ones), or none."""

    object: str
    existing_id: int | None = None
    values: dict[str, Any] = field(default_factory=dict)
    skip: bool = False


def _invalid(errors: dict[str, list[str]]) -> ValidationFailed:
    text = "; ".join(f"{k} {v[0]}" for k, v in errors.items())
    return ValidationFailed(f"the conversion is not valid: {text}", details={"fields": errors})


def parse_choices(document: dict, body: Any) -> dict[str, TargetChoice]:
    """The body's choice per target, ``{"account": {"id": 5}, "contact":
    {"values": {...}}, "opportunity": null}``: a missing target is created
    from the mapping, ``null`` leaves out an optional one."""
    if not isinstance(body, dict):
        raise _invalid({"$": ["must be an object"]})
    targets = {t["object"]: t for t in document["targets"]}
    errors: dict[str, list[str]] = {}
    for key in body:
        if key not in targets and key != "conversion":
            errors[key] = [f"is not a target of this conversion; use {', '.join(targets)}"]
    choices = {}
    for name, target in targets.items():
        entry = body.get(name, {})
        choice = choices[name] = TargetChoice(name)
        if entry is None:
            if not target.get("optional", False):
                errors[name] = ["is required by this conversion"]
            choice.skip = True
            continue
        if not isinstance(entry, dict) or set(entry) - ENTRY_KEYS:
            errors[name] = ['must be {"id": record id} or {"values": {field: value}} (or null when optional)']
            continue
        if "id" in entry:
            record_id = entry["id"]
            if not target.get("existing", True):
                errors[f"{name}.id"] = ["this conversion always creates a new one"]
            elif not isinstance(record_id, int) or isinstance(record_id, bool) or not 0 < record_id < 2**63:
                errors[f"{name}.id"] = ["must be a record id"]
            elif "values" in entry:
                errors[f"{name}.values"] = ["choose an existing record or give values for a new one, not both"]
            else:
                choice.existing_id = record_id
        values = entry.get("values", {})
        if not isinstance(values, dict):
            errors[f"{name}.values"] = ["must be an object"]
        else:
            choice.values = dict(values)
    if errors:
        raise _invalid(errors)
    return choices


def definition_for(store: RecordStore, object_name: str, api_name: Any = None) -> dict:
    """The conversion of ``object_name`` (by name, or its first); 404 otherwise."""
    store.object(object_name)
    if api_name is not None and not isinstance(api_name, str):
        raise _invalid({"conversion": ["must be the api name of a conversion"]})
    document = conversion_of(store.model, object_name, api_name)
    if document is None:
        raise NotFound(f"no conversion {api_name or ''} for {object_name}".replace("  ", " "))
    return document


def mapped_values(store: RecordStore, target: dict, source: dict) -> dict[str, Any]:
    """The target's values taken from the source record (as the caller read
    it), limited to the target fields the caller may write; blanks left out."""
    obj = store.object(target["object"])
    writable = store.guard.writable_fields(obj)
    values = {}
    for to, frm in (target.get("fields") or {}).items():
        value = _as_written(source.get(frm))
        if to in writable and value not in (None, "", []):
            values[to] = value
    return values


def _as_written(value: Any) -> Any:
    """A value as the store shows it, as the store takes it: links by id."""
    if isinstance(value, dict) and "id" in value:
        return value["id"]
    if isinstance(value, list):
        return [_as_written(item) for item in value]
    return value


def is_converted(document: dict, record: dict) -> bool:
    stamp = document.get("stamp")
    return (stamp is not None and record.get(stamp) is not None) or any(
        record.get(t["link"]) is not None for t in document["targets"]
    )


def _prefixed(exc: ValidationFailed, name: str) -> ValidationFailed:
    """A target's save error, its fields named ``<target>.<field>``."""
    details = dict(exc.details) if isinstance(exc.details, dict) else {}
    fields = {f"{name}.{k}": v for k, v in (details.pop("fields", None) or {}).items()}
    return ValidationFailed(f"{name}: {exc.message}", details={**details, "fields": fields, "target": name})


def _stamp_value(store: RecordStore, object_name: str, stamp: str) -> str:
    now = utcnow()
    is_date = store.object(object_name).fields[stamp].name == "date"
    return now.date().isoformat() if is_date else now.isoformat()


def _move_related(conn, system: RecordStore, document: dict, record_id: int, chosen: dict[str, int]) -> dict:
    """Point the records related to the source at the targets (their empty lookups only)."""
    moved = {}
    for related in document.get("related") or []:
        obj = system.object(related["object"])
        wanted = {to: chosen[target] for to, target in (related.get("set") or {}).items() if target in chosen}
        if not wanted:
            continue
        table = obj.table
        rows = conn.execute(
            sa.select(table.c.id, *[table.c[to] for to in wanted]).where(
                table.c[related["field"]] == record_id, table.c.deleted_at.is_(None)
            )
        ).all()
        updates = []
        for row in rows:
            values = {to: target_id for to, target_id in wanted.items() if row._mapping[to] is None}
            if values:
                updates.append({"id": row.id, **values})
        for start in range(0, len(updates), MAX_BULK):
            system.bulk_update(related["object"], updates[start : start + MAX_BULK], read_back=False)
        if updates:
            moved[f"{related['object']}.{related['field']}"] = len(updates)
    return moved


def _target_record(tx: RecordStore, target: dict, choice: TargetChoice, source: dict, chosen: dict[str, int]):
    """One target's record, ``{"id", "created"}``: the chosen one (readable
    by the caller, else refused like a missing id), or a new one from the
    mapping, the earlier targets it references and the caller's values."""
    name = target["object"]
    if choice.existing_id is not None:
        try:
            tx.get(name, choice.existing_id, fields=[])
        except (NotFound, Forbidden):
            raise _invalid({f"{name}.id": [f"no {name} {choice.existing_id}"]}) from None
        return {"id": choice.existing_id, "created": False}
    values = mapped_values(tx, target, source)
    values.update({to: chosen[other] for to, other in (target.get("references") or {}).items() if other in chosen})
    values.update(choice.values)
    try:
        created = tx.create(name, values, read_back=False)
    except ValidationFailed as exc:
        raise _prefixed(exc, name) from None
    return {"id": created["id"], "created": True}


def _lock_unconverted(conn, system: RecordStore, document: dict, object_name: str, record_id: int) -> None:
    """Lock the source row for the transaction (PostgreSQL; SQLite's write
    lock is taken at BEGIN), then refuse a converted one: of two concurrent
    conversions the second sees the first's marks."""
    table = system.object(object_name).table
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(table.c.id).where(table.c.id == record_id).with_for_update())
    stamp = [document["stamp"]] if document.get("stamp") else []
    state = system.get(object_name, record_id, fields=[*(t["link"] for t in document["targets"]), *stamp])
    if is_converted(document, state):
        raise Conflict(f"{object_name} {record_id} is converted already", details={"id": record_id})


def convert(store: RecordStore, object_name: str, record_id: Any, body: Any) -> dict:
    """Convert the record; what was created or chosen per target
    (``{"id", "created"}``, None when left out) and what moved."""
    document = definition_for(store, object_name, body.get("conversion") if isinstance(body, dict) else None)
    choices = parse_choices(document, body)
    store.guard.require("update", store.object(object_name))
    targets: dict[str, dict | None] = {}
    with store.binding.begin() as conn:
        tx = store.nested(conn, depth=store.depth)
        system = tx.nested(conn, guard=SystemGuard(purpose="conversion", acting_for=store.guard), depth=store.depth)
        source = tx.get(object_name, record_id, action="update")
        record_id = source["id"]
        _lock_unconverted(conn, system, document, object_name, record_id)
        chosen: dict[str, int] = {}
        for target in document["targets"]:
            name, choice = target["object"], choices[target["object"]]
            targets[name] = None if choice.skip else _target_record(tx, target, choice, source, chosen)
            if targets[name] is not None:
                chosen[name] = targets[name]["id"]
        marks = {**(document.get("mark") or {})}
        marks.update({t["link"]: chosen[t["object"]] for t in document["targets"] if t["object"] in chosen})
        if document.get("stamp"):
            marks[document["stamp"]] = _stamp_value(store, object_name, document["stamp"])
        system.update(object_name, record_id, marks, read_back=False)
        moved = _move_related(conn, system, document, record_id, chosen)
        audit.record(
            conn,
            store.actor,
            "record.converted",
            object=object_name,
            record_id=record_id,
            details={"conversion": document["api_name"], "targets": targets, "moved": moved},
        )
        callbacks = list(tx._after_commit or [])
    for callback in callbacks:
        callback()
    return {
        "object": object_name,
        "id": record_id,
        "conversion": document["api_name"],
        "targets": targets,
        "moved": moved,
    }


def suggestions(store: RecordStore, document: dict, source: dict) -> dict[str, list[Match]]:
    """Per target that may be an existing record: the records the target
    object's duplicate rules say the mapped values likely are (within the
    caller's read scope), best first."""
    found = {}
    for target in document["targets"]:
        if not target.get("existing", True):
            continue
        obj = store.model.object(target["object"])
        try:
            if obj is None:
                raise Forbidden(f"no object {target['object']!r}")
            store.guard.require("read", obj)
        except Forbidden:
            found[target["object"]] = []
            continue
        values = {to: source.get(frm) for to, frm in (target.get("fields") or {}).items()}
        found[target["object"]] = find_duplicates(store, target["object"], {k: v for k, v in values.items() if v})
    return found
