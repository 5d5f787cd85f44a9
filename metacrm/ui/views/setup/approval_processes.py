"""Approval processes of an object (``/setup/objects/<object>/approval-processes``).

A process says which records need whose approval before they go on: an
entry condition (which records may be submitted), ordered steps, each with
its approvers — the record owner's manager, the submitter's manager, roles,
teams, named users — and whether one or all of them must approve, and the
status values the engine writes while it waits and after. The list
switches processes on and off; the form edits everything but a step's own
condition and translations, which it keeps. The screens are
:class:`~metacrm.ui.views.setup.object_definitions.ObjectDefinitionScreen`'s;
every change goes through the change pipeline the definitions API uses (kind ``approval_process``,
:mod:`metacrm.data.approvals.processes`): one transaction, a revision, an
audit entry; conditions are type-checked when it commits.
"""

from __future__ import annotations

from flask_babel import gettext as _

from metacrm.data.approvals import processes
from metacrm.metadata.physical import CompiledObject
from metacrm.plugins import context
from metacrm.ui.i18n import label_of
from metacrm.ui.views.setup.access_common import role_choices, team_choices
from metacrm.ui.views.setup.object_definitions import (
    ObjectDefinitionScreen,
    second_language_text,
    set_second_language_text,
    set_text_members,
)

BLANK_STEPS = 1  # empty step rows the form offers after the process's own


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


class ApprovalProcesses(ObjectDefinitionScreen):
    kind = processes.KIND
    segment = "approval-processes"
    list_endpoint = "setup_approval_processes"
    endpoint = "setup_approval_process"
    templates = "setup/approval_processes"
    item_name, items_name = "process", "processes"
    noun, article = "approval process", "an"
    rule_member = "entry_condition"
    blank = {"active": True, "steps": []}

    def form_document(self, form, existing: dict | None) -> dict:
        document = dict(existing or {})
        if existing is None:
            document["api_name"] = form.get("api_name", "").strip()
        set_text_members(document, form, ("label", "description", "entry_condition"))
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
        set_second_language_text(document, "label", form.get("label_zh_CN", "").strip())
        return document

    def find(self, object_name: str, item: str) -> dict | None:
        return processes.approval_process(context.model(), object_name, item)

    def documents(self, object_name: str) -> list[dict]:
        return processes.approval_processes(context.model(), object_name, active_only=False)

    def form_context(self, obj: CompiledObject, document: dict) -> dict:
        return {
            "steps": _step_rows(document),
            "status_fields": _status_fields(obj),
            "field_options": [(name, label_of(f.definition, "label", name)) for name, f in obj.fields.items()],
            "role_options": role_choices(),
            "team_options": team_choices(),
            "statuses": processes.STATUSES,
            "second_label": second_language_text(document, "label"),
        }

    def saved_message(self, name: str) -> str:
        return _("Approval process %(name)s saved.", name=name)

    def deleted_message(self, name: str) -> str:
        return _("Approval process %(name)s deleted.", name=name)


ApprovalProcesses().register()
