"""The record page (``/o/<object>/<id>``): header with the name and the
highlight fields, the stage path, the layout's sections, related lists, the
activity timeline with its quick actions, and the record's actions (edit,
clone, delete and restore, share, transfer owner, claim and return for a
pool, "why can this user see it" for admins).

What is shown comes from :mod:`metacrm.plugins.record_layout` and
:mod:`metacrm.plugins.timeline`; every read and write goes through the
record store or the access layer with the user's guard. Actions are plain
form posts (they work without JavaScript): a success answers with a redirect
(303) back to the page and a message shown once (flash, rendered by
base.html); a refusal answers with the page itself (422, 409 for a conflict,
403 when the access layer refuses) with the action's form open on the page
and the error beside the control that caused it. The timeline's quick
actions and its filter and paging are htmx requests that swap the timeline
alone.
"""

from __future__ import annotations

import json

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from metacrm.access import sharing
from metacrm.access.explain import explain
from metacrm.access.ownership import transfer_owner
from metacrm.access.permissions import SHARE_ACCESS
from metacrm.access.policy import policy_for
from metacrm.access.pools import claim, in_pool_clause, return_records, visible_pools
from metacrm.metadata.physical import CompiledObject
from metacrm.platform import identity as identities
from metacrm.platform.errors import Conflict, Forbidden, MetacrmError, NotFound
from metacrm.platform.web import current_actor, current_tenant
from metacrm.plugins import context
from metacrm.plugins.collaboration.follows import follow_state
from metacrm.plugins.record_layout import highlight_fields, related_lists, sections, stage_field
from metacrm.plugins.records import ListRequest, related_page
from metacrm.plugins.timeline import activity_object, log_activity, parse_kinds, quick_actions, timeline
from metacrm.rules.automation import manual
from metacrm.ui.blueprint import blueprint, htmx
from metacrm.ui.i18n import label_of
from metacrm.ui.plugin_screens import record_actions, record_panels
from metacrm.ui.screens import object_for
from metacrm.ui.views.approvals import approval_card
from metacrm.ui.views.conversion import record_conversions
from metacrm.ui.views.documents import printable_documents

RELATED_ROWS = 5  # rows of each related list on the page; "View all" opens the list
TEMPLATE = "records/page.html"
# The timeline is its own template, included by the page and rendered alone for htmx.
TIMELINE = "records/timeline.html"
# Icons of the timeline: by activity type (crm_core's values; others get a journal).
ACTIVITY_ICONS = {
    "call": "telephone",
    "note": "chat-left-text",
    "task": "check-square",
    "meeting": "calendar-event",
    "email": "envelope",
}
APPROVAL_ICONS = {
    "submitted": "send",
    "approved": "check2-circle",
    "rejected": "x-lg",
    "recalled": "arrow-counterclockwise",
}
CHANGE_ICONS = {
    "created": "plus-lg",
    "deleted": "trash",
    "restored": "arrow-counterclockwise",
    "owner_changed": "person",
}


@blueprint.get("/o/<object>/<int:record_id>")
def record_page(object: str, record_id: int):
    return _render(object, record_id)


@blueprint.get("/o/<object>/<int:record_id>/timeline")
def record_timeline(object: str, record_id: int):
    """The timeline alone (htmx: a kind filter or the next page), else the page."""
    if not htmx:
        return _render(object, record_id)
    obj = object_for(object)
    return render_template(TIMELINE, **_timeline_context(obj, record_id))


@blueprint.post("/o/<object>/<int:record_id>/timeline")
def log_timeline_activity(object: str, record_id: int):
    """A quick action: log a call, add a note or a task on the record."""
    obj = object_for(object)
    action = request.form.get("activity_type", "")
    values = {k: v for k, v in request.form.items() if k not in ("csrf_token", "activity_type")}
    try:
        log_activity(context.store(), obj.api_name, record_id, action, values)
    except MetacrmError as exc:  # a refusal of any kind is shown in the form (htmx swaps only 200s)
        errors = _field_errors(exc)
        if not htmx:
            return _render(object, record_id, status=422, quick_errors=errors, quick_values=values, quick=action)
        return render_template(
            TIMELINE,
            **_timeline_context(obj, record_id),
            quick_errors=errors,
            quick_values=values,
            quick=action,
        )
    message = {"call": _("Call logged."), "note": _("Note added."), "task": _("Task added.")}.get(action, _("Saved."))
    if not htmx:
        flash(message, "success")
        return redirect(url_for("ui.record_page", object=object, record_id=record_id), 303)
    response = render_template(TIMELINE, **_timeline_context(obj, record_id))
    return htmx_toast(response, message)


@blueprint.post("/o/<object>/<int:record_id>/stage")
def move_stage(object: str, record_id: int):
    """Click on the stage path: the record moves to that stage through the
    store (validation rules and automations apply); a refusal is shown on the path."""
    obj = object_for(object, "update")
    store = context.store()
    field = stage_field(store, obj)
    if field is None:
        raise NotFound(f"{obj.api_name} has no stage path")
    version = request.form.get("version", "")
    try:
        store.update(
            obj.api_name,
            record_id,
            {field.api_name: request.form.get("value", "")},
            expected_version=int(version) if version.isdigit() else None,
        )
    except MetacrmError as exc:
        flash(_error_text(exc, obj), "stage")
    else:
        flash(_("Stage changed."), "success")
    return _back(object, record_id)


@blueprint.post("/o/<object>/<int:record_id>/delete")
def delete_record(object: str, record_id: int):
    obj = object_for(object, "delete")
    return _act(
        object,
        record_id,
        lambda: context.store().delete(obj.api_name, record_id),
        _("Moved to the recycle bin."),
        dialog="delete-dialog",
    )


@blueprint.post("/o/<object>/<int:record_id>/restore")
def restore_record(object: str, record_id: int):
    obj = object_for(object, "delete")
    return _act(
        object, record_id, lambda: context.store().restore(obj.api_name, record_id), _("Restored."), dialog="restore"
    )


@blueprint.post("/o/<object>/<int:record_id>/owner")
def transfer_record(object: str, record_id: int):
    obj = object_for(object, "update")
    body = {"user_id": _form_int("user_id")}
    return _act(
        object,
        record_id,
        lambda: transfer_owner(
            context.instance(),
            context.guard(),
            current_tenant(),
            context.model(),
            obj.api_name,
            record_id,
            body,
            current_actor(),
        ),
        _("Owner changed."),
        dialog="transfer-dialog",
        values={"user_id": request.form.get("user_id", "")},
        fields={"user_id": "user_id"},
    )


@blueprint.post("/o/<object>/<int:record_id>/share")
def share_record(object: str, record_id: int):
    """Share the record with a user or a team (needs manage_access, as the API's shares)."""
    obj = object_for(object)
    context.guard().require_permission("manage_access")
    recipient = request.form.get("recipient", "")
    body = {"object": obj.api_name, "record_id": record_id, "access": request.form.get("access", "")}
    if recipient.startswith("team:"):
        body["team"] = recipient.removeprefix("team:")
    else:
        body["user_id"] = int(recipient.removeprefix("user:")) if recipient.removeprefix("user:").isdigit() else None
    return _act(
        object,
        record_id,
        lambda: sharing.create_share(context.instance(), current_tenant(), context.model(), body, current_actor()),
        _("Shared."),
        dialog="share-dialog",
        values={"recipient": recipient, "access": body["access"]},
        fields={"user_id": "recipient", "team": "recipient", "access": "access"},
    )


@blueprint.post("/o/<object>/<int:record_id>/shares/<int:share_id>/delete")
def unshare_record(object: str, record_id: int, share_id: int):
    object_for(object)
    context.guard().require_permission("manage_access")
    return _act(
        object,
        record_id,
        lambda: sharing.delete_share(current_tenant(), share_id, current_actor()),
        _("Share removed."),
        dialog="share-dialog",
    )


@blueprint.post("/o/<object>/<int:record_id>/claim")
def claim_record(object: str, record_id: int):
    object_for(object)
    pool = request.form.get("pool", "")
    return _act(
        object,
        record_id,
        lambda: claim(context.guard(), current_tenant(), context.model(), pool, {"ids": [record_id]}, current_actor()),
        _("Claimed: the record is yours now."),
        dialog="claim-" + pool,
    )


@blueprint.post("/o/<object>/<int:record_id>/return")
def return_record(object: str, record_id: int):
    object_for(object)
    pool = request.form.get("pool", "")
    body = {"ids": [record_id], "reason": request.form.get("reason", "")}
    return _act(
        object,
        record_id,
        lambda: return_records(context.guard(), current_tenant(), context.model(), pool, body, current_actor()),
        _("Returned to the pool."),
        dialog="return-" + pool,
        values={"reason": body["reason"]},
        fields={"reason": "reason"},
    )


@blueprint.post("/o/<object>/<int:record_id>/run/<name>")
def run_automation(object: str, record_id: int, name: str):
    """Run one of the object's manual automations on the record."""
    object_for(object)
    store = context.store()
    return _act(
        object,
        record_id,
        lambda: manual.run_manual(context.instance(), current_tenant(), store, object, record_id, name),
        _("Done: the automation ran."),
        dialog="run-" + name,
    )


@blueprint.get("/o/<object>/<int:record_id>/explain")
def explain_access(object: str, record_id: int):
    """For admins: whether and why a user may read this record (the explain API)."""
    obj = object_for(object)
    context.guard().require_permission("manage_access")
    user = request.args.get("user", "")
    answer, error = None, None
    if user:
        try:
            answer = explain(
                context.instance(),
                current_tenant(),
                context.model(),
                policy_for(context.instance(), current_tenant()),
                user=user,
                object_name=obj.api_name,
                action=request.args.get("action", "read"),
                record_id=str(record_id),
            )
        except MetacrmError as exc:
            error = _error_text(exc)
    return _render(object, record_id, explain_answer=answer, explain_error=error, explain_user=user)


# -- building the page -----------------------------------------------------------------------------------------


def _render(object_name: str, record_id: int, *, status: int = 200, **extra):
    obj = object_for(object_name)
    store = context.store()
    guard = context.guard()
    try:
        record, deleted = store.get(obj.api_name, record_id), False
    except NotFound:
        record, deleted = store.get(obj.api_name, record_id, deleted=True), True
    page = {
        "members": [],
        "teams": [],
        "shares": [],
        "obj": obj,
        "record": record,
        "deleted": deleted,
        "name": _name(obj, record),
        "sections": sections(store, obj, record),
        "highlights": highlight_fields(store, obj),
        "stage": stage_field(store, obj),
        "related": [] if deleted else _related(store, obj, record),
        "can_update": guard.permits("update", obj),
        "can_delete": guard.permits("delete", obj),
        "can_create": guard.permits("create", obj),
        "can_transfer": guard.permits("update", obj) and guard.permits("transfer", obj),
        "is_admin": guard.may("manage_access"),
        "pools": [] if deleted else _pools(store, obj, record),
        "automations": [] if deleted else _automations(store, obj, record_id),
        "approval": None if deleted else approval_card(store, obj, record_id),
        "conversions": [] if deleted else record_conversions(obj, record),
        "documents": [] if deleted else printable_documents(obj),
        "plugin_panels": [] if deleted else record_panels(obj, record),
        "plugin_actions": [] if deleted else record_actions(obj),
        "share_access": SHARE_ACCESS,
        "refused": None,  # a refused action: {"dialog", "errors", "typed", "back"}, its form open on the page
    }
    if page["can_transfer"] or page["is_admin"]:
        page["members"] = [user for user in _members() if user["is_active"]]
    if page["is_admin"]:
        with current_tenant().connect() as conn:
            page["teams"] = sharing.list_teams(conn)
            page["shares"] = sharing.list_shares(conn, object_name=obj.api_name, record_id=record["id"])
    timeline_context = {} if deleted else _timeline_context(obj, record_id)
    return render_template(TEMPLATE, **{**page, **timeline_context, **extra}), status


def _timeline_context(obj: CompiledObject, record_id: int) -> dict:
    store = context.store()
    kinds = parse_kinds(request.args.getlist("kind"))
    return {
        "obj": obj,
        "record_id": record_id,
        "timeline": timeline(store, obj.api_name, record_id, kinds=kinds, before=request.args.get("before")),
        "kinds": kinds if request.args.getlist("kind") else (),
        "quick_actions": quick_actions(store),
        "follow": follow_state(store, obj.api_name, record_id),
        "activity": activity_object(store),
        "activity_fields": _activity_fields(store),
        "more": bool(request.args.get("before")),
        "model_object": store.model.object,
        "people": _people(),
        "entry_icon": entry_icon,
        "ACTION_ICONS": ACTIVITY_ICONS,
        "quick_action_labels": {"call": _("Log a call"), "note": _("Add a note"), "task": _("Add a task")},
        "quick_action_submit": {"call": _("Log call"), "note": _("Add note"), "task": _("Add task")},
        "change_words": {
            "created": _("created the record"),
            "updated": _("changed"),
            "deleted": _("deleted the record"),
            "restored": _("restored the record"),
            "owner_changed": _("changed the owner"),
        },
        "approval_words": {
            "submitted": _("submitted it for approval"),
            "approved": _("approved"),
            "rejected": _("rejected"),
            "recalled": _("recalled the approval request"),
        },
    }


def _members() -> list[dict]:
    """The tenant's members (read once per request)."""
    if "tenant_members" not in g:
        g.tenant_members = identities.list_users(context.instance(), current_tenant().slug)
    return g.tenant_members


def _people() -> dict[str, str]:
    """Display names by e-mail, for who made a change."""
    return {user["email"]: user["display_name"] or user["email"] for user in _members()}


def entry_icon(entry) -> str:
    """The icon of a timeline entry: by activity type, change or e-mail."""
    if entry.kind == "activity":
        return ACTIVITY_ICONS.get(entry.record.get("activity_type"), "journal-text")
    if entry.kind == "comment":
        return "chat-left-text"
    if entry.kind == "change":
        return CHANGE_ICONS.get(entry.action, "pencil")
    if entry.kind == "approval":
        return APPROVAL_ICONS.get(entry.action, "check2-circle")
    return "envelope"


def _activity_fields(store) -> dict:
    """The activity fields the quick forms and the entries show, if readable."""
    activity = activity_object(store)
    if activity is None:
        return {}
    readable, writable = store.guard.readable_fields(activity), store.guard.writable_fields(activity)
    views = store.model.definitions.scoped("list_view", activity.api_name)
    columns = (views[0].document.get("columns") or []) if views else []
    return {
        "shown": [
            activity.fields[n]
            for n in columns
            if n in readable and n != activity.name_field and not activity.fields[n].is_lookup
        ],
        "form": {
            name: activity.fields[name]
            for name in (activity.name_field, "description", "due_date")
            if name in activity.fields and name in writable
        },
    }


def _related(store, obj: CompiledObject, record: dict) -> list[dict]:
    found = []
    for related in related_lists(store, obj):
        listed = ListRequest(fields=[c.api_name for c in related.columns], limit=RELATED_ROWS, count=True)
        page = related_page(store, obj.api_name, record["id"], related.relation, listed)
        creatable = not related.linked and context.guard().permits("create", related.object)
        found.append({"list": related, "page": page, "can_create": creatable})
    return found


def _automations(store, obj: CompiledObject, record_id: int) -> list[dict]:
    """The manual automations the user may run here, by label."""
    rules = manual.runnable_rules(store, obj.api_name, record_id)
    return [{"api_name": rule.api_name, "label": manual.rule_label(store.model, rule)} for rule in rules]


def _pools(store, obj: CompiledObject, record: dict) -> list[dict]:
    """The pools of this object the user works, and whether the record waits in each."""
    found = []
    for pool in visible_pools(context.guard(), current_tenant(), context.model()):
        if pool.object != obj.api_name:
            continue
        waiting = store.query(
            obj.api_name,
            fields=[],
            filters=[("id", "eq", record["id"])],
            extra_where=in_pool_clause(obj, pool.api_name),
        ).data
        found.append({"pool": pool, "waiting": bool(waiting), "mine": record["owner_id"] == context.guard().user_id})
    return found


def _name(obj: CompiledObject, record: dict) -> str:
    value = record.get(obj.name_field) if obj.name_field else None
    return str(value) if value not in (None, "") else f"#{record['id']}"


# -- answers ---------------------------------------------------------------------------------------------------


def _act(
    object_name: str,
    record_id: int,
    action,
    message: str,
    *,
    dialog: str,
    values: dict | None = None,
    fields: dict[str, str] | None = None,
):
    """Run an action. Done: back to the page (303) with its message, shown
    once. Refused: the page itself with the action's form open and the
    error beside the control that caused it (``fields`` maps the service's
    field names to the form's; others go above the form, as ``$``)."""
    try:
        action()
    except MetacrmError as exc:
        errors: dict[str, list[str]] = {}
        for name, messages in _field_errors(exc).items():
            errors.setdefault((fields or {}).get(name, "$"), []).extend(messages)
        if "$" in errors and exc.message not in errors["$"]:
            errors["$"] = [exc.message]  # a field the form does not have: the refusal's own words
        status = 409 if isinstance(exc, Conflict) else 403 if isinstance(exc, Forbidden) else 422
        back = url_for("ui.record_page", object=object_name, record_id=record_id)
        refused = {"dialog": dialog, "errors": errors, "typed": values or {}, "back": back}
        return _render(object_name, record_id, status=status, refused=refused)
    flash(message, "success")
    return _back(object_name, record_id)


def _back(object_name: str, record_id: int):
    return redirect(url_for("ui.record_page", object=object_name, record_id=record_id), 303)


def _form_int(name: str) -> int | None:
    raw = request.form.get(name, "")
    return int(raw) if raw.isdigit() else None


def _field_errors(exc: MetacrmError) -> dict[str, list[str]]:
    fields = (exc.details or {}).get("fields") if isinstance(exc.details, dict) else None
    return fields or {"$": [exc.message]}


def _error_text(exc: MetacrmError, obj: CompiledObject | None = None) -> str:
    """The message of a refusal: each field's messages after its label."""
    fields = (exc.details or {}).get("fields") if isinstance(exc.details, dict) else None
    if not fields:
        return exc.message
    parts = []
    for name, messages in fields.items():
        field = obj.fields.get(name) if obj is not None else None
        text = " ".join(messages)
        parts.append(f"{label_of(field.definition, 'label', name)}: {text}" if field is not None else text)
    return "; ".join(parts)


def htmx_toast(body: str, message: str):
    """An htmx answer that also shows ``message`` as a toast."""
    return body, 200, {"HX-Trigger": json.dumps({"toast": message})}
