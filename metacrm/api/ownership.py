"""``POST /api/v1/data/<object>/<id>/owner``: transfer a record to another owner.

``owner_id`` cannot be written through record writes; this is the one way
to change it (update scope on the record plus the role entry's ``transfer``
right; the new owner must be a member). See :mod:`metacrm.access.ownership`.
"""

from __future__ import annotations

from flask import Blueprint, jsonify

from metacrm.access.ownership import transfer_owner
from metacrm.api.requests import json_body
from metacrm.platform.web import current_actor, current_tenant
from metacrm.plugins import context

blueprint = Blueprint("api_ownership", __name__, url_prefix="/api/v1/data")


@blueprint.post("/<name>/<int:record_id>/owner")
def transfer(name, record_id):
    """Make another member the record's owner: ``{"user_id": N}``.

    Needs update scope on the record and the ``transfer`` right; audited with the old and new owner."""
    result = transfer_owner(
        context.instance(),
        context.guard(),
        current_tenant(),
        context.model(),
        name,
        record_id,
        json_body(),
        current_actor(),
    )
    return jsonify(result)
