"""The user's notifications (from automations' NOTIFY actions): the list at
``/notifications`` and marking one or all read, through the one
notification service the REST API uses too."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from flask import make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _

from metacrm.data.exports.files import token_of_notification as export_token
from metacrm.platform.web import MAX_ID, current_identity, current_tenant
from metacrm.plugins import context
from metacrm.rules.automation import notifications as inbox
from metacrm.ui.blueprint import blueprint, htmx
from metacrm.ui.shell import unread_notifications

PAGE_SIZE = 30


def _user_id() -> int:
    return current_identity().user_id


def record_link(note: dict) -> str | None:
    """The record a notification is about, when the user may open its object
    (or the file an export job wrote, for the export's notification)."""
    token = export_token(note)
    if token:
        return f"/exports/{token}"
    obj = context.model().object(note["object"]) if note.get("object") else None
    if obj is None or note.get("record_id") is None or not context.guard().permits("read", obj):
        return None
    return f"/o/{obj.api_name}/{note['record_id']}"


def _before() -> int | None:
    """``before=``: the id the next page starts below; nonsense means the first page."""
    before = request.args.get("before", type=int)
    return before if before is not None and 0 < before <= MAX_ID else None


@blueprint.get("/notifications")
def notifications():
    found = inbox.page(
        current_tenant(),
        _user_id(),
        limit=PAGE_SIZE,
        unread_only=request.args.get("unread") == "1",
        before=_before(),
    )
    unread_notifications()  # this page shows the count in its bells at once; others fetch it (ui.notification_bell)
    return render_template(
        "notifications/page.html", found=found, unread_only=request.args.get("unread") == "1", record_link=record_link
    )


@blueprint.get("/notifications/bell")
def notification_bell():
    """The bells with the unread count, swapped in out of band after a page
    loads (a page renders without the count query; UI.md §1.9)."""
    return render_template("shell/bell.html", unread=unread_notifications(), oob=True)


@blueprint.post("/notifications/<int:note_id>/read")
def read_notification(note_id: int):
    """Mark one read: htmx swaps the item and the bell (out of band)."""
    note = inbox.mark_read(current_tenant(), _user_id(), note_id)
    if not htmx:
        return redirect(request.referrer if _same_site(request.referrer) else url_for("ui.notifications"))
    unread = inbox.unread_count(current_tenant(), _user_id())
    return render_template("notifications/read.html", note=note, unread=unread, record_link=record_link)


@blueprint.post("/notifications/read-all")
def read_all_notifications():
    """Mark every one read: htmx swaps the list and the bell, with a toast."""
    count = inbox.mark_all_read(current_tenant(), _user_id())
    if not htmx:
        return redirect(url_for("ui.notifications"))
    found = inbox.page(current_tenant(), _user_id(), limit=PAGE_SIZE)
    response = make_response(
        render_template("notifications/list.html", found=found, unread=0, record_link=record_link, oob_bell=True)
    )
    response.headers["HX-Trigger"] = json.dumps({"toast": _("%(count)d marked read.", count=count)})
    return response


def _same_site(url: str | None) -> bool:
    return bool(url) and urlsplit(url).netloc == request.host
