"""The conversion screen ``/o/<object>/<id>/convert`` (a lead into an
account, a contact and an opportunity; :mod:`metacrm.data.conversion`).

One section per target of the object's conversion: the existing records
the target's duplicate rules say it likely is (radio buttons), "create
new" with the fields the definition's ``form`` names (pre-filled from the
mapping), and "don't create one" for an optional target. The post is the
API's body; errors come back beside their field (``account.name``), or
above the form for a field the form does not show. Converted, the user
lands on the first target (the account). Reached from the record page's
"Convert" button, shown to users who may update the record while it is
not converted.
"""

from __future__ import annotations

import copy

from flask import flash, redirect, render_template, request
from flask_babel import gettext as _

from metacrm.data.conversion import conversions, convert, definition_for, is_converted, mapped_values, suggestions
from metacrm.metadata.physical import CompiledObject
from metacrm.platform.errors import MetacrmError, ValidationFailed
from metacrm.plugins import context
from metacrm.ui.blueprint import blueprint
from metacrm.ui.i18n import label_of
from metacrm.ui.record_form import posted_value
from metacrm.ui.screens import object_for

NEW, SKIP = "new", "skip"


def record_conversions(obj: CompiledObject, record: dict) -> list[dict]:
    """The conversions the record page offers: the object's, while the
    record is not converted and the user may update it."""
    if not context.guard().permits("update", obj):
        return []
    return [document for document in conversions(context.model(), obj.api_name) if not is_converted(document, record)]


def _form_fields(target_obj: CompiledObject, target: dict, writable: set[str]) -> list:
    """The target's fields the screen asks for, each renamed ``<target>.<field>``
    so one form holds every target (and errors arrive under those names)."""
    names = target.get("form")
    if not names:
        names = [target_obj.name_field] if target_obj.name_field else []
        names += [n for n, f in target_obj.fields.items() if f.required and f.definition.get("default") is None
                  and not f.definition.get("default_expression") and n not in names]  # fmt: skip
    fields = []
    for name in names:
        field = target_obj.fields.get(name)
        if field is None or name not in writable or field.computed:
            continue
        shown = copy.copy(field)
        shown.api_name = f"{target['object']}.{name}"
        fields.append(shown)
    return fields


def _sections(store, document: dict, source: dict) -> list[dict]:
    matches = suggestions(store, document, source)
    sections = []
    for target in document["targets"]:
        target_obj = store.object(target["object"])
        mapped = mapped_values(store, target, source)
        fields = _form_fields(target_obj, target, store.guard.writable_fields(target_obj))
        found = matches.get(target["object"], [])
        sections.append(
            {
                "target": target,
                "obj": target_obj,
                "label": label_of(target_obj.definition, "label", target_obj.api_name),
                "matches": found,
                "fields": fields,
                "values": {f.api_name: mapped.get(f.api_name.split(".", 1)[1]) for f in fields},
                "choice": str(found[0].id) if found else NEW,
            }
        )
    return sections


def _posted(sections: list[dict], errors: dict[str, list[str]]) -> dict:
    """The API body of the form post; a value that does not parse goes to ``errors``."""
    body = {}
    for section in sections:
        name = section["target"]["object"]
        choice = request.form.get(f"{name}.choice", NEW)
        section["choice"] = choice
        if choice == SKIP:
            body[name] = None
        elif choice.isdigit():
            body[name] = {"id": int(choice)}
        else:
            values = {}
            for field in section["fields"]:
                try:
                    value = posted_value(field, request.form)
                except ValueError as exc:
                    errors[field.api_name] = [str(exc)]
                    continue
                section["values"][field.api_name] = value
                if value not in (None, "", []):
                    values[field.api_name.split(".", 1)[1]] = value
            body[name] = {"values": values}
    return body


@blueprint.route("/o/<object>/<int:record_id>/convert", methods=["GET", "POST"])
def convert_record(object, record_id):
    obj = object_for(object, "update")
    store = context.store()
    document = definition_for(store, obj.api_name, request.values.get("conversion"))
    source = store.get(obj.api_name, record_id, action="update")
    if is_converted(document, source):
        flash(_("This record is converted already."), "info")
        return redirect(f"/o/{obj.api_name}/{record_id}")
    sections = _sections(store, document, source)
    errors: dict[str, list[str]] = {}
    problem = None
    if request.method == "POST":
        body = _posted(sections, errors)
        body["conversion"] = document["api_name"]
        if not errors:
            try:
                result = convert(store, obj.api_name, record_id, body)
            except ValidationFailed as exc:
                errors = dict((exc.details or {}).get("fields") or {})
                problem = exc.message
            except MetacrmError as exc:
                problem = exc.message
            else:
                first = next((name for name, made in result["targets"].items() if made), None)
                flash(_("Converted: the records are created and linked."), "success")
                if first is None:
                    return redirect(f"/o/{obj.api_name}/{record_id}")
                return redirect(f"/o/{first}/{result['targets'][first]['id']}")
        else:
            problem = _("Some values are not valid.")
    shown = {f.api_name for section in sections for f in section["fields"]}
    shown |= {key for section in sections for key in (section["target"]["object"], section["target"]["object"] + ".id")}
    # Errors of fields the form does not show are listed above it, by their target's label.
    elsewhere = [(key, messages) for key, messages in errors.items() if key not in shown]
    return render_template(
        "conversion/convert.html",
        obj=obj,
        record=source,
        name=source.get(obj.name_field) if obj.name_field else None,
        document=document,
        sections=sections,
        errors=errors,
        elsewhere=elsewhere,
        problem=problem,
    ), (422 if problem else 200)
