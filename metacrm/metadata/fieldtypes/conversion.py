"""Converting stored values when a field changes type.

Only the safe changes listed in each type's ``CONVERTIBLE_TO`` are possible
(text → long_text, long_text → text, integer → decimal/currency/percent,
decimal ↔ currency ↔ percent, picklist → multi_picklist, text → picklist,
multi_picklist → tags, email/phone/url → text). The DDL layer previews a
change by running :func:`convert_value` over the stored values, then
rewrites the column.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma

from .base import FieldType
from .builtin import BUILTIN_TYPES
from .choice import TAGS_MAX, TagField, pack, unpack


def can_convert(old_type: str | type[FieldType] | FieldType, new_type: str) -> bool:
    """Whether a field of ``old_type`` may become a ``new_type`` field."""
    cls = old_type if isinstance(old_type, type) else None
    if isinstance(old_type, FieldType):
        cls = type(old_type)
    if cls is None:
        cls = next((t for t in BUILTIN_TYPES if t.name == old_type), None)
    return cls is not None and new_type in getattr(cls, "CONVERTIBLE_TO", {})


def convert_value(old: FieldType, new: FieldType, db_value: Any) -> tuple[bool, Any]:
    """One stored value of ``old``'s column → ``(ok, value for new's column)``.

    ``ok`` is False when the value cannot be kept (too long, too many digits,
    not a picklist value…); the value returned then is None (what the field
    would hold if the change went ahead). NULL always converts to NULL.
    Raises ValueError for a pair of types that is not convertible."""
    if not can_convert(old, new.name):
        raise ValueError(f"a {old.name} field cannot be converted to {new.name}")
    if db_value is None:
        return True, None
    pair = (old.name, new.name)

    if new.name == "text" and old.name in ("long_text", "email", "phone", "url"):
        text = str(db_value)
        return (True, text) if len(text) <= new.max_length else (False, None)  # type: ignore[attr-defined]
    if pair == ("text", "long_text"):
        return True, str(db_value)
    if pair == ("text", "picklist"):
        return _to_picklist(new, str(db_value))
    if pair == ("picklist", "multi_picklist"):
        return True, pack([str(db_value)])
    if pair == ("multi_picklist", "tags"):
        return _to_tags(unpack(db_value))
    if old.name in ("integer", "decimal", "currency", "percent") and new.name in ("decimal", "currency", "percent"):
        try:
            return True, new.filter_field().deserialize(db_value)  # type: ignore[attr-defined]
        except ma.ValidationError:
            return False, None
    raise ValueError(f"no conversion from {old.name} to {new.name}")  # pragma: no cover - CONVERTIBLE_TO lists more


def _to_picklist(new: Any, text: str) -> tuple[bool, Any]:
    text = text.strip()
    if not text:
        return True, None
    values = new.all_values()
    if text in values:
        return True, text
    folded = text.casefold()
    for entry in new.value_entries():
        names = [entry["value"], entry.get("label") or "", *(entry.get("translations") or {}).values()]
        if any(name and name.casefold() == folded for name in names):
            return True, entry["value"]
    if not new.restricted and ";" not in text and len(text) <= 80:
        return True, text
    return False, None


def _to_tags(values: list[str]) -> tuple[bool, Any]:
    field = TagField()
    tags: list[str] = []
    seen: set[str] = set()
    for value in values:
        try:
            tag = field.deserialize(value)
        except ma.ValidationError:
            return False, None
        if tag and tag.casefold() not in seen:
            seen.add(tag.casefold())
            tags.append(tag)
    if len(tags) > TAGS_MAX:
        return False, None
    return True, pack(tags)
