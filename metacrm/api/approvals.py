"""Approvals in the REST API (docs/approvals.md):

* ``POST /api/v1/data/<object>/<id>/approvals`` ``{"process": "…", "comment": "…"}``
  — submit the record (both members optional);
* ``GET /api/v1/data/<object>/<id>/approvals`` — the record's requests with
  their approvers and history, and what the caller may do now;
* ``GET /api/v1/approvals`` — the requests waiting for the caller's decision;
* ``POST /api/v1/approvals/<request>/approve`` / ``…/reject`` / ``…/recall``
  ``{"comment": "…"}`` — decide as a current approver, or withdraw as the submitter.

Every call acts through the caller's guard (:mod:`metacrm.data.approvals`).
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from metacrm.api.requests import json_body
from metacrm.data import approvals
from metacrm.plugins import context

blueprint = Blueprint("api_approvals", __name__, url_prefix="/api/v1")


def _body() -> dict:
    """The JSON body; an empty body is no options."""
    return json_body() if request.get_data(cache=True).strip() else {}


@blueprint.post("/data/<name>/<int:record_id>/approvals")
def submit_for_approval(name, record_id):
    """Submit the record for approval (the caller must be able to update it and the entry condition must hold)."""
    body = _body()
    result = approvals.submit(
        context.store(), name, record_id, process=body.get("process"), comment=body.get("comment")
    )
    return jsonify(result), 201


@blueprint.get("/data/<name>/<int:record_id>/approvals")
def record_approvals(name, record_id):
    """The record's approval requests, newest first, with approvers, history and what the caller may do."""
    return jsonify(approvals.record_approvals(context.store(), name, record_id))


@blueprint.get("/approvals")
def my_approvals():
    """The approval requests waiting for the caller's decision, oldest first."""
    return jsonify({"data": approvals.my_pending(context.store())})


@blueprint.post("/approvals/<int:request_id>/approve")
def approve(request_id):
    """Approve the request's current step as one of its pending approvers, with an optional comment."""
    body = _body()
    return jsonify(approvals.decide(context.store(), request_id, "approve", comment=body.get("comment")))


@blueprint.post("/approvals/<int:request_id>/reject")
def reject(request_id):
    """Reject the request as one of its current step's pending approvers, with an optional comment."""
    body = _body()
    return jsonify(approvals.decide(context.store(), request_id, "reject", comment=body.get("comment")))


@blueprint.post("/approvals/<int:request_id>/recall")
def recall(request_id):
    """Withdraw a pending request (only its submitter), which unlocks the record."""
    body = _body()
    return jsonify(approvals.recall(context.store(), request_id, comment=body.get("comment")))
