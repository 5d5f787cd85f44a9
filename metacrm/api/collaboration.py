"""``/api/v1/data/<object>/<id>/comments``, ``…/follow`` and ``…/mentions``:
collaboration on any record (:mod:`metacrm.plugins.collaboration`). Every
route needs read access to the record: a 404 otherwise, as for the record."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from metacrm.api.requests import json_body
from metacrm.platform.errors import ValidationFailed
from metacrm.plugins import context
from metacrm.plugins.collaboration.comments import (
    DEFAULT_LIMIT,
    add_comment,
    comments,
    delete_comment,
    edit_comment,
    mention_suggestions,
)
from metacrm.plugins.collaboration.follows import follow_state, set_following

blueprint = Blueprint("api_collaboration", __name__, url_prefix="/api/v1/data")


def _int_arg(name: str, default: int | None) -> int | None:
    raw = request.args.get(name)
    if raw in (None, ""):
        return default
    if not raw.isdigit():
        raise ValidationFailed(f"{name} must be a whole number", details={"fields": {name: ["not a whole number"]}})
    return int(raw)


@blueprint.get("/<name>/<int:record_id>/comments")
def list_comments(name, record_id):
    """The record's comments, newest first; ``before=<comment id>`` pages, ``limit`` (≤ 200)."""
    page = comments(
        context.store(),
        name,
        record_id,
        before=_int_arg("before", None),
        limit=_int_arg("limit", DEFAULT_LIMIT),
    )
    return jsonify(page)


@blueprint.post("/<name>/<int:record_id>/comments")
def create_comment(name, record_id):
    """``{"body": "text with @someone@example.com"}``: a 422 naming every
    mentioned address that is not a member who can read the record."""
    return jsonify(add_comment(context.store(), name, record_id, json_body().get("body"))), 201


@blueprint.patch("/<name>/<int:record_id>/comments/<int:comment_id>")
def update_comment(name, record_id, comment_id):
    """``{"body": …}``: the author edits their comment."""
    return jsonify(edit_comment(context.store(), name, record_id, comment_id, json_body().get("body")))


@blueprint.delete("/<name>/<int:record_id>/comments/<int:comment_id>")
def remove_comment(name, record_id, comment_id):
    """The author (or a tenant admin) deletes a comment."""
    delete_comment(context.store(), name, record_id, comment_id)
    return "", 204


@blueprint.get("/<name>/<int:record_id>/follow")
def get_follow(name, record_id):
    """Whether you follow the record, and how many do."""
    return jsonify(follow_state(context.store(), name, record_id))


@blueprint.put("/<name>/<int:record_id>/follow")
def follow_record(name, record_id):
    """Follow the record: be notified of its changes and comments."""
    return jsonify(set_following(context.store(), name, record_id, True))


@blueprint.delete("/<name>/<int:record_id>/follow")
def unfollow_record(name, record_id):
    """Stop following the record."""
    return jsonify(set_following(context.store(), name, record_id, False))


@blueprint.get("/<name>/<int:record_id>/mentions")
def mention_candidates(name, record_id):
    """``q=<start of a name or e-mail>``: members who can read the record, to mention."""
    return jsonify({"data": mention_suggestions(context.store(), name, record_id, request.args.get("q", ""))})
