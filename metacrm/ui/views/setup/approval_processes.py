"""Approval processes of an object (``/setup/objects/<object>/approval-processes``).

A process says which records need whose approval before they go on: an
entry condition (which records may be submitted), ordered steps, each with
its approvers — the record owner's manager, the submitter's manager, roles,
teams, named users — and whether one or all of them must approve, and the
status values the engine writes while it waits and after. The list
switches processes on and off; the form edits everything but a step's own
condition and translations, which it keeps. Every change goes through the
change pipeline the definitions API uses (kind ``approval_process``,
:mod:`metacrm.data.approvals.processes`): one transaction, a revision, an
audit entry; conditions are type-checked when it commits.
"""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from metacrm.data.approvals import processes
from metacrm.metadata.physical import CompiledObject
from metacrm.platform.errors import Conflict, MetacrmError, NotFound
from metacrm.plugins import context
from metacrm.ui.blueprint import htmx
from metacrm.ui.i18n import label_of
from metacrm.ui.setup import METADATA, setup_object, setup_route
from metacrm.ui.views.setup.access_common import role_choices, team_choices
from metacrm.ui.views.setup.validation_rules import indexed_field_errors

BLANK_STEPS = 1  # empty step rows the form offers after the process's own
SECOND_LANGUAGE = "zh_CN"


def _status_fields(obj: CompiledObject) -> list[tuple[str, str]]:
    return [
        (name, label_of(field.definition, "label", name))
        for name, field in obj.fields.items()
        if field.definition.get("type") in processes.STATUS_TYPES
    ]


def _step_from_form(form, index: int, existing: dict | None) -> dict | None:
    """Step ``index`` as the form posts it (None when the row is empty),
    over what the form does not edit (its condition, translations)."""
    prefix = f"steps.{index}."
    approvers: list[dict] = []
    for kind in ("owner_manager", "submitter_manager"):
        if "1" in form.getlist(prefix + kind):
            approvers.append({"type": kind})
    approvers += [{"type": "role", "name": name} for name in form.getlist(prefix + "roles") if name]
    approvers += [{"type": "team", "name": name} for name in form.getlist(prefix + "teams") if name]
    users = [u.strip() for u in form.get(prefix + "users", "").replace(";", ",").split(",") if u.strip()]
    approvers += [{"type": "user", "user": user} for user in users]
    name = form.get(prefix + "name", "").strip()
    label = form.get(prefix + "label", "").strip()
    if not (name or label or approvers):
        return None
    step = dict(existing or {})
    step["name"] = name or f"step_{index + 1}"
    step["mode"] = form.get(prefix + "mode") or "one"
    step["approvers"] = approvers
    if label:
        step["label"] = label
    else:
        step.pop("label", None)
    return step


def _form_document(form, existing: dict | None) -> dict:
    document = dict(existing or {})
    if existing is None:
        document["api_name"] = form.get("api_name", "").strip()
    for member in ("label", "description", "entry_condition"):
        value = form.get(member, "").strip()
        if value:
            document[member] = value
        else:
            document.pop(member, None)
    document["active"] = "1" in form.getlist("active")
    status_field = form.get("status_field") or None
    if status_field:
        document["status_field"] = status_field
        values = {status: form.get(f"status_values.{status}", "").strip() for status in processes.STATUSES}
        document["status_values"] = {status: value for status, value in values.items() if value}
    else:
        document.pop("status_field", None)
        document.pop("status_values", None)
    unlocked = [name for name in form.getlist("unlocked_fields") if name]
    if unlocked:
        document["unlocked_fields"] = unlocked
    else:
        document.pop("unlocked_fields", None)
    old_steps = {step["name"]: step for step in (existing or {}).get("steps") or []}
    steps = []
    for index in range(processes.SCHEMA["properties"]["steps"]["maxItems"]):
        name = form.get(f"steps.{index}.name", "").strip()
        step = _step_from_form(form, index, old_steps.get(name))
        if step is not None:
            steps.append(step)
    document["steps"] = steps
    translations = {k: dict(v) for k, v in (document.get("translations") or {}).items()}
    second = form.get("label_zh_CN", "").strip()
    if second:
        translations.setdefault(SECOND_LANGUAGE, {})["label"] = second
    else:
        translations.get(SECOND_LANGUAGE, {}).pop("label", None)
    translations = {k: v for k, v in translations.items() if v}
    if translations:
        document["translations"] = translations
    else:
        document.pop("translations", None)
    return document


def _save(object_name: str, document: dict, *, creating: bool) -> None:
    if creating and processes.approval_process(context.model(), object_name, document.get("api_name", "")):
        raise Conflict(
            f"{object_name} already has an approval process {document['api_name']!r}",
            details={"fields": {"api_name": [_("This API name is taken on this object.")]}},
        )
    with context.metadata_service().change(f"save approval process {object_name}.{document['api_name']}") as tx:
        tx.put(processes.KIND, object_name, document)


def _process(object_name: str, item: str) -> dict:
    process = processes.approval_process(context.model(), object_name, item)
    if process is None:
        raise NotFound(f"no approval process {item!r} on {object_name}")
    return process


def _step_rows(process: dict) -> list[dict]:
    """The steps as the form shows them: approvers split by kind, then blank rows."""
    rows = []
    for step in process.get("steps") or []:
        approvers = step.get("approvers") or []
        rows.append(
            {
                "name": step.get("name", ""),
                "label": step.get("label", ""),
                "mode": step.get("mode", "one"),
                "owner_manager": any(a.get("type") == "owner_manager" for a in approvers),
                "submitter_manager": any(a.get("type") == "submitter_manager" for a in approvers),
                "roles": [a.get("name") for a in approvers if a.get("type") == "role"],
                "teams": [a.get("name") for a in approvers if a.get("type") == "team"],
                "users": ", ".join(str(a.get("user")) for a in approvers if a.get("type") == "user"),
                "condition": step.get("condition"),
            }
        )
    return rows + [{"mode": "one", "roles": [], "teams": []}] * BLANK_STEPS


def _render_form(obj: CompiledObject, process: dict, *, creating: bool, errors=None, status: int = 200):
    return (
        render_template(
            "setup/approval_processes/form.html",
            obj=obj,
            object_name=obj.api_name,
            process=process,
            steps=_step_rows(process),
            creating=creating,
            errors=errors or {},
            status_fields=_status_fields(obj),
            field_options=[(name, label_of(f.definition, "label", name)) for name, f in obj.fields.items()],
            role_options=role_choices(),
            team_options=team_choices(),
            statuses=processes.STATUSES,
            second_label=((process.get("translations") or {}).get(SECOND_LANGUAGE) or {}).get("label", ""),
            section="ui.setup_objects",
            tab="ui.setup_approval_processes",
        ),
        status,
    )


@setup_route("/setup/objects/<object>/approval-processes", METADATA)
def setup_approval_processes(object):
    """The object's approval processes: entry condition, steps, active (switch on and off)."""
    obj = setup_object(object)
    return render_template(
        "setup/approval_processes/list.html",
        obj=obj,
        object_name=object,
        processes=processes.approval_processes(context.model(), object, active_only=False),
        section="ui.setup_objects",
        tab="ui.setup_approval_processes",
    )


@setup_route("/setup/objects/<object>/approval-processes/new", METADATA, methods=["GET", "POST"])
def setup_approval_process_new(object):
    """A new approval process; saved, back to the list."""
    obj = setup_object(object)
    if request.method == "GET":
        return _render_form(obj, {"active": True, "steps": []}, creating=True)
    document = _form_document(request.form, None)
    try:
        _save(object, document, creating=True)
    except MetacrmError as exc:
        errors = indexed_field_errors(exc, "entry_condition")
        return _render_form(obj, document, creating=True, errors=errors, status=422)
    flash(_("Approval process %(name)s saved.", name=document["api_name"]), "success")
    return redirect(url_for("ui.setup_approval_processes", object=object))


@setup_route("/setup/objects/<object>/approval-processes/<item>", METADATA, methods=["GET", "POST"])
def setup_approval_process(object, item):
    """Edit a process (``action=save``), switch it on or off (``action=active``
    with ``active=1|0``; htmx gets the list's row back) or delete it
    (``action=delete``; requests already waiting keep their history)."""
    obj = setup_object(object)
    existing = _process(object, item)
    if request.method == "GET":
        return _render_form(obj, existing, creating=False)
    action = request.form.get("action", "save")
    if action == "delete":
        with context.metadata_service().change(f"delete approval process {object}.{item}") as tx:
            tx.delete(processes.KIND, object, item)
        flash(_("Approval process %(name)s deleted.", name=item), "success")
        return redirect(url_for("ui.setup_approval_processes", object=object))
    if action == "active":
        document = {**existing, "active": "1" in request.form.getlist("active")}
        try:
            _save(object, document, creating=False)
        except MetacrmError as exc:
            if htmx:
                return "", 200, {"HX-Redirect": url_for("ui.setup_approval_process", object=object, item=item)}
            errors = indexed_field_errors(exc, "entry_condition")
            return _render_form(obj, existing, creating=False, errors=errors, status=422)
        if htmx:
            return render_template("setup/approval_processes/_row.html", object_name=object, process=document)
        return redirect(url_for("ui.setup_approval_processes", object=object))
    document = _form_document(request.form, existing)
    try:
        _save(object, document, creating=False)
    except MetacrmError as exc:
        errors = indexed_field_errors(exc, "entry_condition")
        return _render_form(obj, document, creating=False, errors=errors, status=422)
    flash(_("Approval process %(name)s saved.", name=item), "success")
    return redirect(url_for("ui.setup_approval_processes", object=object))
