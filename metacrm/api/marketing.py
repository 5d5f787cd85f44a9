"""Marketing under ``/api/v1/marketing`` (docs/marketing.md): segment
counts, adding campaign members, mass e-mail (preview and send), and the
tenant-wide e-mail templates and web forms. Segments themselves are an
object-scoped definition kind with the generic routes
``/api/v1/meta/objects/{object}/segments[/{api_name}]``."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from metacrm.api.requests import json_body
from metacrm.data.marketing import service
from metacrm.platform.errors import NotFound, ValidationFailed
from metacrm.plugins import context

blueprint = Blueprint("api_marketing", __name__, url_prefix="/api/v1/marketing")

# kind name by URL segment: the tenant-wide marketing definitions
TENANT_KINDS = {"email-templates": "email_template", "web-forms": "web_form"}


@blueprint.get("/segments/<object_name>/<name>/count")
def segment_count(object_name, name):
    """How many records of the segment the caller may read (one SQL count within their scope)."""
    return jsonify(
        {"object": object_name, "segment": name, "count": service.segment_count(context.store(), object_name, name)}
    )


@blueprint.post("/campaigns/<campaign_id>/members")
def add_members(campaign_id):
    """Add records to the campaign: ``{"object": "lead", "segment": "<name>"}`` or
    ``{"object": "contact", "ids": [1, 2]}``. Answers ``{"added", "already"}``."""
    body = json_body()
    object_name = body.get("object")
    if not isinstance(object_name, str):
        raise ValidationFailed("name the object", details={"fields": {"object": ["required"]}})
    segment = body.get("segment")
    if segment is not None and not isinstance(segment, str):
        raise ValidationFailed("segment must be a name", details={"fields": {"segment": ["must be a name"]}})
    result = service.add_members(context.store(), campaign_id, object_name, segment_name=segment, ids=body.get("ids"))
    return jsonify(result)


@blueprint.post("/campaigns/<campaign_id>/mass-email")
def mass_email(campaign_id):
    """Mail the campaign's members with an e-mail template, through the outbox at the tenant's rate:
    ``{"template", "segment": {"object", "name"} (added as members first), "preview": false}``.
    A preview writes nothing and answers the recipient count and the first rendered message."""
    body = json_body()
    template = body.get("template")
    if not isinstance(template, str):
        raise ValidationFailed("name the e-mail template", details={"fields": {"template": ["required"]}})
    segment = body.get("segment") or {}
    if not isinstance(segment, dict):
        raise ValidationFailed("segment must be {object, name}", details={"fields": {"segment": ["{object, name}"]}})
    result = service.mass_email(
        context.instance(),
        context.store(),
        campaign_id,
        template,
        base_url=request.host_url,
        segment_object=segment.get("object"),
        segment_name=segment.get("name"),
        preview=bool(body.get("preview")),
    )
    return jsonify(result), 200 if body.get("preview") else 202


def _kind(collection: str) -> str:
    kind = TENANT_KINDS.get(collection)
    if kind is None:
        raise NotFound(f"no {collection}")
    return kind


@blueprint.get("/<any('email-templates', 'web-forms'):collection>")
def list_definitions(collection):
    """Every e-mail template or web form."""
    return jsonify({"data": [d.document for d in context.model().definitions.live(_kind(collection))]})


@blueprint.get("/<any('email-templates', 'web-forms'):collection>/<item>")
def get_definition(collection, item):
    """One e-mail template or web form."""
    definition = context.model().definitions.get(_kind(collection), item)
    if definition is None:
        raise NotFound(f"no {_kind(collection).replace('_', ' ')} {item!r}")
    return jsonify(definition.document)


@blueprint.put("/<any('email-templates', 'web-forms'):collection>/<item>")
def put_definition(collection, item):
    """Create or replace an e-mail template or web form (the whole document; ``api_name`` must match
    the URL); checked like every definition (422 naming the member). Makes a revision."""
    body = json_body()
    if body.setdefault("api_name", item) != item:
        raise ValidationFailed("api_name must match the URL", details={"fields": {"api_name": ["must match the URL"]}})
    kind = _kind(collection)
    with context.metadata_service().change(f"save {kind} {item}") as tx:
        tx.put(kind, None, body)
    return jsonify(body)


@blueprint.delete("/<any('email-templates', 'web-forms'):collection>/<item>")
def delete_definition(collection, item):
    """Delete an e-mail template or web form. Makes a revision."""
    kind = _kind(collection)
    with context.metadata_service().change(f"delete {kind} {item}") as tx:
        tx.delete(kind, None, item)
    return "", 204
