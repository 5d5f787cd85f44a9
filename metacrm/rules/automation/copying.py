"""The ``copy_record`` automation action: a copy of the record — into the
same object or another — with copies of its child records, every record
written through the save pipeline (defaults, automations, validation rules
of the records created run as for any other create).

``CALL copy_record("sales_order", "quote", "quote_line:order_line")`` makes
an order of the record (a quote): every field the two objects share by api
name and type is copied, ``quote`` on the order points back at the quote,
and each ``quote_line`` of the quote becomes an ``order_line`` of the new
order. ``CALL copy_record("quote", "previous_version", "quote_line:quote_line")``
is "new version": a copy of the quote and its lines.

What is copied: fields stored in a column (not formulas, roll-ups or
auto-numbers, which the copy works out or numbers itself; not many-to-many
links), present on both sides with the same api name and type, whose value
the target field accepts (a picklist value the target does not offer is
left to the target's default, like an order's status copied from an
accepted quote), and the owner. A child's reference to its parent is set to
the new parent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import marshmallow as ma
import sqlalchemy as sa

from metacrm.metadata.physical import CompiledObject
from metacrm.metadata.values import json_safe
from metacrm.platform.errors import ValidationFailed
from metacrm.rules.automation.actions import ActionCall, AutomationAction

# Child records one copy takes per child relation.
MAX_CHILDREN = 1000


def shared_values(source: CompiledObject, target: CompiledObject, row: Mapping[str, Any]) -> dict[str, Any]:
    """The values of ``row`` (stored columns of ``source``) the ``target``
    object can take as they are, as API values."""
    values = {}
    for name, field in source.fields.items():
        twin = target.fields.get(name)
        if twin is None or type(twin) is not type(field) or not _copied(twin) or name not in row:
            continue
        value = json_safe(field.from_db(row[name]))
        if value is None:
            continue
        try:
            twin.column_loader(value)
        except (ma.ValidationError, ValueError):
            continue  # the target refuses it (a picklist value it does not offer): its default applies
        values[name] = value
    return values


def _copied(field) -> bool:
    return field.has_column and not field.computed and not field.read_only and not field.numbers_itself


def _parse_children(text: str, model, source: CompiledObject, target: CompiledObject) -> list[tuple]:
    """``"quote_line:order_line, …"`` → (child object, its link to the source,
    new child object, its link to the target)."""
    pairs = []
    for part in filter(None, (p.strip() for p in (text or "").split(","))):
        from_name, _, to_name = part.partition(":")
        from_child, to_child = model.object(from_name.strip()), model.object((to_name or from_name).strip())
        from_link = _link(from_child, source)
        to_link = _link(to_child, target)
        pairs.append((from_child, from_link, to_child, to_link))
    return pairs


def _link(child: CompiledObject, parent: CompiledObject) -> str:
    for name, field in child.fields.items():
        if field.is_lookup and field.reference_target == parent.api_name:
            return name
    raise ValidationFailed(f"copy_record: {child.api_name} has no lookup to {parent.api_name}")


def copy_record(call: ActionCall) -> dict:
    target_name, back_link, children = call.args
    model = call.model
    source = model.object(call.object)
    target = model.object(target_name)
    back = target.fields.get(back_link) if back_link else None
    if back_link and (back is None or not back.is_lookup or back.reference_target != source.api_name):
        raise ValidationFailed(f"copy_record: {target_name}.{back_link} is no lookup to {source.api_name}")
    pairs = _parse_children(children, model, source, target)
    row = _row(call.conn, source, call.record_id)
    values = shared_values(source, target, row)
    if back_link:
        values[back_link] = call.record_id
    if call.dry_run:
        return {"object": target_name, "values": values}
    created = call.store.create(target_name, values, owner_id=row.get("owner_id"), read_back=False)
    copied = {}
    for from_child, from_link, to_child, to_link in pairs:
        rows = _children(call.conn, from_child, from_link, call.record_id)
        batch = [{**shared_values(from_child, to_child, r), to_link: created["id"]} for r in rows]
        if batch:
            owners = [r.get("owner_id") for r in rows]
            call.store.bulk_create(to_child.api_name, batch, owner_ids=owners, read_back=False)
        copied[to_child.api_name] = len(batch)
    return {"object": target_name, "id": created["id"], "children": copied}


def _row(conn, obj: CompiledObject, record_id: int) -> dict:
    table = obj.table
    return dict(conn.execute(sa.select(table).where(table.c.id == record_id)).mappings().one())


def _children(conn, child: CompiledObject, link: str, parent_id: int) -> list[dict]:
    table = child.table
    query = (
        sa.select(table)
        .where(table.c[link] == parent_id, table.c.deleted_at.is_(None))
        .order_by(table.c.id)
        .limit(MAX_CHILDREN)
    )
    return [dict(row) for row in conn.execute(query).mappings()]


COPY_RECORD = AutomationAction(
    "copy_record",
    copy_record,
    params=("TEXT", "TEXT", "TEXT"),
    doc="Copy the record (to the object named, its lookup back to the record set) with its child records "
    '("child:new_child, …"): copy_record("sales_order", "quote", "quote_line:order_line")',
)
