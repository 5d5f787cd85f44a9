"""The layout editor (``/setup/objects/<object>/layouts``): the sections of a
record page (title in both languages, one to three columns, folded or
open), the fields in them, the related lists, and per field the layout's
visible / required / read-only conditions in the rule language.

The working layout lives in the editor's form: a flat, ordered list of
``item`` members (``section:<key>``, ``palette``, ``related``,
``related_palette`` open a container; ``field:<name>`` and
``related:<object>.<field>`` belong to the last one opened), so dragging an
element (SortableJS, ``static/js/setup_layouts.js``) or moving it with its
buttons only changes the order of the form's members. Without JavaScript
the same buttons post ``action`` and the server answers the editor with the
move made. The preview (record page and form) is rendered by the server
from the posted working layout; saving is one change through the change
pipeline (a revision, an audit entry), refused as a whole with the
problems beside the controls that caused them.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.datastructures import MultiDict

from metacrm.metadata.physical import CompiledObject
from metacrm.platform.errors import Conflict, MetacrmError, NotFound, ValidationFailed
from metacrm.plugins import context
from metacrm.rules import RuleError
from metacrm.rules.saving import LAYOUT_CONDITION, typecheck
from metacrm.ui.i18n import label_of
from metacrm.ui.setup import METADATA, setup_object, setup_route, stored_document

DEFAULT = "default"
KINDS = ("visible", "required", "read_only")
COLUMNS = (1, 2, 3)
PREVIEW_RECORDS = 20
TEMPLATE = "setup/layouts/page.html"


@dataclass
class SectionDraft:
    key: str
    label: str = ""
    label_zh: str = ""
    columns: int = 2
    collapsed: bool = False
    fields: list[str] = field(default_factory=list)
    rules: dict[str, str] = field(default_factory=dict)  # conditions of every field of the section


@dataclass
class RelatedDraft:
    object: str
    field: str
    label: str = ""
    label_zh: str = ""
    columns: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.object}.{self.field}"


@dataclass
class LayoutDraft:
    """A layout as the editor holds it."""

    api_name: str
    label: str = ""
    label_zh: str = ""
    sections: list[SectionDraft] = field(default_factory=list)
    related: list[RelatedDraft] = field(default_factory=list)
    rules: dict[str, dict[str, str]] = field(default_factory=dict)

    # -- from and to the definition ------------------------------------------------------------

    @classmethod
    def of(cls, document: dict) -> LayoutDraft:
        draft = cls(
            document["api_name"],
            document.get("label") or "",
            _zh(document.get("translations"), nested=True),
        )
        for number, section in enumerate(document.get("sections") or []):
            draft.sections.append(
                SectionDraft(
                    f"s{number}",
                    section.get("label") or "",
                    _zh(section.get("translations")),
                    int(section.get("columns") or 2),
                    bool(section.get("collapsed")),
                    list(section.get("fields") or []),
                    dict(section.get("rules") or {}),
                )
            )
        for related in document.get("related_lists") or []:
            draft.related.append(
                RelatedDraft(
                    related["object"],
                    related["field"],
                    related.get("label") or "",
                    _zh(related.get("translations")),
                    list(related.get("columns") or []),
                )
            )
        draft.rules = {name: dict(kinds) for name, kinds in (document.get("field_rules") or {}).items()}
        return draft

    def document(self) -> dict:
        """The layout definition the pipeline is given."""
        document: dict = {"api_name": self.api_name, "label": self.label.strip(), "sections": []}
        if self.label_zh.strip():
            document["translations"] = {"zh_CN": {"label": self.label_zh.strip()}}
        for section in self.sections:
            item: dict = {"label": section.label.strip(), "columns": section.columns, "fields": list(section.fields)}
            if section.label_zh.strip():
                item["translations"] = {"zh_CN": section.label_zh.strip()}
            if section.collapsed:
                item["collapsed"] = True
            rules = {kind: text.strip() for kind, text in section.rules.items() if text and text.strip()}
            if rules:
                item["rules"] = rules
            document["sections"].append(item)
        rules = {
            name: {kind: text.strip() for kind, text in kinds.items() if text and text.strip()}
            for name, kinds in self.rules.items()
        }
        rules = {name: kinds for name, kinds in rules.items() if kinds}
        if rules:
            document["field_rules"] = rules
        if self.related:
            document["related_lists"] = []
            for related in self.related:
                item = {"object": related.object, "field": related.field}
                if related.label.strip():
                    item["label"] = related.label.strip()
                if related.label_zh.strip():
                    item["translations"] = {"zh_CN": related.label_zh.strip()}
                if related.columns:
                    item["columns"] = list(related.columns)
                document["related_lists"].append(item)
        return document

    # -- from and to the editor's form ---------------------------------------------------------

    @classmethod
    def read(cls, api_name: str, form: MultiDict) -> LayoutDraft:
        """The working layout an editor posted (its members in document order)."""
        draft = cls(api_name, form.get("label", ""), form.get("label_zh", ""))
        sections: dict[str, SectionDraft] = {}
        container: SectionDraft | str | None = None
        for item in form.getlist("item"):
            kind, _sep, value = item.partition(":")
            if kind == "section" and value and value not in sections:
                columns = form.get(f"section.{value}.columns", "2")
                container = sections[value] = SectionDraft(
                    value,
                    form.get(f"section.{value}.label", ""),
                    form.get(f"section.{value}.label_zh", ""),
                    int(columns) if columns.isdigit() and int(columns) in COLUMNS else 2,
                    form.getlist(f"section.{value}.collapsed")[-1:] == ["1"],
                    rules={
                        k: form.get(f"section.{value}.rule.{k}", "")
                        for k in KINDS
                        if form.get(f"section.{value}.rule.{k}", "").strip()
                    },
                )
                draft.sections.append(container)
            elif kind in ("palette", "related", "related_palette") and not value:
                container = kind
            elif kind == "field" and isinstance(container, SectionDraft) and value:
                if all(value not in s.fields for s in draft.sections):
                    container.fields.append(value)
            elif kind == "related" and container == "related" and "." in value:
                child, _dot, lookup = value.partition(".")
                if all(r.key != value for r in draft.related):
                    columns = [c for c in form.get(f"related.{value}.columns", "").split(",") if c]
                    draft.related.append(
                        RelatedDraft(
                            child,
                            lookup,
                            form.get(f"related.{value}.label", ""),
                            form.get(f"related.{value}.label_zh", ""),
                            columns,
                        )
                    )
        for name, text in form.items(multi=True):
            if name.startswith("rule.") and name.count(".") == 2:
                _rule, field_name, kind = name.split(".")
                if kind in KINDS and text.strip():
                    draft.rules.setdefault(field_name, {})[kind] = text
        return draft

    def placed(self) -> set[str]:
        return {name for section in self.sections for name in section.fields}

    def new_key(self) -> str:
        taken = {s.key for s in self.sections}
        return next(f"n{n}" for n in itertools.count(1) if f"n{n}" not in taken)

    # -- the moves of the editor's buttons (its JavaScript makes the same ones) ---------------

    def act(self, action: str, obj: CompiledObject) -> None:
        verb, _sep, target = action.partition(":")
        kind, _sep, name = target.partition(":")
        if verb == "add_section":
            self.sections.append(SectionDraft(self.new_key(), _("New section")))
        elif verb == "remove" and kind == "section":
            self.sections = [s for s in self.sections if s.key != name]
        elif verb == "remove" and kind == "field":
            for section in self.sections:
                if name in section.fields:
                    section.fields.remove(name)
        elif verb == "place" and kind == "field" and name in obj.fields and name not in self.placed():
            if not self.sections:
                self.sections.append(SectionDraft(self.new_key(), _("New section")))
            self.sections[-1].fields.append(name)
        elif verb == "remove" and kind == "related":
            self.related = [r for r in self.related if r.key != name]
        elif verb == "place" and kind == "related" and "." in name and all(r.key != name for r in self.related):
            child, _dot, lookup = name.partition(".")
            self.related.append(RelatedDraft(child, lookup))
        elif verb in ("up", "down"):
            self._move(kind, name, -1 if verb == "up" else 1)

    def _move(self, kind: str, name: str, step: int) -> None:
        if kind == "section":
            _shift(self.sections, next((i for i, s in enumerate(self.sections) if s.key == name), None), step)
        elif kind == "related":
            _shift(self.related, next((i for i, r in enumerate(self.related) if r.key == name), None), step)
        elif kind == "field":
            for number, section in enumerate(self.sections):
                if name not in section.fields:
                    continue
                at = section.fields.index(name)
                if 0 <= at + step < len(section.fields):
                    _shift(section.fields, at, step)
                elif 0 <= number + step < len(self.sections):  # over the edge: into the next section
                    section.fields.remove(name)
                    other = self.sections[number + step].fields
                    other.insert(len(other) if step < 0 else 0, name)
                return


def _shift(items: list, at: int | None, step: int) -> None:
    if at is not None and 0 <= at + step < len(items):
        items[at], items[at + step] = items[at + step], items[at]


def _zh(translations, nested: bool = False) -> str:
    value = (translations or {}).get("zh_CN")
    if nested:
        return (value or {}).get("label", "") if isinstance(value, dict) else ""
    return value if isinstance(value, str) else ""


# -- what the editor shows --------------------------------------------------------------------------


def layouts_of(obj: CompiledObject) -> list[dict]:
    return [d.document for d in context.model().definitions.scoped("layout", obj.api_name)]


def starting_layout(obj: CompiledObject, name: str) -> dict:
    """The stored layout, or what the record page shows without one: one
    section of every field."""
    stored = stored_document("layout", obj, name)
    if stored is not None:
        return stored
    label = label_of(obj.definition, default=obj.api_name)
    return {
        "api_name": name,
        "label": _("%(object)s layout", object=label),
        "sections": [{"label": _("Details"), "columns": 2, "fields": list(obj.fields)}],
    }


def related_candidates(obj: CompiledObject) -> list[tuple[str, str]]:
    """The related lists a record page of ``obj`` can show: every lookup of
    another object (or of itself) to it, as ("object.field", label)."""
    found = []
    for other in context.model().objects.values():
        for name, field_type in other.fields.items():
            if field_type.is_lookup and field_type.reference_target == obj.api_name:
                label = label_of(other.definition, "plural_label", other.api_name)
                found.append((f"{other.api_name}.{name}", f"{label} ({label_of(field_type.definition, default=name)})"))
    return found


def _editor(obj: CompiledObject, draft: LayoutDraft, errors: dict[str, list[str]], status: int = 200):
    placed = draft.placed()
    related_labels = dict(related_candidates(obj))
    chosen_related = {r.key for r in draft.related}
    return (
        render_template(
            TEMPLATE,
            obj=obj,
            object_name=obj.api_name,
            draft=draft,
            errors=errors,
            layouts=layouts_of(obj),
            palette=[f for name, f in obj.fields.items() if name not in placed],
            related_labels=related_labels,
            related_palette=[(key, label) for key, label in related_labels.items() if key not in chosen_related],
            field_label=lambda name: _field_label(obj, name),
            kinds=_kind_labels(),
            preview_records=_preview_records(obj),
            stored=stored_document("layout", obj, draft.api_name) is not None,
        ),
        status,
    )


def _kind_labels() -> dict[str, str]:
    return {"visible": _("Visible when"), "required": _("Required when"), "read_only": _("Read-only when")}


def _field_label(obj: CompiledObject, name: str) -> str:
    field_type = obj.fields.get(name)
    return label_of(field_type.definition, default=name) if field_type is not None else name


def _preview_records(obj: CompiledObject) -> list[tuple[int, str]]:
    """Records to preview the page with: the latest few the admin may read."""
    store = context.store()
    names = [obj.name_field] if obj.name_field else []
    try:
        rows = store.query(obj.api_name, fields=names, sort="-id", limit=PREVIEW_RECORDS).data
    except MetacrmError:
        return []
    return [(row["id"], str(row.get(obj.name_field) or f"#{row['id']}")) for row in rows]


# -- routes -----------------------------------------------------------------------------------------


@setup_route("/setup/objects/<object>/layouts", METADATA)
def setup_layouts(object):
    """The editor of the object's layout (``?layout=`` names one when there are several)."""
    obj = setup_object(object)
    layouts = layouts_of(obj)
    wanted = request.args.get("layout") or next(
        (d["api_name"] for d in layouts if d["api_name"] == DEFAULT), layouts[0]["api_name"] if layouts else DEFAULT
    )
    if layouts and all(d["api_name"] != wanted for d in layouts):
        raise NotFound(f"no layout {wanted!r} on {object}")
    return _editor(obj, LayoutDraft.of(starting_layout(obj, wanted)), {})


@setup_route("/setup/objects/<object>/layouts/<item>", METADATA, methods=["POST"])
def setup_layout_save(object, item):
    """Save the working layout as one change (a revision); a button's
    ``action`` (no JavaScript) answers the editor with that move made instead."""
    obj = setup_object(object)
    draft = LayoutDraft.read(item, request.form)
    action = request.form.get("action", "")
    if action:
        draft.act(action, obj)
        return _editor(obj, draft, {})
    errors = check_conditions(obj, draft)
    if not errors:
        try:
            with context.metadata_service().change(f"save layout {object}.{item}") as tx:
                tx.put("layout", object, draft.document())
                revision = tx.revision
        except (ValidationFailed, RuleError, Conflict) as exc:
            errors = placed_errors(draft, pipeline_errors(exc, f"layout:{object}.{item}."))
        else:
            flash(_("Layout saved (revision %(number)d).", number=revision), "success")
            return redirect(url_for("ui.setup_layouts", object=object, layout=item), 303)
    return _editor(obj, draft, errors, 422)


@setup_route("/setup/objects/<object>/layouts/<item>/preview", METADATA, methods=["POST"])
def setup_layout_preview(object, item):
    """The record page and the form as the working layout makes them, with a chosen record (htmx)."""
    obj = setup_object(object)
    draft = LayoutDraft.read(item, request.form)
    record = None
    chosen = request.form.get("preview_record", "")
    store = context.store()
    try:
        if chosen.isdigit():
            record = store.get(obj.api_name, int(chosen))
        else:
            rows = store.query(obj.api_name, sort="-id", limit=1).data
            record = rows[0] if rows else None
    except MetacrmError:
        record = None
    sections = [
        (section, [obj.fields[name] for name in section.fields if name in obj.fields]) for section in draft.sections
    ]
    return render_template(
        "setup/layouts/preview.html",
        obj=obj,
        draft=draft,
        sections=sections,
        record=record or {},
        related_labels=dict(related_candidates(obj)),
        kinds=_kind_labels(),
    )


# -- checking ----------------------------------------------------------------------------------------


def rule_message(exc: RuleError) -> str:
    if exc.line:
        return _("Line %(line)d, column %(column)d: %(reason)s", line=exc.line, column=exc.column, reason=exc.reason)
    return exc.reason


def check_conditions(obj: CompiledObject, draft: LayoutDraft) -> dict[str, list[str]]:
    """Each condition type-checked as the pipeline will: line and column of
    the first mistake, under the path the pipeline names (``field_rules.<field>.<kind>``)."""
    errors: dict[str, list[str]] = {}
    model = context.model()
    targets = [(f"field_rules.{name}", kinds) for name, kinds in draft.rules.items()]
    targets += [(f"section.{section.key}.rules", section.rules) for section in draft.sections]
    for where, kinds in targets:
        for kind, text in kinds.items():
            if not text.strip():
                continue
            try:
                typecheck(model, obj.api_name, text, LAYOUT_CONDITION)
            except RuleError as exc:
                errors.setdefault(f"{where}.{kind}", []).append(rule_message(exc))
            except ValidationFailed as exc:
                errors.setdefault(f"{where}.{kind}", []).append(exc.message)
    return errors


def placed_errors(draft: LayoutDraft, errors: dict[str, list[str]]) -> dict[str, list[str]]:
    """The pipeline's paths by position (``sections[1].label``) as the
    editor's elements name them (``section.<key>.label``, ``field.<name>``)."""
    placed: dict[str, list[str]] = {}
    for path, messages in errors.items():
        target = path
        match = re.match(r"^(sections|related_lists)\[(\d+)\](?:\.(.*))?$", path)
        if match and match[1] == "sections" and int(match[2]) < len(draft.sections):
            section, rest = draft.sections[int(match[2])], match[3] or ""
            found = re.match(r"^fields\[(\d+)\]$", rest)
            if found and int(found[1]) < len(section.fields):
                target = f"field.{section.fields[int(found[1])]}"
            elif rest == "label" or rest.startswith("rules."):
                target = f"section.{section.key}.{rest}"
            else:
                target = f"section.{section.key}"
        elif match and int(match[2]) < len(draft.related):
            target = f"related.{draft.related[int(match[2])].key}"
        placed.setdefault(target, []).extend(messages)
    return placed


def pipeline_errors(exc: MetacrmError, prefix: str) -> dict[str, list[str]]:
    """A refusal's messages by the definition member they name (the prefix
    ``<kind>:<key>.`` of the pipeline's final check taken off); the rest under ``$``."""
    details = exc.details if isinstance(exc.details, dict) else {}
    fields = details.get("fields") or {}
    errors: dict[str, list[str]] = {}
    for path, messages in fields.items():
        errors.setdefault(str(path).removeprefix(prefix), []).extend(str(m) for m in messages)
    if isinstance(exc, RuleError) and exc.line:
        errors.setdefault("$", []).append(rule_message(exc))
    return errors or {"$": [exc.message]}
