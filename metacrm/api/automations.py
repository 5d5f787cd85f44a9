"""Automation rules over HTTP (docs/automation.md, docs/api.md):

* ``/api/v1/meta/automations`` — list, create; ``…/{object}/{name}`` —
  read, replace, delete; ``…/dry-run`` — what the rule would do to one
  record, nothing written; ``…/webhook-secret`` — rotate the rule's
  webhook signing secret (shown once, never in definitions);
* ``/api/v1/automation-runs`` — the run log;
* ``/api/v1/notifications`` — the signed-in user's in-app notifications.

Definitions and the run log are for metadata admins (``manage_metadata``);
notifications are each user's own.
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from metacrm.api.requests import int_arg, json_body
from metacrm.platform.clock import as_utc
from metacrm.platform.errors import BadRequest, ValidationFailed
from metacrm.platform.web import current_identity, current_tenant
from metacrm.plugins import context
from metacrm.rules.automation import definitions, manual
from metacrm.rules.automation import notifications as inbox
from metacrm.rules.automation.dryrun import dry_run
from metacrm.rules.automation.outbox import webhook_secret
from metacrm.rules.automation.runlog import runs_page

blueprint = Blueprint("api_automations", __name__, url_prefix="/api/v1")
MAX_LIMIT = 200


def _admin() -> None:
    context.guard().require_metadata_admin()


def _definition(object_name: str, name: str) -> dict:
    return definitions.automation(context.model(), object_name, name)


def _limit() -> int:
    raw = request.args.get("limit", "50")
    try:
        limit = int(raw)
    except ValueError:
        raise ValidationFailed(
            "limit must be an integer", details={"fields": {"limit": ["must be an integer"]}}
        ) from None
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationFailed(
            f"limit must be between 1 and {MAX_LIMIT}", details={"fields": {"limit": [f"between 1 and {MAX_LIMIT}"]}}
        )
    return limit


# -- definitions ----------------------------------------------------------------------------


@blueprint.get("/meta/automations")
def list_automations():
    """List automation rules."""
    _admin()
    wanted = request.args.get("object")
    return jsonify({"data": definitions.automations(context.model(), wanted)})


@blueprint.post("/meta/automations")
def create_automation():
    """Create an automation rule."""
    body = json_body()
    object_name = body.pop("object", None)
    if not isinstance(object_name, str) or not object_name:
        raise ValidationFailed("object is required", details={"fields": {"object": ["is required"]}})
    _admin()
    model = context.model()
    service = context.metadata_service()  # refreshes the model after the change
    definitions.save_automation(service, context.instance(), model, object_name, body, creating=True)
    return jsonify(_definition(object_name, body["api_name"])), 201


@blueprint.get("/meta/automations/<object_name>/<name>")
def get_automation(object_name, name):
    """An automation rule."""
    _admin()
    return jsonify(_definition(object_name, name))


@blueprint.put("/meta/automations/<object_name>/<name>")
def put_automation(object_name, name):
    """Create or replace an automation rule."""
    body = json_body()
    body.pop("object", None)
    if body.setdefault("api_name", name) != name:
        raise ValidationFailed(
            "api_name must match the URL", details={"fields": {"api_name": [f"must be {name!r} (the URL's name)"]}}
        )
    _admin()
    model = context.model()
    service = context.metadata_service()  # refreshes the model after the change
    definitions.save_automation(service, context.instance(), model, object_name, body, creating=False)
    return jsonify(_definition(object_name, name))


@blueprint.delete("/meta/automations/<object_name>/<name>")
def delete_automation(object_name, name):
    """Delete an automation rule."""
    _admin()
    model = context.model()
    definitions.delete_automation(context.metadata_service(), model, object_name, name)
    return "", 204


@blueprint.post("/meta/automations/<object_name>/<name>/dry-run")
def dry_run_automation(object_name, name):
    """What the rule would do to one record (nothing is written)."""
    _admin()
    body = json_body()
    record_id = body.get("record_id")
    if isinstance(record_id, bool) or not isinstance(record_id, int) or record_id < 1:
        raise ValidationFailed(
            "record_id must be a record id", details={"fields": {"record_id": ["must be a positive integer"]}}
        )
    return jsonify(dry_run(context.instance(), current_tenant(), context.store(), object_name, name, record_id))


@blueprint.get("/data/<object_name>/<int:record_id>/automations")
def list_manual_automations(object_name, record_id):
    """The manual automations (WHEN MANUAL) the caller may run on the record."""
    store = context.store()
    rules = manual.runnable_rules(store, object_name, record_id)
    return jsonify({"data": [{"api_name": r.api_name, "label": manual.rule_label(store.model, r)} for r in rules]})


@blueprint.post("/data/<object_name>/<int:record_id>/automations/<name>")
def run_manual_automation(object_name, record_id, name):
    """Run a manual automation on the record, as the caller (who must be able to update it)."""
    store = context.store()
    run = manual.run_manual(context.instance(), current_tenant(), store, object_name, record_id, name)
    return jsonify({"automation": name, "record_id": record_id, "result": run.result, "done": run.done})


@blueprint.post("/meta/automations/<object_name>/<name>/webhook-secret")
def rotate_webhook_secret(object_name, name):
    """A new signing secret for the rule's webhooks, shown this once."""
    _admin()
    definition = _definition(object_name, name)
    with current_tenant().begin() as conn:
        secret = webhook_secret(conn, f"{object_name}.{name}", rotate=True)
    return jsonify({"rule": f"{definition['object']}.{name}", "secret": secret})


# -- the run log ------------------------------------------------------------------------------------


@blueprint.get("/automation-runs")
def list_runs():
    """The automation run log, newest first."""
    _admin()
    page = runs_page(
        current_tenant(),
        rule=request.args.get("rule"),
        object_name=request.args.get("object"),
        record_id=int_arg("record"),
        result=request.args.get("result"),
        before=int_arg("before"),
        limit=_limit(),
    )
    return jsonify({"data": page.rows, "next_before": page.next_before})


# -- notifications ----------------------------------------------------------------------------------


def _note_json(row) -> dict:
    return {
        "id": row["id"],
        "message": row["message"],
        "rule": row["rule"],
        "object": row["object"],
        "record_id": row["record_id"],
        "created_at": as_utc(row["created_at"]).isoformat(),
        "read_at": as_utc(row["read_at"]).isoformat() if row["read_at"] else None,
    }


def _user_id() -> int:
    user_id = current_identity().user_id
    if user_id is None:
        raise BadRequest("notifications belong to users")
    return user_id


@blueprint.get("/notifications")
def list_notifications():
    """The signed-in user's notifications, newest first."""
    found = inbox.page(
        current_tenant(),
        _user_id(),
        limit=_limit(),
        unread_only=request.args.get("unread", "").lower() in ("1", "true", "yes"),
        before=int_arg("before"),
    )
    return jsonify(
        {"data": [_note_json(r) for r in found.rows], "unread": found.unread, "next_before": found.next_before}
    )


@blueprint.post("/notifications/<int:note_id>/read")
def read_notification(note_id):
    """Mark a notification read."""
    return jsonify(_note_json(inbox.mark_read(current_tenant(), _user_id(), note_id)))


@blueprint.post("/notifications/read-all")
def read_all_notifications():
    """Mark all of the user's notifications read."""
    return jsonify({"read": inbox.mark_all_read(current_tenant(), _user_id())})
