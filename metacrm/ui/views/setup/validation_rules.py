"""Validation rules of an object, with live checking
(``/setup/objects/<object>/validation-rules``).

A validation rule is a condition that must NOT hold when a record is saved:
when it does, the save is refused with the rule's message beside its field
(or at the top of the form). The list switches rules on and off; the form
edits the api name, the message in both languages, the field it is shown
beside, the condition in the rule editor (checked by the server as the
admin types) and whether it is active. Every change goes through
:mod:`metacrm.rules.validation_rules`, the change pipeline the REST API
uses: one transaction, a revision, an audit entry.
"""

from __future__ import annotations

import re

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from metacrm.metadata.physical import CompiledObject
from metacrm.platform.errors import MetacrmError
from metacrm.plugins import context
from metacrm.rules import RuleError
from metacrm.rules import validation_rules as rules
from metacrm.ui.blueprint import htmx
from metacrm.ui.i18n import label_of
from metacrm.ui.setup import METADATA, field_errors, setup_object, setup_route

SECOND_LANGUAGE = "zh_CN"  # the language whose message the form edits beside the default one


def rule_field_errors(exc: MetacrmError, member: str) -> dict[str, list[str]]:
    """A refusal's messages by the control they belong to; a rule-language
    error goes beside ``member`` (the condition, the statement) with its
    line and column in the reader's language."""
    if isinstance(exc, RuleError):
        text = _("Line %(line)d, column %(column)d: %(reason)s", line=exc.line, column=exc.column, reason=exc.reason)
        return {member: [text]}
    errors = field_errors(exc)
    # The change pipeline names a definition's member as "<kind>:<key>.<member>".
    renamed: dict[str, list[str]] = {}
    for name, messages in errors.items():
        if ":" in name:
            parts = name.split(":", 1)[1].split(".", 2)
            name = parts[2] if len(parts) == 3 else "$"
        renamed.setdefault(name, []).extend(messages)
    return renamed


def indexed_field_errors(exc: MetacrmError, member: str) -> dict[str, list[str]]:
    """:func:`rule_field_errors` for forms whose controls name list items by
    position (``steps.0.name``): schema paths say ``steps[0].name``, a kind's
    own checks ``steps.0.name``; both become the control's name."""
    errors: dict[str, list[str]] = {}
    for name, messages in rule_field_errors(exc, member).items():
        errors.setdefault(re.sub(r"\[(\d+)\]", r".\1", name), []).extend(messages)
    return errors


def _field_options(obj: CompiledObject) -> list[tuple[str, str]]:
    return [(name, label_of(field.definition, "label", name)) for name, field in obj.fields.items()]


def _form_document(form, existing: dict | None) -> dict:
    """The rule as the form posts it, over what the form does not edit (label, other translations)."""
    document = dict(existing or {})
    if existing is None:
        document["api_name"] = form.get("api_name", "").strip()
    document["message"] = form.get("message", "").strip()
    document["condition"] = form.get("condition", "").strip()
    document["field"] = form.get("field") or None
    document["active"] = "1" in form.getlist("active")
    for member in ("label", "description"):
        value = form.get(member, "").strip()
        if value:
            document[member] = value
        else:
            document.pop(member, None)
    translations = {k: dict(v) for k, v in (document.get("translations") or {}).items()}
    second = form.get("message_zh_CN", "").strip()
    if second:
        translations.setdefault(SECOND_LANGUAGE, {})["message"] = second
    else:
        translations.get(SECOND_LANGUAGE, {}).pop("message", None)
    translations = {k: v for k, v in translations.items() if v}
    if translations:
        document["translations"] = translations
    else:
        document.pop("translations", None)
    return document


def _render_form(obj: CompiledObject, rule: dict, *, creating: bool, errors=None, status: int = 200):
    return (
        render_template(
            "setup/validation_rules/form.html",
            obj=obj,
            object_name=obj.api_name,
            rule=rule,
            creating=creating,
            errors=errors or {},
            field_options=_field_options(obj),
            second_message=((rule.get("translations") or {}).get(SECOND_LANGUAGE) or {}).get("message", ""),
            section="ui.setup_objects",
            tab="ui.setup_validation_rules",
        ),
        status,
    )


@setup_route("/setup/objects/<object>/validation-rules", METADATA)
def setup_validation_rules(object):
    """The object's validation rules: message, field, active (switch on and off)."""
    obj = setup_object(object)
    return render_template(
        "setup/validation_rules/list.html",
        obj=obj,
        object_name=object,
        rules=rules.validation_rules(context.model(), object),
        field_labels=dict(_field_options(obj)),
        section="ui.setup_objects",
        tab="ui.setup_validation_rules",
    )


@setup_route("/setup/objects/<object>/validation-rules/new", METADATA, methods=["GET", "POST"])
def setup_validation_rule_new(object):
    """A new validation rule; saved, back to the list."""
    obj = setup_object(object)
    if request.method == "GET":
        return _render_form(obj, {"active": True}, creating=True)
    document = _form_document(request.form, None)
    try:
        rules.save_validation_rule(context.metadata_service(), context.model(), object, document, creating=True)
    except MetacrmError as exc:
        return _render_form(obj, document, creating=True, errors=rule_field_errors(exc, "condition"), status=422)
    flash(_("Validation rule %(name)s saved.", name=document["api_name"]), "success")
    return redirect(url_for("ui.setup_validation_rules", object=object))


@setup_route("/setup/objects/<object>/validation-rules/<item>", METADATA, methods=["GET", "POST"])
def setup_validation_rule(object, item):
    """Edit a validation rule (``action=save``), switch it on or off
    (``action=active`` with ``active=1|0``; htmx gets the list's row back) or
    delete it (``action=delete``)."""
    obj = setup_object(object)
    existing = rules.validation_rule(context.model(), object, item)
    if request.method == "GET":
        return _render_form(obj, existing, creating=False)
    action = request.form.get("action", "save")
    if action == "delete":
        rules.delete_validation_rule(context.metadata_service(), object, item)
        flash(_("Validation rule %(name)s deleted.", name=item), "success")
        return redirect(url_for("ui.setup_validation_rules", object=object))
    if action == "active":
        document = {**existing, "active": "1" in request.form.getlist("active")}
        try:
            rules.save_validation_rule(context.metadata_service(), context.model(), object, document, creating=False)
        except MetacrmError as exc:  # e.g. its condition names a field deleted since: the form says where
            if htmx:
                return "", 200, {"HX-Redirect": url_for("ui.setup_validation_rule", object=object, item=item)}
            return _render_form(obj, existing, creating=False, errors=rule_field_errors(exc, "condition"), status=422)
        if htmx:
            return render_template(
                "setup/validation_rules/_row.html",
                object_name=object,
                rule=document,
                field_labels=dict(_field_options(obj)),
            )
        return redirect(url_for("ui.setup_validation_rules", object=object))
    document = _form_document(request.form, existing)
    try:
        rules.save_validation_rule(context.metadata_service(), context.model(), object, document, creating=False)
    except MetacrmError as exc:
        return _render_form(obj, document, creating=False, errors=rule_field_errors(exc, "condition"), status=422)
    flash(_("Validation rule %(name)s saved.", name=item), "success")
    return redirect(url_for("ui.setup_validation_rules", object=object))
