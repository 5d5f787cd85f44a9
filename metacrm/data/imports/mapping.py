"""Column → field mappings: which fields a user may import into, the
automatic match of a file's headers (by API name, label or translated
label, ignoring case, spaces and punctuation), the check of a mapping sent
by a user, and saved mappings (table ``import_mappings``).

A mapping is ``{column header: field spec}``, a spec being the field's API
name, ``None`` (skip the column) or ``{"field": name, "match": how}``; for a
lookup ``match`` names the target field its text is matched on (the
target's name field by default, ``id`` for record ids, or any unique field,
an external id).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from metacrm.data.imports.tables import import_mappings
from metacrm.metadata.physical import CompiledModel, CompiledObject
from metacrm.platform.clock import utcnow
from metacrm.platform.errors import ValidationFailed

MODES = ("insert", "update", "upsert")


@dataclass(frozen=True)
class Target:
    """One mapped column: the field, and for a lookup the target field matched."""

    column: str
    field: str
    match: str | None = None


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKC", str(text)).casefold()
    return re.sub(r"[\s_\-./:()（）：*]+", "", text)


def importable_fields(obj: CompiledObject, guard) -> dict[str, Any]:
    """Fields the user may set by import: readable and writable, not
    read-only, not self-numbering, stored in a column or a link table."""
    readable = guard.readable_fields(obj)
    writable = guard.writable_fields(obj)
    out = {}
    for name, field_type in obj.fields.items():
        if name not in readable or name not in writable or field_type.read_only or field_type.numbers_itself:
            continue
        if not (field_type.has_column or field_type.stores_links):
            continue
        out[name] = field_type
    return out


def field_labels(field_type) -> list[str]:
    definition = field_type.definition
    labels = [definition.get("api_name", ""), definition.get("label") or ""]
    for entry in (definition.get("translations") or {}).values():
        if isinstance(entry, dict) and entry.get("label"):
            labels.append(entry["label"])
    return [label for label in labels if label]


def auto_match(headers: list[str], obj: CompiledObject, guard, saved: dict | None = None) -> dict[str, str | None]:
    """Each header's field: a saved mapping's choice first, else a field
    whose API name or (translated) label equals it folded; each field once."""
    fields = importable_fields(obj, guard)
    by_name: dict[str, str] = {}
    for name, field_type in fields.items():
        for label in field_labels(field_type):
            by_name.setdefault(_fold(label), name)
    taken: set[str] = set()
    out: dict[str, str | None] = {}
    for header in headers:
        choice = None
        if saved and header in saved:
            spec = saved[header]
            name = spec.get("field") if isinstance(spec, dict) else spec
            if name in fields:
                choice = name
        if choice is None:
            choice = by_name.get(_fold(header))
        if choice in taken:
            choice = None
        if choice:
            taken.add(choice)
        out[header] = choice
    return out


def check_mapping(mapping: Any, headers: list[str], obj: CompiledObject, model: CompiledModel, guard) -> list[Target]:
    """The mapped columns of ``mapping``; ValidationFailed naming every bad
    entry. A field the user may not see is "unknown" (never confirmed), one
    they may see but not change "read-only"."""
    if not isinstance(mapping, dict):
        raise ValidationFailed("mapping must be an object", details={"fields": {"mapping": ["must be an object"]}})
    fields = importable_fields(obj, guard)
    readable = guard.readable_fields(obj)
    errors: dict[str, list[str]] = {}
    targets: list[Target] = []
    used: dict[str, str] = {}
    for column, spec in mapping.items():
        if spec in (None, ""):
            continue
        name, match = (spec.get("field"), spec.get("match")) if isinstance(spec, dict) else (spec, None)
        where = f"mapping.{column}"
        if column not in headers:
            errors[where] = ["is not a column of the file"]
            continue
        if not isinstance(name, str) or name not in obj.fields or name not in readable:
            errors[where] = [f"unknown field {name!r}"]
            continue
        if name not in fields:
            errors[where] = [f"{name} is read-only"]
            continue
        if name in used:
            errors[where] = [f"{name} is already mapped from column {used[name]!r}"]
            continue
        used[name] = column
        field_type = fields[name]
        if field_type.is_reference:
            problem, match = _lookup_match(field_type, match, model, guard)
            if problem:
                errors[where] = [problem]
                continue
        elif match:
            errors[where] = ["match applies to lookups only"]
            continue
        targets.append(Target(column, name, match))
    if errors:
        raise ValidationFailed(
            "the mapping is not valid: " + "; ".join(f"{k} {v[0]}" for k, v in errors.items()),
            details={"fields": errors},
        )
    if not targets:
        raise ValidationFailed("map at least one column to a field", details={"fields": {"mapping": ["maps nothing"]}})
    return targets


def _lookup_match(field_type, match, model: CompiledModel, guard) -> tuple[str | None, str | None]:
    target = model.object(field_type.reference_target)
    if target is None:
        return f"the target {field_type.reference_target} does not exist", None
    if match in (None, ""):
        match = target.name_field or "id"
    if match == "id":
        return None, "id"
    target_field = target.fields.get(match)
    if target_field is None or match not in guard.readable_fields(target):
        return f"unknown field {match!r} of {target.api_name}", None
    if target_field.encrypted or not target_field.has_column or target_field.stores_links:
        return f"{match} cannot be matched on", None
    return None, match


def check_key(key: Any, mode: str, obj: CompiledObject, guard, targets: list[Target]) -> str | None:
    """The field records are found by in update and upsert modes: ``id`` or
    a unique field the user may read, mapped from a column."""
    if mode not in MODES:
        raise ValidationFailed(
            "mode must be insert, update or upsert", details={"fields": {"mode": ["insert, update or upsert"]}}
        )
    if mode == "insert":
        return None
    if not key:
        raise ValidationFailed(f"{mode} needs a key field", details={"fields": {"key": [f"is required for {mode}"]}})
    mapped = {t.field for t in targets}
    if key == "id":
        return key
    field_type = obj.fields.get(key)
    if field_type is None or key not in guard.readable_fields(obj):
        raise ValidationFailed(f"unknown key field {key!r}", details={"fields": {"key": [f"unknown field {key!r}"]}})
    if not field_type.definition.get("unique") or field_type.encrypted:
        raise ValidationFailed(
            f"the key {key} must be a unique field", details={"fields": {"key": ["must be a unique field"]}}
        )
    if key not in mapped:
        raise ValidationFailed(
            f"map a column to the key {key}", details={"fields": {"key": ["is not mapped from any column"]}}
        )
    return key


def key_column(key: str | None, mapping: dict, targets: list[Target]) -> str | None:
    """The column holding the key (``id`` may come from a column named id)."""
    for target in targets:
        if target.field == key:
            return target.column
    if key == "id":
        for column in mapping:
            if _fold(column) == "id":
                return column
    return None


# -- saved mappings --------------------------------------------------------------------------


def saved_mappings(binding, object_name: str) -> list[dict]:
    query = (
        sa.select(import_mappings)
        .where(import_mappings.c.object == object_name)
        .order_by(import_mappings.c.updated_at.desc(), import_mappings.c.id.desc())
    )
    with binding.connect() as conn:
        return [dict(row) for row in conn.execute(query).mappings()]


def best_saved(binding, object_name: str, headers: list[str]) -> dict | None:
    """The saved mapping covering the most of ``headers`` (None if none does)."""
    best, score = None, 0
    for saved in saved_mappings(binding, object_name):
        hits = sum(1 for header in headers if saved["columns"].get(header))
        if hits > score:
            best, score = saved, hits
    return best


def save_mapping(binding, object_name: str, name: str, columns: dict, user_id: int | None) -> None:
    name = (name or "").strip()[:200]
    if not name:
        return
    with binding.begin() as conn:
        existing = conn.execute(
            sa.select(import_mappings.c.id).where(
                import_mappings.c.object == object_name, import_mappings.c.name == name
            )
        ).scalar()
        values = {"columns": columns, "created_by": user_id, "updated_at": utcnow()}
        if existing is None:
            conn.execute(import_mappings.insert().values(object=object_name, name=name, **values))
        else:
            conn.execute(import_mappings.update().where(import_mappings.c.id == existing).values(**values))
