"""Converting records in the REST API (metacrm.data.conversion).

* ``GET /api/v1/data/<object>/<id>/convert``: the object's conversion
  (targets, their mapped values from the record, the existing records each
  target likely is), for a record the caller may update;
* ``POST /api/v1/data/<object>/<id>/convert`` ``{"account": {"id": 5},
  "contact": {"values": {...}}, "opportunity": null}``: convert it in one
  transaction; 201 with what was created or chosen. A warn duplicate rule's
  match on a created target refuses it (422) unless the caller sends
  ``X-Allow-Duplicates: true``, as for any save.
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from metacrm.api.requests import json_body
from metacrm.data.conversion import convert, definition_for, is_converted, mapped_values, suggestions
from metacrm.plugins import context

blueprint = Blueprint("api_conversion", __name__, url_prefix="/api/v1/data")


@blueprint.get("/<name>/<int:record_id>/convert")
def preview(name, record_id):
    """The conversion of a record: targets, mapped values and likely existing records."""
    store = context.store()
    document = definition_for(store, name, request.args.get("conversion"))
    source = store.get(name, record_id, action="update")
    matches = suggestions(store, document, source)
    targets = [
        {
            "object": target["object"],
            "existing": target.get("existing", True),
            "optional": target.get("optional", False),
            "values": mapped_values(store, target, source),
            "matches": [m.as_json(target["object"]) for m in matches.get(target["object"], [])],
        }
        for target in document["targets"]
    ]
    return jsonify(
        {
            "object": name,
            "id": record_id,
            "conversion": document["api_name"],
            "label": document["label"],
            "converted": is_converted(document, source),
            "targets": targets,
        }
    )


@blueprint.post("/<name>/<int:record_id>/convert")
def convert_record(name, record_id):
    """Convert a record into its targets (one transaction, every record through the save pipeline)."""
    result = convert(context.store(), name, record_id, json_body())
    return jsonify(result), 201
