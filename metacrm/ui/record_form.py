"""What a record form shows and sends, for any object: its sections from the
object's layout, the value each field's widget shows, the values a post
sends to the record store, the layouts' conditions and default values of
the draft (evaluated by the rule engine, :mod:`metacrm.rules.drafts`).

The views (:mod:`metacrm.ui.views.forms`) only route; this module never
switches on a field type's name: a control's post is read as its widget
declares (``Widgets.posts``) and parsed by the type (``parse_import``).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from werkzeug.datastructures import MultiDict

from metacrm.metadata.fieldtypes.base import FieldType
from metacrm.metadata.physical import CompiledObject
from metacrm.metadata.values import json_safe
from metacrm.platform.errors import Forbidden, NotFound
from metacrm.plugins import context
from metacrm.rules.drafts import DraftState, FieldState, draft_state
from metacrm.rules.saving import object_rules
from metacrm.ui.formatting import local_to_utc
from metacrm.ui.i18n import label_of

DEFAULT_LAYOUT = "default"


@dataclass
class Section:
    label: str
    columns: int
    fields: list[FieldType]


@dataclass
class Slot:
    """One field as the form renders it."""

    field: FieldType  # a copy marked required when a layout condition requires it
    value: Any
    errors: list[str]
    readonly: bool
    hidden: bool


def _layout(obj: CompiledObject) -> dict | None:
    """The object's layout: the one named "default", else the first."""
    layouts = [d.document for d in context.model().definitions.scoped("layout", obj.api_name)]
    return next((d for d in layouts if d.get("api_name") == DEFAULT_LAYOUT), layouts[0] if layouts else None)


def layout_sections(obj: CompiledObject, readable: set[str], *, creating: bool) -> list[Section]:
    """The layout's sections with the fields the user may read (computed and
    auto-numbered fields only on an existing record). A field the layout
    leaves out is shown only when it is required (else the record could not
    be saved), in a last section; an object without a layout shows every
    field it may read in one section."""
    layout = _layout(obj)

    def shown(name: str) -> bool:
        return name in obj.fields and name in readable and not (creating and obj.fields[name].read_only)

    sections, placed = [], set()
    for section in (layout or {}).get("sections", []):
        placed.update(section.get("fields", []))
        fields = [obj.fields[name] for name in section.get("fields", []) if shown(name)]
        if fields:
            sections.append(Section(label_of(section), int(section.get("columns") or 2), fields))
    rest = [
        f for name, f in obj.fields.items() if name not in placed and shown(name) and (layout is None or f.required)
    ]
    if rest:
        label = str(_l("Other information")) if layout else label_of(obj.definition, default=obj.api_name)
        sections.append(Section(label, 2, rest))
    return sections


def posted_value(field_type: FieldType, form: MultiDict) -> Any:
    """The JSON value of ``field_type``'s control in a form post (or query
    arguments), as its widget sends it; ValueError with the type's message
    when it does not parse. Blank is None (an empty list for several values)."""
    name = field_type.api_name
    values = form.getlist(name)
    posts = field_type.widgets.posts
    if posts == "many":
        items = [v.strip() for v in values if v.strip()]
        return [int(v) if field_type.is_reference and v.isdigit() else v for v in items]
    if posts == "lines":
        lines = [line.strip() for text in values for line in text.splitlines() if line.strip()]
        text = ";".join(lines) + ";" if lines else ""
    else:
        text = values[-1] if values else ""
        if posts == "local_datetime" and text.strip():
            text = local_to_utc(text)
    return json_safe(field_type.parse_import(text))


def blank(value: Any) -> bool:
    return value is None or value == "" or value == []


def _state_code(state: FieldState) -> str:
    return "".join("1" if flag else "0" for flag in (state.visible, state.required, state.read_only))


class RecordForm:
    """The form of a new record (``record`` None) or of a stored one."""

    def __init__(self, obj: CompiledObject, record: dict | None = None):
        self.obj = obj
        self.record = record
        guard = context.guard()
        self.readable = guard.readable_fields(obj)
        self.writable = guard.writable_fields(obj)
        self.sections = layout_sections(obj, self.readable, creating=record is None)
        self.fields = {f.api_name: f for section in self.sections for f in section.fields}
        self.values: dict[str, Any] = {n: record.get(n) for n in self.fields} if record else {}
        self.errors: dict[str, list[str]] = {}
        self.state = DraftState()
        self.applied: dict[str, Any] = {}  # default values the form filled in, as JSON
        rules = object_rules(context.model(), obj.api_name)
        self.live = bool(rules.conditions or rules.defaults)  # anything to evaluate as the user types

    @property
    def record_id(self) -> int | None:
        return self.record["id"] if self.record else None

    def editable(self, name: str) -> bool:
        field_type = self.fields.get(name)
        return field_type is not None and name in self.writable and not field_type.read_only

    # -- filling the form ----------------------------------------------------------------

    def read(self, form: MultiDict, *, errors: bool = True) -> dict[str, Any]:
        """The values of the editable fields ``form`` carries, as JSON;
        what does not parse stays as typed, with its message."""
        draft: dict[str, Any] = {}
        for name in self.fields:
            if not self.editable(name) or name not in form:
                continue
            try:
                draft[name] = self.values[name] = posted_value(self.fields[name], form)
            except ValueError as exc:
                raw = form.getlist(name)
                self.values[name] = raw if self.fields[name].widgets.posts == "many" else (raw[-1] if raw else "")
                if errors:
                    self.errors[name] = [translated(str(exc))]
        return draft

    def missing(self, draft: Mapping[str, Any]) -> None:
        """Required fields left blank, reported with the values that did not
        parse (the store, which says the same, is only asked once they do)."""
        for name in self.fields:
            slot = self.slot(name)
            if slot.field.required and not slot.readonly and not slot.hidden and blank(draft.get(name)):
                self.errors.setdefault(name, [str(_l("is required"))])

    def fixed_defaults(self) -> None:
        """A new record's fields start at their definition's ``default``
        (the value the store gives a field that is not sent)."""
        for name, field_type in self.fields.items():
            if self.editable(name) and field_type.definition.get("default") is not None:
                self.values[name] = json_safe(field_type.default_value())

    def clone(self, record: Mapping[str, Any]) -> None:
        """Start from a copy of ``record``'s fields the user may write (not
        its auto-numbers)."""
        for name in self.fields:
            if self.editable(name) and not self.fields[name].numbers_itself and not blank(record.get(name)):
                self.values[name] = record[name]

    def evaluate(self, *, defaults_for: list[str] | None = None) -> None:
        """The layout conditions on the draft as it is now, and (new records)
        the default values of ``defaults_for`` (default: the blank fields),
        filled in."""
        draft = {n: as_json(v) for n, v in self.values.items() if n in self.fields}
        if defaults_for is None:
            defaults_for = [n for n in self.fields if self.editable(n) and blank(self.values.get(n))]
        self.state = draft_state(
            context.store(), self.obj.api_name, draft, record_id=self.record_id, defaults_for=defaults_for
        )
        for name, value in self.state.defaults.items():
            if self.editable(name):
                self.values[name] = self.applied[name] = value

    def payload(self, draft: dict[str, Any]) -> dict[str, Any]:
        """What the store is sent: the draft without the fields a condition
        hides or makes read-only; on create, without blank fields (so their
        default values apply and required ones are reported)."""
        sent = {}
        for name, value in draft.items():
            state = self.state.of(name)
            if not state.visible or state.read_only or (self.record is None and blank(value)):
                continue
            sent[name] = value
        return sent

    def name_references(self) -> None:
        """Show chosen records by name: a lookup read from a post holds an
        id; its name is read through the user's guard (unreadable: "#id")."""
        store = context.store()
        for name, field_type in self.fields.items():
            value = self.values.get(name)
            if not field_type.is_reference or blank(value):
                continue
            target = context.model().object(field_type.reference_target)
            if target is None:
                continue

            def named(item, target=target):
                if isinstance(item, Mapping) or not isinstance(item, int):
                    return item
                try:
                    record = store.get(target.api_name, item, fields=[target.name_field] if target.name_field else [])
                except (NotFound, Forbidden):
                    return item
                return {"id": item, "name": record.get(target.name_field) if target.name_field else None}

            self.values[name] = [named(v) for v in value] if isinstance(value, list) else named(value)

    def add_errors(self, fields: Mapping[str, list[str]]) -> None:
        """The store's messages by field; those of fields the form does not
        show go to the top of the form."""
        for name, messages in fields.items():
            key = name if name in self.fields and not self.slot(name).hidden else "$"
            for message in map(translated, messages):
                text = (
                    message
                    if key != "$" or name == "$"
                    else f"{label_of(self._definition(name), default=name)}: {message}"
                )
                self.errors.setdefault(key, []).append(text)

    def _definition(self, name: str) -> Mapping[str, Any] | None:
        field_type = self.obj.fields.get(name)
        return field_type.definition if field_type is not None else None

    # -- rendering ----------------------------------------------------------------------

    def slot(self, name: str) -> Slot:
        field_type = self.fields[name]
        state = self.state.of(name)
        if state.required and not field_type.required:
            field_type = copy.copy(field_type)
            field_type.required = True
        return Slot(
            field=field_type,
            value=self.values.get(name),
            errors=self.errors.get(name, []),
            readonly=not self.editable(name) or state.read_only,
            hidden=not state.visible,
        )

    def state_codes(self) -> str:
        """The conditions' outcome the page shows now (sent back by the live round trip)."""
        codes = {name: _state_code(state) for name, state in self.state.fields.items() if name in self.fields}
        return json.dumps(dict(sorted(codes.items())))  # only fields on the form: a hidden one is not named

    def applied_json(self) -> str:
        return json.dumps(self.applied, sort_keys=True)

    def original_json(self, record: Mapping[str, Any] | None = None) -> str:
        """The editable values of the record as the form was opened (or of
        ``record``): on a conflict, they tell what someone else changed since."""
        stored = record if record is not None else (self.record or {})
        return json.dumps({n: as_json(v) for n, v in stored.items() if self.editable(n)}, sort_keys=True)


def translated(message: str) -> str:
    """A message of the store or a field type in the user's language, when
    the catalog has it (the common ones: blank, read-only, not a number…)."""
    return gettext(message) if message else message


def as_json(value: Any) -> Any:
    """A widget value as the API takes it (a dumped reference → its id)."""
    if isinstance(value, Mapping) and "id" in value:
        return value["id"]
    if isinstance(value, list):
        return [as_json(v) for v in value]
    return json_safe(value)


def loads(text: str | None) -> dict:
    """A JSON object the form carried back (anything else: empty)."""
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
