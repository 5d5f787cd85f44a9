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

import sqlalchemy as sa
from flask import Blueprint, jsonify, request

from metacrm.api.requests import int_arg, json_body
from metacrm.metadata.definitions import scoped_key
from metacrm.platform.clock import as_utc
from metacrm.platform.errors import BadRequest, Conflict, NotFound, ValidationFailed
from metacrm.platform.outbound import OutboundPolicy, OutboundRefused
from metacrm.platform.web import current_identity, current_tenant
from metacrm.plugins import context
from metacrm.rules.automation import actions_of, compile_rule, manual
from metacrm.rules.automation import notifications as inbox
from metacrm.rules.automation.dryrun import dry_run
from metacrm.rules.automation.outbox import webhook_secret
from metacrm.rules.automation.tables import automation_runs
from metacrm.rules.errors import RuleError

blueprint = Blueprint("api_automations", __name__, url_prefix="/api/v1")
MAX_LIMIT = 200


def _admin() -> None:
    context.guard().require_metadata_admin()


def _payload(key: str, document: dict) -> dict:
    object_name = key.split(".", 1)[0]
    return {"object": object_name, "active": True, "order": 1000, **document}


def _definition(object_name: str, name: str) -> dict:
    item = context.model().definitions.get("automation", scoped_key(object_name, name))
    if item is None:
        raise NotFound(f"no automation {object_name}.{name}")
    return _payload(item.key, item.document)


def _check_actions(object_name: str, document: dict) -> None:
    """CALL / round-robin / pool actions must exist in this instance's
    plugins, and webhook URLs must not name an address this instance refuses
    to send to (the definition check of a metadata change sees neither)."""
    model = context.model()
    if model.object(object_name) is None or not isinstance(document.get("rule"), str):
        return
    actions = actions_of(context.instance())
    rule = compile_rule(model, object_name, document, actions=actions)
    policy = OutboundPolicy.from_config(context.instance().config)
    for compiled in rule.actions:
        if compiled.kind == "webhook":
            try:
                policy.check_url(compiled.text)
            except OutboundRefused as exc:
                raise RuleError(
                    exc.message, line=compiled.at.line, column=compiled.at.column, source=rule.statement.source
                ) from None
    checks = [(a, actions[a.call]) for a in rule.actions if a.call in actions and actions[a.call].check and a.text]
    if not checks:
        return
    with current_tenant().connect() as conn:
        for compiled, action in checks:
            problem = action.check(conn, (compiled.text,))
            if problem:
                raise RuleError(problem, line=compiled.at.line, column=compiled.at.column, source=rule.statement.source)


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
    data = [
        _payload(item.key, item.document)
        for item in context.model().definitions.live("automation")
        if wanted in (None, "", item.key.split(".", 1)[0])
    ]
    return jsonify({"data": data})


@blueprint.post("/meta/automations")
def create_automation():
    """Create an automation rule."""
    body = json_body()
    object_name = body.pop("object", None)
    if not isinstance(object_name, str) or not object_name:
        raise ValidationFailed("object is required", details={"fields": {"object": ["is required"]}})
    name = body.get("api_name")
    _admin()
    if isinstance(name, str) and context.model().definitions.get("automation", scoped_key(object_name, name)):
        raise Conflict(f"automation {object_name}.{name} already exists; PUT replaces it")
    _check_actions(object_name, body)
    with context.metadata_service().change(f"create automation {object_name}.{name}") as tx:
        tx.put_automation(object_name, body)
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
    _check_actions(object_name, body)
    with context.metadata_service().change(f"put automation {object_name}.{name}") as tx:
        tx.put_automation(object_name, body)
    return jsonify(_definition(object_name, name))


@blueprint.delete("/meta/automations/<object_name>/<name>")
def delete_automation(object_name, name):
    """Delete an automation rule."""
    _admin()
    _definition(object_name, name)
    with context.metadata_service().change(f"delete automation {object_name}.{name}") as tx:
        tx.delete_scoped("automation", object_name, name)
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


def _run_json(row) -> dict:
    return {
        "id": row["id"],
        "rule": row["rule"],
        "object": row["object"],
        "record_id": row["record_id"],
        "trigger": row["trigger"],
        "result": row["result"],
        "error": row["error"],
        "actions": row["actions"],
        "at": as_utc(row["at"]).isoformat(),
        "duration_ms": row["duration_ms"],
    }


@blueprint.get("/automation-runs")
def list_runs():
    """The automation run log, newest first."""
    _admin()
    query = sa.select(automation_runs)
    rule = request.args.get("rule")
    if rule:
        query = query.where(automation_runs.c.rule == rule)
    object_name = request.args.get("object")
    if object_name:
        query = query.where(automation_runs.c.object == object_name)
    record = int_arg("record")
    if record is not None:
        query = query.where(automation_runs.c.record_id == record)
    result = request.args.get("result")
    if result:
        if result not in ("ok", "skipped", "error"):
            raise ValidationFailed(
                "result must be ok, skipped or error", details={"fields": {"result": ["ok, skipped or error"]}}
            )
        query = query.where(automation_runs.c.result == result)
    before = int_arg("before")
    if before is not None:
        query = query.where(automation_runs.c.id < before)
    limit = _limit()
    with current_tenant().connect() as conn:
        rows = list(conn.execute(query.order_by(automation_runs.c.id.desc()).limit(limit + 1)).mappings())
    data = [_run_json(r) for r in rows[:limit]]
    return jsonify({"data": data, "next_before": data[-1]["id"] if len(rows) > limit else None})


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
