"""Approvals on the screens: the "My approvals" inbox (``/approvals``), and
the record page's approval card (submit, approve, reject, recall; status and
history), through the approval service the REST API uses too
(:mod:`metacrm.data.approvals`)."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from metacrm.data import approvals
from metacrm.data.approvals.processes import approval_process, approval_processes
from metacrm.platform import identity as identities
from metacrm.platform.errors import MetacrmError
from metacrm.platform.web import current_tenant
from metacrm.plugins import context
from metacrm.ui.blueprint import blueprint
from metacrm.ui.i18n import label_of
from metacrm.ui.screens import object_for

STATUS_WORDS = {
    "pending": lambda: _("Waiting for approval"),
    "approved": lambda: _("Approved"),
    "rejected": lambda: _("Rejected"),
    "recalled": lambda: _("Recalled"),
}
HISTORY_WORDS = {
    "submitted": lambda: _("submitted it"),
    "step_opened": lambda: _("step opened"),
    "approved": lambda: _("approved"),
    "rejected": lambda: _("rejected"),
    "recalled": lambda: _("recalled it"),
    "skipped": lambda: _("step skipped (its condition does not hold)"),
    "completed": lambda: _("approval complete"),
}


def approval_card(store, obj, record_id: int) -> dict | None:
    """What the record page's approval card shows (None: the object has no
    approval process)."""
    if not approval_processes(store.model, obj.api_name, active_only=False):
        return None  # no query at all on the pages of other objects
    found = approvals.record_approvals(store, obj.api_name, record_id)
    latest = _in_language(store, found["data"][0]) if found["data"] else None
    people = {u["id"]: u["display_name"] or u["email"] for u in _members()} if latest else {}
    waiting_for = [
        people.get(a["user_id"], f"#{a['user_id']}")
        for a in (latest or {}).get("approvers", [])
        if a["status"] == "pending" and a["step"] == latest["step"] and latest["status"] == "pending"
    ]
    return {
        **found,
        "latest": latest,
        "waiting_for": waiting_for,
        "people": people,
        "status_words": {k: v() for k, v in STATUS_WORDS.items()},
        "history_words": {k: v() for k, v in HISTORY_WORDS.items()},
    }


def _in_language(store, item: dict) -> dict:
    """A request with its object's and process's labels in the screen's language."""
    obj = store.model.object(item["object"])
    process = approval_process(store.model, item["object"], item["process"])
    return {
        **item,
        "object_label": label_of(obj.definition, "label", obj.label) if obj else item["object"],
        "process_label": label_of(process, "label", item["process"]),
    }


def _members() -> list[dict]:
    """The tenant's members, read once per request (the record page's timeline reads them too)."""
    if "tenant_members" not in g:
        g.tenant_members = identities.list_users(context.instance(), current_tenant().slug)
    return g.tenant_members


@blueprint.get("/approvals")
def approvals_inbox():
    """The requests waiting for the signed-in user's decision."""
    store = context.store()
    waiting = [_in_language(store, item) for item in approvals.my_pending(store)]
    return render_template("approvals/inbox.html", waiting=waiting)


@blueprint.post("/o/<object>/<int:record_id>/approvals")
def submit_for_approval(object: str, record_id: int):
    object_for(object)
    comment = request.form.get("comment") or None
    return _act(
        lambda: approvals.submit(context.store(), object, record_id, comment=comment),
        _("Submitted for approval."),
        url_for("ui.record_page", object=object, record_id=record_id),
    )


@blueprint.post("/approvals/<int:request_id>/<any(approve, reject):decision>")
def decide_approval(request_id: int, decision: str):
    comment = request.form.get("comment") or None
    words = _("Approved.") if decision == "approve" else _("Rejected.")
    return _act(lambda: approvals.decide(context.store(), request_id, decision, comment=comment), words, _back_to())


@blueprint.post("/approvals/<int:request_id>/recall")
def recall_approval(request_id: int):
    return _act(lambda: approvals.recall(context.store(), request_id), _("Approval request recalled."), _back_to())


def _act(action, message: str, back: str):
    """Run the action; back to where the form was (303) with its message or the refusal."""
    try:
        action()
    except MetacrmError as exc:
        flash(exc.message, "error")
    else:
        flash(message, "success")
    return redirect(back, 303)


def _back_to() -> str:
    """The page the form was posted from (the inbox or a record), on this site only."""
    target = request.form.get("next", "")
    parts = urlsplit(target)
    if target.startswith("/") and not target.startswith("//") and not parts.netloc:
        return target
    return url_for("ui.approvals_inbox")
