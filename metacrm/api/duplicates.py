"""Duplicates in the REST API.

* ``POST /api/v1/data/<object>/duplicates`` ``{"values": {...}, "exclude_id": 5}``:
  the records the object's duplicate rules say the values likely duplicate
  (within the caller's read scope).
* ``POST /api/v1/data/<object>/merge`` ``{"survivor": 1, "losers": [2, 3],
  "values": {"phone": "..."}}``: merge the losers into the survivor (needs
  update and delete on the object); related records move to the survivor,
  the losers go to the recycle bin.
* A create or update refused by a ``warn`` rule (422 with ``duplicates`` in
  its details) passes when sent again with the header
  ``X-Allow-Duplicates: true`` (or ``?allow_duplicates=true``).
"""

from __future__ import annotations

from contextlib import suppress

from flask import Blueprint, g, jsonify, request

from metacrm.api.requests import json_body
from metacrm.data.duplicates import allow_duplicates, find_duplicates, merge, reset_allowed
from metacrm.platform.errors import ValidationFailed
from metacrm.plugins import context

blueprint = Blueprint("api_duplicates", __name__, url_prefix="/api/v1/data")

TRUE = ("1", "true", "yes")


@blueprint.before_app_request
def _save_anyway():
    """A person's request: warn rules refuse its saves, unless the caller chose "save anyway"
    (the API's header or argument, the record form's button: one hook for both faces)."""
    asked = (
        request.headers.get("X-Allow-Duplicates", "").lower() in TRUE
        or request.args.get("allow_duplicates", "").lower() in TRUE
        or (request.mimetype == "application/x-www-form-urlencoded" and request.form.get("_allow_duplicates") in TRUE)
    )
    g._duplicate_mode = allow_duplicates(asked)


@blueprint.teardown_app_request
def _save_anyway_done(exc=None):
    token = g.pop("_duplicate_mode", None)
    if token is not None:
        with suppress(ValueError):  # set in another context (a streamed response): it dies with it
            reset_allowed(token)


@blueprint.post("/<name>/duplicates")
def find(name):
    """The likely duplicates of ``values`` by the object's duplicate rules."""
    body = json_body()
    values = body.get("values")
    if not isinstance(values, dict):
        raise ValidationFailed("values must be an object", details={"fields": {"values": ["must be an object"]}})
    exclude = body.get("exclude_id")
    store = context.store()
    store.guard.require("read", store.object(name))
    matches = find_duplicates(store, name, values, exclude_id=exclude if isinstance(exclude, int) else None)
    return jsonify({"data": [m.as_json(name) for m in matches]})


@blueprint.post("/<name>/merge")
def merge_records(name):
    """Merge 1-2 losers into a survivor: ``{"survivor": id, "losers": [ids], "values": {field: value}}``."""
    body = json_body()
    merged = merge(context.store(), name, body.get("survivor"), body.get("losers"), body.get("values"))
    return jsonify(merged)
