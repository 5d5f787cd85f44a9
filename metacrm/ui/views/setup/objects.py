"""The object manager: the list of objects (standard and custom, with their
record counts), creating one, editing, deleting and restoring it, and the
table of its fields. The field editor is :mod:`.objects_fields`.

Every change goes through the change pipeline
(``context.metadata_service().change``), as ``metacrm/api/meta.py`` does;
errors of the pipeline are shown beside the control that caused them.
"""

from __future__ import annotations

from flask import redirect, render_template, request, url_for
from flask_babel import lazy_gettext
from werkzeug.datastructures import MultiDict

from metacrm.metadata.definitions import Definition
from metacrm.metadata.naming import suggest_api_name
from metacrm.metadata.reserved import SYSTEM_FIELDS
from metacrm.platform.errors import MetacrmError, NotFound
from metacrm.plugins import context, records
from metacrm.ui.i18n import label_of
from metacrm.ui.setup import METADATA, field_errors, setup_route

# Counts stop here: one probe past it, so a big table costs no full scan.
COUNT_CAP = 10000
ZH = "zh_CN"
# Icons an object may show (all in the sprite static/vendor/icons-1.13.1.svg).
OBJECT_ICONS = (
    "briefcase",
    "building",
    "people",
    "person",
    "envelope",
    "telephone",
    "calendar-event",
    "chat-left-text",
    "journal-text",
    "kanban",
    "inbox",
    "star",
    "globe",
    "key",
    "shield-lock",
    "grid",
    "house",
    "gear",
)
DONE_MESSAGES = {
    "created": lazy_gettext("The object was created."),
    "saved": lazy_gettext("Saved."),
    "deleted": lazy_gettext("The object is in the recycle bin; you can restore it from the deleted objects."),
    "restored": lazy_gettext("The object was restored."),
    "field_saved": lazy_gettext("The field was saved."),
    "field_deleted": lazy_gettext("The field is in the recycle bin; restore it from the deleted fields below."),
    "field_restored": lazy_gettext("The field was restored."),
    "type_changed": lazy_gettext("The field's type was changed."),
}
NAME_TYPES = (("text", lazy_gettext("Text")), ("auto_number", lazy_gettext("Auto number")))


def done_message() -> str | None:
    message = DONE_MESSAGES.get(request.args.get("done", ""))
    return str(message) if message else None


def object_definition(name: str, *, include_deleted: bool = True) -> Definition:
    """The object's definition (in the recycle bin too), or 404."""
    item = context.model().definitions.get("object", name, include_deleted=include_deleted)
    if item is None:
        raise NotFound(f"no object {name!r}")
    return item


def _sources() -> dict[str, str]:
    """Object → the label of the package that installed it."""
    return {
        obj: package.document.get("label") or package.key
        for package in context.model().definitions.live("package")
        for obj in package.document.get("objects") or ()
    }


def _record_count(api_name: str) -> tuple[int | None, bool]:
    """How many records the admin's guard lets them see, capped (None when it may not read them)."""
    try:
        return records.capped_total(context.store(), api_name, records.ListRequest.from_args(MultiDict()), COUNT_CAP)
    except MetacrmError:
        return None, False


# -- the list of objects -----------------------------------------------------------------------------


@setup_route("/setup/objects", METADATA)
def setup_objects():
    """Every object with its source, field and record counts; ``?deleted=1``: those in the recycle bin."""
    deleted = request.args.get("deleted") == "1"
    state = context.model().definitions
    sources = _sources()
    items = [d for (kind, _key), d in sorted(state.items.items()) if kind == "object" and d.live != deleted]
    rows = []
    for item in items:
        document = item.document
        count, capped = (None, False) if deleted else _record_count(item.key)
        rows.append(
            {
                "api_name": item.key,
                "label": label_of(document, "label", item.key),
                "plural_label": label_of(document, "plural_label", document.get("label", item.key)),
                "icon": document.get("icon"),
                "source": sources.get(item.key),
                "field_count": len(state.fields(item.key)),
                "count": count,
                "capped": capped,
                "deleted_at": item.deleted_at,
            }
        )
    rows.sort(key=lambda row: row["label"].casefold())
    return render_template(
        "setup/objects/list.html", section="ui.setup_objects", rows=rows, deleted=deleted, done=done_message()
    )


# -- a new object ------------------------------------------------------------------------------------


def _new_object_form(form) -> dict:
    return {
        name: form.get(name, "").strip()
        for name in (
            "label",
            "label_zh",
            "plural_label",
            "plural_label_zh",
            "api_name",
            "name_label",
            "name_type",
            "name_format",
            "icon",
            "description",
        )
    }


# Errors of the pipeline on the documents → the control that shows them.
NEW_OBJECT_ERRORS = {
    "fields[0].label": "name_label",
    "fields[0].type": "name_type",
    "fields[0].options.format": "name_format",
    "fields[0].options": "name_format",
    f"translations.{ZH}.label": "label_zh",
    f"translations.{ZH}.plural_label": "plural_label_zh",
}
OBJECT_CONTROLS = {
    "label",
    "label_zh",
    "plural_label",
    "plural_label_zh",
    "api_name",
    "name_label",
    "name_type",
    "name_format",
    "icon",
    "description",
    "description_zh",
    "name_field",
}


def placed_errors(
    exc: MetacrmError, renames: dict[str, str], controls: set[str], *, definition: str | None = None
) -> dict[str, list[str]]:
    """:func:`field_errors`, renamed to the form's controls; what no control
    shows goes above the form (``$``) with the path it names. ``definition``
    (``field:account.amount``): the definition the form edits, as the checks
    of the whole model name it in their paths."""
    placed: dict[str, list[str]] = {}
    for path, messages in field_errors(exc).items():
        if definition and path.startswith(definition + "."):
            path = path[len(definition) + 1 :]
        name = renames.get(path, path)
        if name in controls or name == "$":
            placed.setdefault(name, []).extend(messages)
        else:
            placed.setdefault("$", []).extend(f"{path}: {m}" for m in messages)
    return placed


def _translations(**texts: str) -> dict:
    chosen = {key: value for key, value in texts.items() if value}
    return {ZH: chosen} if chosen else {}


@setup_route("/setup/objects/new", METADATA, methods=["GET", "POST"])
def setup_object_new():
    """Create an object: labels in both languages, the API name suggested
    from the label, its name field (text or auto number), icon, description."""
    if request.method == "GET":
        form = _new_object_form(MultiDict({"name_label": "Name", "name_type": "text"}))
        return _render_new(form, {})
    form = _new_object_form(request.form)
    errors: dict[str, list[str]] = {}
    label = form["label"] or form["label_zh"]
    if not label:
        errors["label"] = [str(lazy_gettext("Give the object a label."))]
    if not form["api_name"]:
        errors["api_name"] = [str(lazy_gettext("Give the object an API name (lower-case letters, digits and _)."))]
    if form["name_type"] == "auto_number" and not form["name_format"]:
        errors["name_format"] = [str(lazy_gettext('Give the number a format, e.g. "V-{0000}".'))]
    if errors:
        return _render_new(form, errors, 422)
    document = {"api_name": form["api_name"], "label": label, "plural_label": form["plural_label"] or label}
    if form["description"]:
        document["description"] = form["description"]
    if form["icon"] in OBJECT_ICONS:
        document["icon"] = form["icon"]
    translations = _translations(
        label=form["label_zh"] if form["label"] else "", plural_label=form["plural_label_zh"] or form["label_zh"]
    )
    if translations:
        document["translations"] = translations
    name_field = {"api_name": "name", "label": form["name_label"] or "Name", "required": True, "indexed": True}
    if form["name_type"] == "auto_number":
        name_field = {
            **name_field,
            "type": "auto_number",
            "required": False,
            "options": {"format": form["name_format"]},
        }
    else:
        name_field["type"] = "text"
    document["name_field"] = "name"
    try:
        with context.metadata_service().change(f"create object {document['api_name']}") as tx:
            tx.create_object(document, [name_field])
    except MetacrmError as exc:
        return _render_new(form, placed_errors(exc, NEW_OBJECT_ERRORS, OBJECT_CONTROLS), 422)
    return redirect(url_for("ui.setup_object", object=document["api_name"], done="created"))


def _render_new(form: dict, errors: dict, status: int = 200):
    return (
        render_template(
            "setup/objects/new.html",
            section="ui.setup_objects",
            form=form,
            errors=errors,
            icons=OBJECT_ICONS,
            name_types=NAME_TYPES,
        ),
        status,
    )


@setup_route("/setup/objects/suggest-name", METADATA)
def setup_suggest_api_name():
    """The API name control with a name suggested from the label (htmx, as
    the admin types the label). ``for=field`` and ``object=`` suggest a field
    name free on that object; a name the admin typed themselves is kept."""
    kind = "field" if request.args.get("for") == "field" else "object"
    state = context.model().definitions
    if kind == "field":
        object_name = request.args.get("object", "")
        taken = {d.key.split(".", 1)[1] for d in state.scoped("field", object_name, include_deleted=True)}
        taken |= set(SYSTEM_FIELDS)
    else:
        taken = {key for (k, key) in state.items if k == "object"}
    typed = request.args.get("api_name", "").strip()
    label = request.args.get("label", "") or request.args.get("label_zh", "")
    touched = request.args.get("api_name_touched") == "1"
    value = typed if touched and typed else suggest_api_name(label, taken, kind=kind)
    no_suggestion = bool(label.strip()) and not value
    return render_template(
        "setup/objects/_api_name.html", kind=kind, value=value, errors={}, no_suggestion=no_suggestion, touched=touched
    )


# -- one object --------------------------------------------------------------------------------------


def _object_form(document: dict) -> dict:
    zh = (document.get("translations") or {}).get(ZH) or {}
    return {
        "label": document.get("label", ""),
        "label_zh": zh.get("label", ""),
        "plural_label": document.get("plural_label", ""),
        "plural_label_zh": zh.get("plural_label", ""),
        "description": document.get("description", ""),
        "description_zh": zh.get("description", ""),
        "icon": document.get("icon", ""),
        "name_field": document.get("name_field") or "",
    }


OBJECT_ERRORS = {
    f"translations.{ZH}.label": "label_zh",
    f"translations.{ZH}.plural_label": "plural_label_zh",
    f"translations.{ZH}.description": "description_zh",
}


@setup_route("/setup/objects/<object>", METADATA, methods=["GET", "POST"])
def setup_object(object):
    """An object's properties (saved with POST) and its fields."""
    item = object_definition(object)
    if request.method == "GET":
        return _render_object(item, _object_form(item.document), {})
    if not item.live:
        raise NotFound(f"object {object!r} is in the recycle bin: restore it first")
    form = {name: request.form.get(name, "").strip() for name in _object_form({})}
    patch: dict = {
        "label": form["label"],
        "plural_label": form["plural_label"] or form["label"],
        "description": form["description"],
        "name_field": form["name_field"] or None,
    }
    if form["icon"] in OBJECT_ICONS:
        patch["icon"] = form["icon"]
    elif "icon" in item.document:
        patch["icon"] = ""
    translations = dict(item.document.get("translations") or {})
    zh = _translations(label=form["label_zh"], plural_label=form["plural_label_zh"], description=form["description_zh"])
    if zh:
        translations[ZH] = zh[ZH]
    else:
        translations.pop(ZH, None)
    patch["translations"] = translations
    try:
        with context.metadata_service().change(f"update object {object}") as tx:
            tx.update_object(object, patch)
    except MetacrmError as exc:
        return _render_object(item, form, placed_errors(exc, OBJECT_ERRORS, OBJECT_CONTROLS), 422)
    return redirect(url_for("ui.setup_object", object=object, done="saved"))


def _render_object(item: Definition, form: dict, errors: dict, status: int = 200, *, action_error: str | None = None):
    from metacrm.ui.views.setup.objects_fields import type_label

    state = context.model().definitions
    fields = state.scoped("field", item.key, include_deleted=True)

    def row(d: Definition) -> dict:
        document = d.document
        type_name = document.get("type")
        return {
            "api_name": document["api_name"],
            "label": label_of(document, "label", document["api_name"]),
            "type": type_name,
            "type_label": type_label(type_name),
            "required": document.get("required"),
            "unique": document.get("unique"),
            "help": label_of(document, "help", ""),
            "is_name": item.document.get("name_field") == document["api_name"],
            "deleted_at": d.deleted_at,
        }

    name_choices = [
        (d.document["api_name"], label_of(d.document, "label", d.document["api_name"]))
        for d in fields
        if d.live and d.document.get("type") in ("text", "auto_number", "email", "phone")
    ]
    return (
        render_template(
            "setup/objects/object.html",
            section="ui.setup_objects",
            object_name=item.key,
            tab="ui.setup_object",
            item=item,
            title=label_of(item.document, "label", item.key),
            form=form,
            errors=errors,
            icon_pairs=[(name, name) for name in OBJECT_ICONS],
            name_choices=name_choices,
            live_fields=[row(d) for d in fields if d.live],
            deleted_fields=[row(d) for d in fields if not d.live],
            system_fields=SYSTEM_FIELDS,
            source=_sources().get(item.key),
            done=done_message(),
            action_error=action_error,
        ),
        status,
    )


@setup_route("/setup/objects/<object>/delete", METADATA, methods=["POST"])
def setup_object_delete(object):
    """Into the recycle bin (the table and its records stay until purged)."""
    item = object_definition(object, include_deleted=False)
    try:
        with context.metadata_service().change(f"delete object {object}") as tx:
            tx.delete_object(object)
    except MetacrmError as exc:
        return _render_object(item, _object_form(item.document), {}, 409, action_error=exc.message)
    return redirect(url_for("ui.setup_objects", done="deleted"))


@setup_route("/setup/objects/<object>/restore", METADATA, methods=["POST"])
def setup_object_restore(object):
    item = object_definition(object)
    try:
        with context.metadata_service().change(f"restore object {object}") as tx:
            tx.restore_object(object)
    except MetacrmError as exc:
        return _render_object(item, _object_form(item.document), {}, 409, action_error=exc.message)
    return redirect(url_for("ui.setup_object", object=object, done="restored"))


# The field editor registers its routes on import.
from metacrm.ui.views.setup import objects_fields  # noqa: E402, F401
