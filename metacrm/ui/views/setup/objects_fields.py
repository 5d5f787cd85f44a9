"""The field editor of the object manager: choose a type, then every option
of that type — the controls are generated from the type's own description
of its options (``FieldType.options_schema``), so a plugin's type gets a
form too; a few options get a better control (picklist values with colours
and order, the objects and fields a relation names, rule-language editors).
A type change is previewed first (how many stored values convert, which
don't) and applied through the pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import redirect, render_template, request, url_for
from flask_babel import lazy_gettext

from metacrm.metadata.definitions import scoped_key
from metacrm.metadata.reserved import SYSTEM_FIELDS
from metacrm.metadata.values import json_safe
from metacrm.platform.errors import Conflict, MetacrmError, NotFound, ValidationFailed
from metacrm.plugins import context
from metacrm.ui.i18n import label_of
from metacrm.ui.setup import METADATA, setup_route
from metacrm.ui.views.setup.objects import ZH, object_definition, placed_errors

# Labels (and a few helps) of the options the built-in types describe; a
# plugin type's other options are named after their key, helped by their description.
OPTION_LABELS = {
    "max_length": lazy_gettext("Maximum length"),
    "min_length": lazy_gettext("Minimum length"),
    "min": lazy_gettext("Smallest value"),
    "max": lazy_gettext("Largest value"),
    "precision": lazy_gettext("Total digits"),
    "scale": lazy_gettext("Decimal places"),
    "currency": lazy_gettext("Currency code"),
    "values": lazy_gettext("Values"),
    "restricted": lazy_gettext("Accept only the listed values"),
    "target": lazy_gettext("Points to"),
    "relationship_name": lazy_gettext("Name of the related list"),
    "on_delete": lazy_gettext("When the record it points to is deleted"),
    "format": lazy_gettext("Number format"),
    "starting_number": lazy_gettext("First number"),
    "expression": lazy_gettext("Formula"),
    "return_type": lazy_gettext("Result type"),
    "object": lazy_gettext("Child object"),
    "relation": lazy_gettext("The child's lookup to this object"),
    "function": lazy_gettext("Aggregate"),
    "field": lazy_gettext("Field to aggregate"),
    "filter": lazy_gettext("Only child records where"),
}
OPTION_HELP = {
    "currency": lazy_gettext("ISO 4217 code, e.g. CNY or USD."),
    "restricted": lazy_gettext("Off: any value up to 80 characters is accepted too."),
    "relationship_name": lazy_gettext("How the list of these records is named on the record it points to."),
    "format": lazy_gettext("One placeholder of zeros, e.g. V-{0000} gives V-0001, V-0002 …"),
    "expression": lazy_gettext("A rule-language expression, e.g. price * quantity."),
    "field": lazy_gettext("Not needed for count."),
}
CHOICE_LABELS = {
    "set_null": lazy_gettext("Clear this field"),
    "restrict": lazy_gettext("Refuse the deletion"),
    "cascade": lazy_gettext("Delete this record too"),
    "text": lazy_gettext("Text"),
    "number": lazy_gettext("Number"),
    "currency": lazy_gettext("Currency"),
    "percent": lazy_gettext("Percent"),
    "date": lazy_gettext("Date"),
    "datetime": lazy_gettext("Date and time"),
    "boolean": lazy_gettext("Yes/No"),
    "count": lazy_gettext("Count"),
    "sum": lazy_gettext("Sum"),
    "min": lazy_gettext("Smallest"),
    "max": lazy_gettext("Largest"),
}
# Field types by label in the user's language (the registry's labels are English).
TYPE_LABELS = {
    "text": lazy_gettext("Text"),
    "long_text": lazy_gettext("Long text area"),
    "rich_text": lazy_gettext("Rich text"),
    "email": lazy_gettext("Email"),
    "phone": lazy_gettext("Phone"),
    "url": lazy_gettext("URL"),
    "integer": lazy_gettext("Integer"),
    "decimal": lazy_gettext("Decimal"),
    "currency": lazy_gettext("Currency"),
    "percent": lazy_gettext("Percent"),
    "boolean": lazy_gettext("Yes/No"),
    "date": lazy_gettext("Date"),
    "datetime": lazy_gettext("Date and time"),
    "picklist": lazy_gettext("Picklist"),
    "multi_picklist": lazy_gettext("Multi-select picklist"),
    "tags": lazy_gettext("Tags"),
    "lookup": lazy_gettext("Lookup"),
    "master_detail": lazy_gettext("Master-detail"),
    "many_to_many": lazy_gettext("Many-to-many"),
    "auto_number": lazy_gettext("Auto number"),
    "formula": lazy_gettext("Formula"),
    "roll_up": lazy_gettext("Roll-up summary"),
}
TYPE_HELP = {
    "text": lazy_gettext("One line of text: names, codes, short answers."),
    "long_text": lazy_gettext("Several lines of plain text: notes, descriptions."),
    "rich_text": lazy_gettext("Formatted text with headings, lists and links."),
    "email": lazy_gettext("An e-mail address, checked and clickable."),
    "phone": lazy_gettext("A phone number, clickable on a phone."),
    "url": lazy_gettext("A web address."),
    "integer": lazy_gettext("A whole number."),
    "decimal": lazy_gettext("A number with decimal places."),
    "currency": lazy_gettext("An amount of money in one currency."),
    "percent": lazy_gettext("A percentage."),
    "boolean": lazy_gettext("A tick box: yes or no."),
    "date": lazy_gettext("A calendar date."),
    "datetime": lazy_gettext("A date with a time of day."),
    "picklist": lazy_gettext("One value from a list you define, with colours."),
    "multi_picklist": lazy_gettext("Several values from a list you define."),
    "tags": lazy_gettext("Free labels the users type."),
    "lookup": lazy_gettext("A link to a record of another object."),
    "master_detail": lazy_gettext("A link to the master record; deleted with it."),
    "many_to_many": lazy_gettext("Links to any number of records of another object."),
    "auto_number": lazy_gettext("A number the system gives each new record."),
    "formula": lazy_gettext("A value computed from other fields."),
    "roll_up": lazy_gettext("Count, sum, smallest or largest over related records."),
}
# Colours offered for picklist values (a value keeps any other colour it has).
PALETTE = (
    ("#6c757d", lazy_gettext("Grey")),
    ("#0d6efd", lazy_gettext("Blue")),
    ("#20c997", lazy_gettext("Teal")),
    ("#198754", lazy_gettext("Green")),
    ("#ffc107", lazy_gettext("Yellow")),
    ("#fd7e14", lazy_gettext("Orange")),
    ("#dc3545", lazy_gettext("Red")),
    ("#6f42c1", lazy_gettext("Purple")),
    ("#d63384", lazy_gettext("Pink")),
)
NUMERIC_TYPES = ("integer", "decimal", "currency", "percent", "date", "datetime")


def type_label(name: str) -> str:
    if name in TYPE_LABELS:
        return str(TYPE_LABELS[name])
    registry = context.field_types()
    return registry.get(name).label if name in registry else name


@dataclass
class OptionControl:
    """One option of a field type as a form control. ``name`` is the form
    member and the path the pipeline's errors name (``options.max_length``)."""

    prop: str
    kind: str  # integer, number, text, select, checkbox, const, values, rule
    label: str
    help: str | None = None
    choices: list[tuple[str, str]] = field(default_factory=list)
    value: Any = None
    required: bool = False
    rule_object: str | None = None
    rule_use: str = "formula"
    refresh: bool = False  # choosing a value redraws the options (the roll-up's child object)

    @property
    def name(self) -> str:
        return f"options.{self.prop}"

    @property
    def id(self) -> str:
        return f"f-options-{self.prop}"


def _objects_choices() -> list[tuple[str, str]]:
    state = context.model().definitions
    return sorted(
        ((d["api_name"], label_of(d, "label", d["api_name"])) for d in state.objects()), key=lambda c: c[1].casefold()
    )


def _field_choices(object_name: str, predicate) -> list[tuple[str, str]]:
    state = context.model().definitions
    return [(f["api_name"], label_of(f, "label", f["api_name"])) for f in state.fields(object_name) if predicate(f)]


def option_controls(cls, options: dict, object_name: str) -> list[OptionControl]:
    """The controls of the options ``cls`` describes, holding ``options``."""
    schema = cls.options_schema
    required = set(schema.get("required") or ())
    controls = []
    child = options.get("object") if isinstance(options.get("object"), str) else None
    state = context.model().definitions
    if child and state.object(child) is None:
        child = None
    for prop, spec in (schema.get("properties") or {}).items():
        label = str(OPTION_LABELS.get(prop, prop.replace("_", " ").capitalize()))
        help_text = OPTION_HELP.get(prop) or spec.get("description")
        control = OptionControl(
            prop,
            "text",
            label,
            str(help_text) if help_text else None,
            value=options.get(prop),
            required=prop in required,
        )
        kind = spec.get("type")
        if prop == "values" and kind == "array":
            control.kind = "values"
            control.value = list(options.get("values") or [])
        elif "const" in spec:
            control.kind, control.value = "const", spec["const"]
        elif "enum" in spec:
            control.kind = "select"
            control.choices = [(str(v), str(CHOICE_LABELS.get(v, v))) for v in spec["enum"]]
            if control.value is None:
                control.value = spec.get("default")
        elif prop == "target" or (prop == "object" and cls.name == "roll_up"):
            control.kind = "select"
            control.choices = _objects_choices()
            control.refresh = prop == "object"
        elif prop == "expression":
            control.kind, control.rule_object, control.rule_use = "rule", object_name, "formula"
        elif prop == "filter" and cls.name == "roll_up" and child:
            control.kind, control.rule_object, control.rule_use = "rule", child, "filter"
        elif prop == "relation" and child:
            control.kind = "select"
            control.choices = _field_choices(child, lambda f: (f.get("options") or {}).get("target") == object_name)
        elif prop == "field" and cls.name == "roll_up" and child:
            control.kind = "select"
            control.choices = _field_choices(child, lambda f: f.get("type") in NUMERIC_TYPES)
        elif kind == "boolean":
            control.kind = "checkbox"
            if control.value is None:
                control.value = spec.get("default", False)
        elif kind in ("integer", "number"):
            control.kind = kind
        controls.append(control)
    return controls


# -- form <-> definition ---------------------------------------------------------------------------


def _checked(form, name: str) -> bool:
    values = form.getlist(name)
    return bool(values) and values[-1] in ("1", "on", "true")


def _number(text: str, integer: bool):
    if integer:
        return int(text)
    number = float(text)
    return int(number) if number.is_integer() and "." not in text else number


def options_from_form(cls, form, object_name: str) -> tuple[dict, dict[str, list[str]]]:
    """The options the form holds for a ``cls`` field, and the errors of
    texts that are no number; a blank control leaves its option out."""
    options: dict = {}
    errors: dict[str, list[str]] = {}
    for control in option_controls(cls, {"object": form.get("options.object")}, object_name):
        name = control.name
        if control.kind == "values":
            options["values"] = picklist_values_from_form(form)
        elif control.kind == "const":
            options[control.prop] = control.value
        elif control.kind == "checkbox":
            options[control.prop] = _checked(form, name)
        else:
            text = form.get(name, "").strip()
            if not text:
                continue
            if control.kind in ("integer", "number"):
                try:
                    options[control.prop] = _number(text, control.kind == "integer")
                except ValueError:
                    options[control.prop] = text
                    message = (
                        lazy_gettext("Enter a whole number.")
                        if control.kind == "integer"
                        else lazy_gettext("Enter a number.")
                    )
                    errors[name] = [str(message)]
            else:
                options[control.prop] = text
    return options, errors


def picklist_values_from_form(form) -> list[dict]:
    """The picklist rows in the order they stand on the page (dragging
    reorders them); a row without value and label is dropped, a row with a
    label only takes the label as its value."""
    rows = zip(
        form.getlist("pv.value"),
        form.getlist("pv.label"),
        form.getlist("pv.label_zh"),
        form.getlist("pv.color"),
        form.getlist("pv.active"),
        strict=False,
    )
    values = []
    for value, label, label_zh, color, active in rows:
        value, label, label_zh = value.strip(), label.strip(), label_zh.strip()
        if not (value or label):
            continue
        entry: dict = {"value": value or label}
        if label:
            entry["label"] = label
        if color:
            entry["color"] = color
        if active == "0":
            entry["active"] = False
        if label_zh:
            entry["translations"] = {ZH: label_zh}
        values.append(entry)
    return values


def _default_from_text(cls, document: dict, text: str):
    """A default typed as text → the value the definition stores (as the API takes it)."""
    bound = cls({**document, "default": None})
    value = bound.parse_import(text)
    return json_safe(value)


def field_document(cls, form, object_name: str, api_name: str) -> tuple[dict, dict[str, list[str]]]:
    """The field definition the form describes, and the form's own errors."""
    options, errors = options_from_form(cls, form, object_name)
    label = form.get("label", "").strip() or form.get("label_zh", "").strip()
    document: dict = {
        "api_name": api_name,
        "label": label,
        "type": cls.name,
        "required": _checked(form, "required"),
        "unique": _checked(form, "unique"),
        "help": form.get("help", "").strip(),
        "options": options,
    }
    translations = {}
    zh = {
        key: form.get(name, "").strip()
        for key, name in (("label", "label_zh"), ("help", "help_zh"))
        if form.get(name, "").strip()
    }
    if zh and form.get("label", "").strip():
        translations[ZH] = zh
    elif zh.get("help"):
        translations[ZH] = {"help": zh["help"]}
    document["translations"] = translations
    if cls.encryptable:
        document["encrypted"] = _checked(form, "encrypted")
    document["audit_reads"] = _checked(form, "audit_reads")
    if cls.computed:
        document["own_access"] = _checked(form, "own_access")
    if takes_default(cls):
        expression = form.get("default_expression", "").strip()
        document["default_expression"] = expression or None
        text = form.get("default", "").strip()
        document["default"] = None
        if text:
            try:
                document["default"] = _default_from_text(cls, document, text)
            except ValueError as exc:
                errors["default"] = [str(exc)]
    return document, errors


def takes_default(cls) -> bool:
    return not (cls.read_only or cls.computed or cls.stores_links)


def form_of(document: dict) -> dict:
    """What the form shows of a stored definition."""
    zh = (document.get("translations") or {}).get(ZH) or {}
    default = document.get("default")
    return {
        "api_name": document.get("api_name", ""),
        "label": document.get("label", ""),
        "label_zh": zh.get("label", ""),
        "help": document.get("help", ""),
        "help_zh": zh.get("help", ""),
        "required": bool(document.get("required")),
        "unique": bool(document.get("unique")),
        "encrypted": bool(document.get("encrypted")),
        "audit_reads": bool(document.get("audit_reads")),
        "own_access": bool(document.get("own_access")),
        "default": "" if default is None else ("true" if default is True else "false" if default is False else default),
        "default_expression": document.get("default_expression") or "",
        "options": document.get("options") or {},
    }


def form_of_post(form, options: dict) -> dict:
    values = {name: form.get(name, "") for name in ("api_name", "label", "label_zh", "help", "help_zh", "default")}
    values["default_expression"] = form.get("default_expression", "")
    for name in ("required", "unique", "encrypted", "audit_reads", "own_access"):
        values[name] = _checked(form, name)
    values["options"] = options
    return values


def _controls_of(cls, controls: list[OptionControl], options: dict) -> set[str]:
    """Every name an error may be shown under on the field form."""
    names = {"api_name", "label", "label_zh", "help", "help_zh", "required", "unique", "type"}
    names |= {"encrypted", "audit_reads", "own_access", "default", "default_expression", "options"}
    names |= {c.name for c in controls}
    for i, _value in enumerate(options.get("values") or []):
        names |= {f"options.values[{i}]", *(f"options.values[{i}].{k}" for k in ("value", "label", "color"))}
    return names


FIELD_ERRORS = {f"translations.{ZH}.label": "label_zh", f"translations.{ZH}.help": "help_zh"}


def _placed(exc: MetacrmError, cls, controls, options, definition: str | None = None) -> dict[str, list[str]]:
    return placed_errors(exc, FIELD_ERRORS, _controls_of(cls, controls, options), definition=definition)


def _row_errors(errors: dict, count: int) -> list[list[str]]:
    """The errors of each picklist row (any of its members)."""
    rows = []
    for i in range(count):
        prefix = f"options.values[{i}]"
        rows.append([m for path, ms in errors.items() if path == prefix or path.startswith(prefix + ".") for m in ms])
    return rows


# -- views -------------------------------------------------------------------------------------------


def _row_action(form, options: dict) -> bool:
    """The picklist editor's buttons without JavaScript: "Add a value",
    "Remove", "Move up" and "Move down" post the form, which comes back with
    one row more or less, or two rows swapped."""
    action = form.get("_action", "")
    rows = options.setdefault("values", []) if "values" in options else None
    if rows is None:
        return False
    if action == "add_value":
        rows.append({})
        return True
    if action.startswith("remove_value:"):
        index = action.split(":", 1)[1]
        if index.isdigit() and int(index) < len(rows):
            rows.pop(int(index))
        return True
    if action.startswith(("up_value:", "down_value:")):
        # "Move up" / "Move down": the keyboard's way to reorder (the drag handle is the mouse's).
        direction, _sep, index = action.partition(":")
        if index.isdigit():
            i = int(index)
            j = i - 1 if direction == "up_value" else i + 1
            if 0 <= i < len(rows) and 0 <= j < len(rows):
                rows[i], rows[j] = rows[j], rows[i]
        return True
    return False


def _live_object(name: str) -> dict:
    item = object_definition(name, include_deleted=False)
    return item.document


def _type_cards() -> list[dict]:
    registry = context.field_types()
    return [
        {"name": cls.name, "label": type_label(cls.name), "help": str(TYPE_HELP.get(cls.name, ""))} for cls in registry
    ]


def _render_field(
    object_name: str,
    cls,
    values: dict,
    errors: dict,
    status: int = 200,
    *,
    creating: bool,
    item=None,
    template: str = "setup/objects/field.html",
    **extra,
):
    controls = option_controls(cls, values["options"], object_name)
    picklist_rows = values["options"].get("values") or []
    if any(c.kind == "values" for c in controls) and not picklist_rows:
        picklist_rows = [{}]
    document = _live_object(object_name)
    palette = [(hex_, str(name)) for hex_, name in PALETTE]
    return (
        render_template(
            template,
            section="ui.setup_objects",
            object_name=object_name,
            object_label=label_of(document, "label", object_name),
            tab="ui.setup_object",
            cls=cls,
            type_name=cls.name,
            type_title=type_label(cls.name),
            values=values,
            errors=errors,
            option_list=controls,
            picklist_rows=picklist_rows,
            row_errors=_row_errors(errors, len(picklist_rows)),
            palette=palette,
            palette_values={hex_ for hex_, _name in PALETTE},
            creating=creating,
            takes_default=takes_default(cls),
            item=item,
            converts_to=sorted(getattr(cls, "CONVERTIBLE_TO", {}) or {}),
            type_label=type_label,
            **extra,
        ),
        status,
    )


@setup_route("/setup/objects/<object>/fields/new", METADATA, methods=["GET", "POST"])
def setup_field_new(object):
    """Choose a type (``?type=`` unset: the type cards), then its options."""
    _live_object(object)
    registry = context.field_types()
    type_name = request.values.get("type", "")
    if type_name not in registry:
        document = _live_object(object)
        return render_template(
            "setup/objects/field_types.html",
            section="ui.setup_objects",
            object_name=object,
            object_label=label_of(document, "label", object),
            tab="ui.setup_object",
            types=_type_cards(),
        )
    cls = registry.get(type_name)
    if request.method == "GET":
        if request.args.get("refresh"):  # the roll-up's child was chosen: redraw with what was typed
            options, _errors = options_from_form(cls, request.args, object)
            return _render_field(object, cls, form_of_post(request.args, options), {}, creating=True)
        return _render_field(object, cls, form_of({"required": False}), {}, creating=True)
    api_name = request.form.get("api_name", "").strip()
    document, errors = field_document(cls, request.form, object, api_name)
    values = form_of_post(request.form, document["options"])
    if _row_action(request.form, document["options"]):
        return _render_field(object, cls, values, {}, creating=True)
    if not api_name:
        errors["api_name"] = [str(lazy_gettext("Give the field an API name (lower-case letters, digits and _)."))]
    if not document["label"]:
        errors["label"] = [str(lazy_gettext("Give the field a label."))]
    if errors:
        return _render_field(object, cls, values, errors, 422, creating=True)
    try:
        with context.metadata_service().change(f"add field {object}.{api_name}") as tx:
            tx.add_field(object, document)
    except MetacrmError as exc:
        controls = option_controls(cls, document["options"], object)
        errors = _placed(exc, cls, controls, document["options"], f"field:{object}.{api_name}")
        return _render_field(object, cls, values, errors, 422, creating=True)
    return redirect(url_for("ui.setup_object", object=object, done="field_saved") + "#fields")


def _field_item(object_name: str, field_name: str, *, include_deleted: bool = False):
    item = context.model().definitions.get(
        "field", scoped_key(object_name, field_name), include_deleted=include_deleted
    )
    if item is None:
        raise NotFound(f"no field {field_name!r} on {object_name}")
    return item


@setup_route("/setup/objects/<object>/fields/<field>", METADATA, methods=["GET", "POST"])
def setup_field(object, field):
    """Edit a field: its labels, help, flags, default and every option of its type."""
    _live_object(object)
    if field in SYSTEM_FIELDS:
        raise NotFound(f"{field} is a system field; it cannot be edited")
    item = _field_item(object, field)
    registry = context.field_types()
    cls = registry.get(item.document["type"])
    if request.method == "GET":
        if request.args.get("refresh"):
            options, _errors = options_from_form(cls, request.args, object)
            return _render_field(object, cls, form_of_post(request.args, options), {}, creating=False, item=item)
        return _render_field(object, cls, form_of(item.document), {}, creating=False, item=item)
    document, errors = field_document(cls, request.form, object, field)
    values = form_of_post(request.form, document["options"])
    values["api_name"] = field
    if _row_action(request.form, document["options"]):
        return _render_field(object, cls, values, {}, creating=False, item=item)
    if not document["label"]:
        errors["label"] = [str(lazy_gettext("Give the field a label."))]
    if errors:
        return _render_field(object, cls, values, errors, 422, creating=False, item=item)
    patch = {k: v for k, v in document.items() if k not in ("api_name", "type")}
    try:
        with context.metadata_service().change(f"update field {object}.{field}") as tx:
            tx.update_field(object, field, patch)
    except MetacrmError as exc:
        controls = option_controls(cls, document["options"], object)
        errors = _placed(exc, cls, controls, document["options"], f"field:{object}.{field}")
        return _render_field(object, cls, values, errors, 422, creating=False, item=item)
    return redirect(url_for("ui.setup_object", object=object, done="field_saved") + "#fields")


@setup_route("/setup/objects/<object>/fields/<field>/delete", METADATA, methods=["POST"])
def setup_field_delete(object, field):
    """Into the recycle bin: the column and its values stay until purged."""
    _live_object(object)
    _field_item(object, field)
    try:
        with context.metadata_service().change(f"delete field {object}.{field}") as tx:
            tx.delete_field(object, field)
    except MetacrmError as exc:
        return _action_refused(object, exc)
    return redirect(url_for("ui.setup_object", object=object, done="field_deleted") + "#fields")


@setup_route("/setup/objects/<object>/fields/<field>/restore", METADATA, methods=["POST"])
def setup_field_restore(object, field):
    _live_object(object)
    _field_item(object, field, include_deleted=True)
    try:
        with context.metadata_service().change(f"restore field {object}.{field}") as tx:
            tx.restore_field(object, field)
    except MetacrmError as exc:
        return _action_refused(object, exc)
    return redirect(url_for("ui.setup_object", object=object, done="field_restored") + "#fields")


def _action_refused(object_name: str, exc: MetacrmError):
    from metacrm.ui.views.setup.objects import _object_form, _render_object

    item = object_definition(object_name)
    return _render_object(item, _object_form(item.document), {}, 409, action_error=exc.message)


# -- type change -------------------------------------------------------------------------------------


@setup_route("/setup/objects/<object>/fields/<field>/type", METADATA, methods=["GET", "POST"])
def setup_field_type(object, field):
    """Change a field's type: the options of the new type, then a preview of
    how many stored values convert (and a sample of those that don't, with
    their records) before "Apply" changes it through the pipeline."""
    _live_object(object)
    item = _field_item(object, field)
    registry = context.field_types()
    old_cls = registry.get(item.document["type"])
    allowed = sorted(getattr(old_cls, "CONVERTIBLE_TO", {}) or {})
    new_name = request.values.get("type", "")
    if new_name not in allowed:
        errors = {"type": [str(lazy_gettext("Choose one of the types offered."))]} if new_name else {}
        return _render_type_change(object, item, old_cls, None, allowed, {}, errors, None, 422 if new_name else 200)
    cls = registry.get(new_name)
    if request.method == "GET" or request.values.get("refresh"):
        source = request.args if request.args.get("refresh") else None
        if source is not None:
            options, _errors = options_from_form(cls, source, object)
        else:  # the options the new type shares with the old one
            keep = set(cls.options_schema.get("properties") or {})
            options = {k: v for k, v in (item.document.get("options") or {}).items() if k in keep}
        preview, errors = _preview(object, field, cls, options)
        return _render_type_change(object, item, old_cls, cls, allowed, options, errors, preview)
    options, errors = options_from_form(cls, request.form, object)
    if _row_action(request.form, options):
        return _render_type_change(object, item, old_cls, cls, allowed, options, {}, None)
    if errors:
        return _render_type_change(object, item, old_cls, cls, allowed, options, errors, None, 422)
    if request.form.get("_action") != "apply":
        preview, errors = _preview(object, field, cls, options)
        return _render_type_change(
            object, item, old_cls, cls, allowed, options, errors, preview, 422 if errors else 200
        )
    try:
        with context.metadata_service().change(f"update field {object}.{field}") as tx:
            tx.update_field(
                object,
                field,
                {"type": new_name, "options": options, "default": None},
                clear_unconvertible=_checked(request.form, "clear_unconvertible"),
            )
    except MetacrmError as exc:
        preview = (exc.details or {}).get("preview") if isinstance(exc, Conflict) else None
        if preview is None:
            preview, _ignored = _preview(object, field, cls, options)
        controls = option_controls(cls, options, object)
        errors = _placed(exc, cls, controls, options, f"field:{object}.{field}")
        return _render_type_change(object, item, old_cls, cls, allowed, options, errors, preview, 422)
    return redirect(url_for("ui.setup_object", object=object, done="type_changed") + "#fields")


def _preview(object_name: str, field_name: str, cls, options: dict) -> tuple[dict | None, dict]:
    """The conversion preview (nothing is written), or the errors of the options."""
    try:
        with context.metadata_service().change("preview") as tx:
            preview = tx.preview_field_change(
                object_name, field_name, {"type": cls.name, "options": options, "default": None}, samples=3
            )
    except (ValidationFailed, Conflict) as exc:
        controls = option_controls(cls, options, object_name)
        return None, _placed(exc, cls, controls, options, f"field:{object_name}.{field_name}")
    return preview, {}


def _render_type_change(object_name, item, old_cls, cls, allowed, options, errors, preview, status=200):
    if cls is None:
        document = _live_object(object_name)
        return (
            render_template(
                "setup/objects/field_type.html",
                section="ui.setup_objects",
                object_name=object_name,
                object_label=label_of(document, "label", object_name),
                tab="ui.setup_object",
                item=item,
                old_type=old_cls.name,
                allowed=allowed,
                type_label=type_label,
                cls=None,
                errors=errors,
                preview=None,
                values={"options": {}},
                option_list=[],
                picklist_rows=[],
            ),
            status,
        )
    values = {**form_of(item.document), "options": options}
    return _render_field(
        object_name,
        cls,
        values,
        errors,
        status,
        creating=False,
        item=item,
        template="setup/objects/field_type.html",
        old_type=old_cls.name,
        allowed=allowed,
        preview=preview,
    )
