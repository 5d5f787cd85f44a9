"""Duplicate rules of an object (``/setup/objects/<object>/duplicate-rules``).

A duplicate rule says when two records are likely the same (every
condition holds: equal text, the same e-mail address or phone number, or
names alike above a threshold) and whether a save that matches is warned
about (the user may save anyway) or blocked. The list switches rules on
and off; the form edits the label, the action and up to five conditions.
Every change goes through the change pipeline the definitions API uses
(kind ``duplicate_rule``, :mod:`metacrm.data.duplicates.rules`): one
transaction, a revision, an audit entry.
"""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext

from metacrm.data.duplicates import rules
from metacrm.metadata.physical import CompiledObject
from metacrm.platform.errors import Conflict, MetacrmError, NotFound, ValidationFailed
from metacrm.plugins import context
from metacrm.ui.blueprint import htmx
from metacrm.ui.i18n import label_of
from metacrm.ui.setup import METADATA, setup_object, setup_route
from metacrm.ui.views.setup.validation_rules import indexed_field_errors

MAX_CONDITIONS = 5  # the kind's schema allows five
METHOD_LABELS = {
    "exact": lazy_gettext("Same text"),
    "email": lazy_gettext("Same e-mail address"),
    "phone": lazy_gettext("Same phone number"),
    "fuzzy": lazy_gettext("Similar name"),
}
ACTION_LABELS = {
    "warn": lazy_gettext("Warn (the user may save anyway)"),
    "block": lazy_gettext("Block the save"),
}


def _text_fields(obj: CompiledObject) -> list[tuple[str, str]]:
    """The fields a condition may compare: the text-like ones."""
    return [
        (name, label_of(field.definition, "label", name))
        for name, field in obj.fields.items()
        if field.definition.get("type") in rules.TEXT_TYPES
    ]


def _form_document(form, existing: dict | None) -> dict:
    """The rule as the form posts it, over what the form does not edit (description, other translations)."""
    document = dict(existing or {})
    if existing is None:
        document["api_name"] = form.get("api_name", "").strip()
    label = form.get("label", "").strip()
    if label:
        document["label"] = label
    else:
        document.pop("label", None)
    document["action"] = form.get("action") or "warn"
    document["active"] = "1" in form.getlist("active")
    conditions = []
    for index in range(MAX_CONDITIONS):
        field = form.get(f"conditions.{index}.field", "").strip()
        if not field:
            continue  # an empty row is no condition
        condition: dict = {"field": field, "method": form.get(f"conditions.{index}.method") or "exact"}
        threshold = form.get(f"conditions.{index}.threshold", "").strip()
        if condition["method"] == "fuzzy" and threshold:
            condition["threshold"] = int(threshold) if threshold.isdigit() else threshold
        conditions.append(condition)
    document["conditions"] = conditions
    translations = {k: dict(v) for k, v in (document.get("translations") or {}).items()}
    second = form.get("label_zh_CN", "").strip()
    if second:
        translations.setdefault("zh_CN", {})["label"] = second
    else:
        translations.get("zh_CN", {}).pop("label", None)
    translations = {k: v for k, v in translations.items() if v}
    if translations:
        document["translations"] = translations
    else:
        document.pop("translations", None)
    return document


def _save(object_name: str, document: dict, *, creating: bool) -> None:
    model = context.model()
    if creating and rules.duplicate_rule(model, object_name, document.get("api_name", "")) is not None:
        raise Conflict(
            f"{object_name} already has a duplicate rule {document['api_name']!r}",
            details={"fields": {"api_name": [_("This API name is taken on this object.")]}},
        )
    if not document["conditions"]:
        raise ValidationFailed(
            "a duplicate rule needs at least one condition",
            details={"fields": {"conditions": [_("Choose at least one field to compare.")]}},
        )
    service = context.metadata_service()
    with service.change(f"save duplicate rule {object_name}.{document['api_name']}") as tx:
        tx.put(rules.KIND, object_name, document)


def _rule(object_name: str, item: str) -> dict:
    rule = rules.duplicate_rule(context.model(), object_name, item)
    if rule is None:
        raise NotFound(f"no duplicate rule {item!r} on {object_name}")
    return rule


def _render_form(obj: CompiledObject, rule: dict, *, creating: bool, errors=None, status: int = 200):
    conditions = list(rule.get("conditions") or [])
    rows = conditions + [{}] * (MAX_CONDITIONS - len(conditions))
    return (
        render_template(
            "setup/duplicate_rules/form.html",
            obj=obj,
            object_name=obj.api_name,
            rule=rule,
            rows=rows[:MAX_CONDITIONS],
            creating=creating,
            errors=errors or {},
            field_options=_text_fields(obj),
            method_options=list(METHOD_LABELS.items()),
            action_options=list(ACTION_LABELS.items()),
            second_label=((rule.get("translations") or {}).get("zh_CN") or {}).get("label", ""),
            section="ui.setup_objects",
            tab="ui.setup_duplicate_rules",
        ),
        status,
    )


def _row(object_name: str, rule: dict, obj: CompiledObject) -> str:
    return render_template(
        "setup/duplicate_rules/_row.html",
        object_name=object_name,
        rule=rule,
        field_labels=dict(_text_fields(obj)),
        method_labels=METHOD_LABELS,
        action_labels=ACTION_LABELS,
    )


@setup_route("/setup/objects/<object>/duplicate-rules", METADATA)
def setup_duplicate_rules(object):
    """The object's duplicate rules: conditions, action, active (switch on and off)."""
    obj = setup_object(object)
    return render_template(
        "setup/duplicate_rules/list.html",
        obj=obj,
        object_name=object,
        rules=rules.duplicate_rules(context.model(), object, active_only=False),
        field_labels=dict(_text_fields(obj)),
        method_labels=METHOD_LABELS,
        action_labels=ACTION_LABELS,
        section="ui.setup_objects",
        tab="ui.setup_duplicate_rules",
    )


@setup_route("/setup/objects/<object>/duplicate-rules/new", METADATA, methods=["GET", "POST"])
def setup_duplicate_rule_new(object):
    """A new duplicate rule; saved, back to the list."""
    obj = setup_object(object)
    if request.method == "GET":
        return _render_form(obj, {"active": True, "action": "warn"}, creating=True)
    document = _form_document(request.form, None)
    try:
        _save(object, document, creating=True)
    except MetacrmError as exc:
        return _render_form(obj, document, creating=True, errors=indexed_field_errors(exc, "conditions"), status=422)
    flash(_("Duplicate rule %(name)s saved.", name=document["api_name"]), "success")
    return redirect(url_for("ui.setup_duplicate_rules", object=object))


@setup_route("/setup/objects/<object>/duplicate-rules/<item>", METADATA, methods=["GET", "POST"])
def setup_duplicate_rule(object, item):
    """Edit a duplicate rule (``action=save``), switch it on or off
    (``action=active`` with ``active=1|0``; htmx gets the list's row back) or
    delete it (``action=delete``)."""
    obj = setup_object(object)
    existing = _rule(object, item)
    if request.method == "GET":
        return _render_form(obj, existing, creating=False)
    action = request.form.get("action", "save")
    if action == "delete":
        with context.metadata_service().change(f"delete duplicate rule {object}.{item}") as tx:
            tx.delete(rules.KIND, object, item)
        flash(_("Duplicate rule %(name)s deleted.", name=item), "success")
        return redirect(url_for("ui.setup_duplicate_rules", object=object))
    if action == "active":
        document = {**existing, "active": "1" in request.form.getlist("active")}
        try:
            _save(object, document, creating=False)
        except MetacrmError as exc:  # e.g. a field it compares was deleted since: the form says which
            if htmx:
                return "", 200, {"HX-Redirect": url_for("ui.setup_duplicate_rule", object=object, item=item)}
            errors = indexed_field_errors(exc, "conditions")
            return _render_form(obj, existing, creating=False, errors=errors, status=422)
        if htmx:
            return _row(object, document, obj)
        return redirect(url_for("ui.setup_duplicate_rules", object=object))
    document = _form_document(request.form, existing)
    try:
        _save(object, document, creating=False)
    except MetacrmError as exc:
        return _render_form(obj, document, creating=False, errors=indexed_field_errors(exc, "conditions"), status=422)
    flash(_("Duplicate rule %(name)s saved.", name=item), "success")
    return redirect(url_for("ui.setup_duplicate_rules", object=object))
