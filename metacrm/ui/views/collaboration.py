"""The record page's collaboration: the comment box of the timeline, deleting
one's own comment, and the follow toggle. Each answers with the timeline
(htmx swaps ``#timeline``; without JavaScript a plain post redirects back to
the page). The work is :mod:`metacrm.plugins.collaboration`'s."""

from __future__ import annotations

from flask import flash, redirect, request, url_for
from flask_babel import gettext as _

from metacrm.platform.errors import MetacrmError
from metacrm.plugins import context
from metacrm.plugins.collaboration.comments import MAX_BODY, add_comment, delete_comment
from metacrm.plugins.collaboration.follows import set_following
from metacrm.ui.blueprint import blueprint, htmx
from metacrm.ui.screens import object_for
from metacrm.ui.views.records import TIMELINE, _render, _timeline_context, htmx_toast, render_template


def _comment_errors(exc: MetacrmError) -> list[str]:
    """The refusal in the user's language: who cannot be mentioned, or what is wrong with the text."""
    details = exc.details if isinstance(exc.details, dict) else {}
    refused = details.get("mentions") or []
    if refused:
        return [_("%(address)s cannot read this record, so they cannot be mentioned.", address=a) for a in refused]
    if "body" in (details.get("fields") or {}):
        return [_("Write a comment of at most %(max)d characters.", max=MAX_BODY)]
    return [exc.message]


def _answer(object_name: str, record_id: int, message: str, **extra):
    obj = object_for(object_name)
    if not htmx:
        flash(message, "success")
        return redirect(url_for("ui.record_page", object=object_name, record_id=record_id), 303)
    return htmx_toast(render_template(TIMELINE, **_timeline_context(obj, record_id), **extra), message)


@blueprint.post("/o/<object>/<int:record_id>/comments")
def post_comment(object: str, record_id: int):
    """Add a comment (with @mentions) to the record."""
    obj = object_for(object)
    body = request.form.get("body", "")
    try:
        add_comment(context.store(), obj.api_name, record_id, body)
    except MetacrmError as exc:
        errors = {"body": _comment_errors(exc)}
        if not htmx:
            return _render(object, record_id, status=422, comment_errors=errors, comment_text=body, quick="comment")
        return render_template(
            TIMELINE, **_timeline_context(obj, record_id), comment_errors=errors, comment_text=body, quick="comment"
        )
    return _answer(object, record_id, _("Comment added."), quick="comment")  # the comment box stays open


@blueprint.post("/o/<object>/<int:record_id>/comments/<int:comment_id>/delete")
def remove_comment(object: str, record_id: int, comment_id: int):
    """Delete one's own comment."""
    obj = object_for(object)
    delete_comment(context.store(), obj.api_name, record_id, comment_id)
    return _answer(object, record_id, _("Comment deleted."), quick="comment")


@blueprint.post("/o/<object>/<int:record_id>/follow")
def toggle_follow(object: str, record_id: int):
    """Follow the record (``following=1``) or stop following it."""
    obj = object_for(object)
    following = request.form.get("following") == "1"
    set_following(context.store(), obj.api_name, record_id, following)
    message = _("You follow this record now.") if following else _("You no longer follow this record.")
    return _answer(object, record_id, message)
