"""What a record page shows of one record, from the object's metadata: the
layout's sections (only fields the user may read and the layout's
``visible`` conditions show), the header's highlight fields, the stage path
and the related lists. Framework-free: the screens render it, the API could
serve it.

Choices (docs/decisions.md, "The record page"):

* the layout is the object's ``default`` one, else its first; without one,
  a single section of every readable field;
* highlight fields are the first columns of the object's first list view
  (the fields its users scan a list for), without the name field;
* the stage path is the object's first picklist named ``stage``, else
  ``status``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from metacrm.metadata.definitions import scoped_key
from metacrm.metadata.fieldtypes.base import FieldType
from metacrm.metadata.fieldtypes.choice import MultiPicklistType, PicklistType
from metacrm.metadata.physical import CompiledModel, CompiledObject
from metacrm.metadata.store import RecordStore
from metacrm.platform.errors import Forbidden
from metacrm.rules.compile_python import holds
from metacrm.rules.errors import RuleError
from metacrm.rules.saving import RecordEvaluator, object_rules

STAGE_FIELDS = ("stage", "status")
HIGHLIGHTS = 4


@dataclass
class Section:
    definition: dict  # label, translations, columns, collapsed
    fields: list[FieldType]

    @property
    def columns(self) -> int:
        return self.definition.get("columns") or 2


@dataclass
class RelatedList:
    definition: dict  # object, field, label, translations
    object: CompiledObject
    lookup: str  # the related object's lookup to this record, or (``linked``) this record's link field
    columns: list[FieldType] = field(default_factory=list)
    linked: bool = False  # the records a many-to-many field of this record links

    @property
    def relation(self) -> str:
        """The relation as the list service names it (``related_page``'s ``field``)."""
        return self.lookup if self.linked else f"{self.object.api_name}.{self.lookup}"


def permits(guard, action: str, obj: CompiledObject) -> bool:
    """Whether the guard lets its user ``action`` records of ``obj`` (any
    guard of the record store's protocol, the system's too)."""
    try:
        guard.require(action, obj)
    except Forbidden:
        return False
    return True


def default_layout(model: CompiledModel, object_name: str) -> dict | None:
    """The record page layout of an object: the one named ``default``, else
    the first, else None."""
    layout = model.definitions.get("layout", scoped_key(object_name, "default"))
    if layout is None:
        layouts = model.definitions.scoped("layout", object_name)
        layout = layouts[0] if layouts else None
    return layout.document if layout is not None else None


def sections(store: RecordStore, obj: CompiledObject, record: dict) -> list[Section]:
    """The layout's sections with the fields this user sees on this record;
    a section left empty is left out."""
    readable = store.guard.readable_fields(obj)
    layout = default_layout(store.model, obj.api_name)
    if layout is None:
        return [Section({"label": "", "columns": 2}, [f for n, f in obj.fields.items() if n in readable])]
    hidden = hidden_by_layout(store, obj, layout, record)
    found = []
    for section in layout.get("sections") or []:
        shown = [
            obj.fields[name]
            for name in section.get("fields") or []
            if name in obj.fields and name in readable and name not in hidden
        ]
        if shown:
            found.append(Section(section, shown))
    return found


def hidden_by_layout(store: RecordStore, obj: CompiledObject, layout: dict, record: dict) -> set[str]:
    """The fields the layout's ``visible`` conditions hide on this record
    (evaluated by the rule engine, as on save). A condition that cannot be
    evaluated hides nothing: access is the guard's job, not the layout's."""
    name = layout.get("api_name")
    conditions = [
        (field_name, condition)
        for field_name, found in object_rules(store.model, obj.api_name).conditions.items()
        for condition in found
        if condition.kind == "visible" and condition.layout == name and condition.rule.evaluate is not None
    ]
    if not conditions:
        return set()
    values = {key: _rule_value(value) for key, value in record.items()}
    hidden = set()
    with store.binding.connect() as conn:
        evaluator = RecordEvaluator(conn, store, obj, [condition.rule for _name, condition in conditions])
        evaluator.load([(0, record["id"], values)])
        context = evaluator.record(0)
        for field_name, condition in conditions:
            try:
                if not holds(condition.rule.evaluate, context):
                    hidden.add(field_name)
            except RuleError:
                continue
    return hidden


def _rule_value(value: Any) -> Any:
    """A dumped value as stored: a lookup's id, a link field's ids."""
    if isinstance(value, dict) and "id" in value:
        return value["id"]
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return [item.get("id") for item in value]
    return value


def highlight_fields(store: RecordStore, obj: CompiledObject) -> list[FieldType]:
    """The header's key fields: the first readable columns of the object's
    first list view, without the name field (it is the heading)."""
    readable = store.guard.readable_fields(obj)
    views = store.model.definitions.scoped("list_view", obj.api_name)
    columns = (views[0].document.get("columns") or []) if views else list(obj.fields)
    shown = [obj.fields[n] for n in columns if n in obj.fields and n in readable and n != obj.name_field]
    return shown[:HIGHLIGHTS]


def stage_field(store: RecordStore, obj: CompiledObject) -> FieldType | None:
    """The picklist the stage path shows (``stage``, else ``status``) when the user may read it."""
    readable = store.guard.readable_fields(obj)
    for name in STAGE_FIELDS:
        field_type = obj.fields.get(name)
        if name in readable and isinstance(field_type, PicklistType) and not isinstance(field_type, MultiPicklistType):
            return field_type
    return None


def related_lists(store: RecordStore, obj: CompiledObject) -> list[RelatedList]:
    """The layout's related lists the user may read (the lookup too), each
    with its readable columns (the related object's name field when none),
    then one list per readable many-to-many field of the object (the linked
    records, with the first columns of the target's first list view)."""
    layout = default_layout(store.model, obj.api_name) or {}
    found = []
    for definition in layout.get("related_lists") or []:
        child = store.model.object(definition.get("object"))
        if child is None or not permits(store.guard, "read", child):
            continue
        readable = store.guard.readable_fields(child)
        lookup = definition.get("field")
        if lookup not in readable:
            continue
        names = definition.get("columns") or [child.name_field or "id"]
        columns = [child.fields[n] for n in names if n in child.fields and n in readable]
        found.append(RelatedList(definition, child, lookup, columns))
    readable_here = store.guard.readable_fields(obj)
    for name, field_type in obj.fields.items():
        target = store.model.object(field_type.reference_target) if field_type.stores_links else None
        if target is None or name not in readable_here or not permits(store.guard, "read", target):
            continue
        readable = store.guard.readable_fields(target)
        views = store.model.definitions.scoped("list_view", target.api_name)
        names = (views[0].document.get("columns") or []) if views else [target.name_field or "id"]
        columns = [target.fields[n] for n in names if n in target.fields and n in readable][:HIGHLIGHTS]
        found.append(RelatedList(field_type.definition, target, name, columns, linked=True))
    return found
