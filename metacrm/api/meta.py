"""``/api/v1/meta``: objects, fields, layouts, list views, apps and revisions.

Layouts, list views and any other object-scoped definition kind with a
``url`` (:mod:`metacrm.metadata.kinds`, a plugin's kinds included) share one
set of routes, ``/objects/{object}/<url>[/{api_name}]``, added for the kinds
the app's instance registers."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from metacrm.api.requests import int_arg, json_body
from metacrm.metadata.definitions import scoped_key
from metacrm.metadata.kinds import DefinitionKind
from metacrm.metadata.model import definition_kinds
from metacrm.platform.database import INT32_MAX
from metacrm.platform.errors import Conflict, NotFound, ValidationFailed
from metacrm.plugins import context

blueprint = Blueprint("api_meta", __name__, url_prefix="/api/v1/meta")


def _flag(name: str) -> bool:
    return request.args.get(name, "").lower() in ("1", "true", "yes")


def _object_payload(api_name: str, *, include_deleted: bool = False) -> dict:
    state = context.model().definitions
    item = state.get("object", api_name, include_deleted=include_deleted)
    if item is None:
        raise NotFound(f"no object {api_name!r}")
    return {
        **item.document,
        "deleted_at": item.deleted_at.isoformat() if item.deleted_at else None,
        **{
            kind.collection: [d.document for d in state.scoped(kind.name, api_name)]
            for kind in definition_kinds(context.instance()).object_scoped()
            if kind.collection
        },
    }


def _revision_header(response, revision=None):
    response.headers["X-Metadata-Revision"] = str(revision if revision is not None else context.model().revision)
    return response


# -- objects -----------------------------------------------------------------------------


@blueprint.get("/objects")
def list_objects():
    state = context.model().definitions
    deleted = _flag("deleted")
    items = [d for (kind, _key), d in sorted(state.items.items()) if kind == "object" and (d.live != deleted)]
    data = [
        {
            **d.document,
            "field_count": len(state.fields(d.key)),
            "deleted_at": d.deleted_at.isoformat() if d.deleted_at else None,
        }
        for d in items
    ]
    return _revision_header(jsonify({"data": data}))


@blueprint.post("/objects")
def create_object():
    body = json_body()
    fields = body.pop("fields", None)
    if fields is not None and not isinstance(fields, list):
        raise ValidationFailed("fields must be a list", details={"fields": {"fields": ["must be a list"]}})
    with context.metadata_service().change(f"create object {body.get('api_name')}") as tx:
        tx.create_object(body, fields)
        revision = tx.revision
    return _revision_header(jsonify(_object_payload(body["api_name"])), revision), 201


@blueprint.get("/objects/<name>")
def get_object(name):
    return _revision_header(jsonify(_object_payload(name, include_deleted=_flag("deleted"))))


@blueprint.patch("/objects/<name>")
def update_object(name):
    with context.metadata_service().change(f"update object {name}") as tx:
        tx.update_object(name, json_body())
    return _revision_header(jsonify(_object_payload(name)))


@blueprint.delete("/objects/<name>")
def delete_object(name):
    with context.metadata_service().change(f"delete object {name}") as tx:
        tx.delete_object(name)
    return "", 204


@blueprint.post("/objects/<name>/restore")
def restore_object(name):
    with context.metadata_service().change(f"restore object {name}") as tx:
        tx.restore_object(name)
    return _revision_header(jsonify(_object_payload(name)))


# -- fields --------------------------------------------------------------------------------


def _field_payload(obj: str, field: str) -> dict:
    state = context.model().definitions
    if state.object(obj) is None:
        raise NotFound(f"no object {obj!r}")
    item = state.get("field", scoped_key(obj, field), include_deleted=True)
    if item is None:
        raise NotFound(f"no field {field!r} on {obj}")
    return {**item.document, "deleted_at": item.deleted_at.isoformat() if item.deleted_at else None}


@blueprint.get("/objects/<name>/fields")
def list_fields(name):
    state = context.model().definitions
    if state.object(name) is None:
        raise NotFound(f"no object {name!r}")
    deleted = _flag("deleted")
    items = [d for d in state.scoped("field", name, include_deleted=True) if d.live != deleted]
    return jsonify(
        {"data": [{**d.document, "deleted_at": d.deleted_at.isoformat() if d.deleted_at else None} for d in items]}
    )


@blueprint.post("/objects/<name>/fields")
def add_field(name):
    body = json_body()
    with context.metadata_service().change(f"add field {name}.{body.get('api_name')}") as tx:
        tx.add_field(name, body)
    return jsonify(_field_payload(name, body["api_name"])), 201


@blueprint.get("/objects/<name>/fields/<field>")
def get_field(name, field):
    return jsonify(_field_payload(name, field))


@blueprint.patch("/objects/<name>/fields/<field>")
def update_field(name, field):
    """A type change can be previewed with ``?dry_run=true``; values that won't
    convert make it fail unless ``?clear_unconvertible=true`` empties them."""
    body = json_body()
    service = context.metadata_service()
    if _flag("dry_run"):
        with service.change("preview") as tx:
            preview = tx.preview_field_change(name, field, body)
        return jsonify({"preview": preview})
    with service.change(f"update field {name}.{field}") as tx:
        tx.update_field(name, field, body, clear_unconvertible=_flag("clear_unconvertible"))
    return jsonify(_field_payload(name, field))


@blueprint.delete("/objects/<name>/fields/<field>")
def delete_field(name, field):
    with context.metadata_service().change(f"delete field {name}.{field}") as tx:
        tx.delete_field(name, field)
    return "", 204


@blueprint.post("/objects/<name>/fields/<field>/restore")
def restore_field(name, field):
    with context.metadata_service().change(f"restore field {name}.{field}") as tx:
        tx.restore_field(name, field)
    return jsonify(_field_payload(name, field))


# -- layouts, list views and other definitions of an object ------------------------------------
# Routed by _add_definition_routes (below) for every kind with a url.


def _kind(collection: str) -> DefinitionKind:
    return definition_kinds(context.instance()).by_url(collection)


def list_scoped(name, collection):
    state = context.model().definitions
    if state.object(name) is None:
        raise NotFound(f"no object {name!r}")
    return jsonify({"data": [d.document for d in state.scoped(_kind(collection).name, name)]})


def get_scoped(name, collection, item):
    kind = _kind(collection)
    definition = context.model().definitions.get(kind.name, scoped_key(name, item))
    if definition is None:
        raise NotFound(f"no {kind.label} {item!r} on {name}")
    return jsonify(definition.document)


def put_scoped(name, collection, item):
    body = json_body()
    if body.setdefault("api_name", item) != item:
        raise ValidationFailed("api_name must match the URL", details={"fields": {"api_name": ["must match the URL"]}})
    kind = _kind(collection)
    with context.metadata_service().change(f"save {kind.name} {name}.{item}") as tx:
        tx.put(kind.name, name, body)
    return jsonify(body)


def delete_scoped(name, collection, item):
    kind = _kind(collection)
    with context.metadata_service().change(f"delete {kind.name} {name}.{item}") as tx:
        tx.delete(kind.name, name, item)
    return "", 204


@blueprint.record_once
def _add_definition_routes(state) -> None:
    """The routes above, for the url of every object-scoped kind the app's
    instance registers (an ``any`` converter: other segments stay 404)."""
    urls = [k.url for k in definition_kinds(state.app.extensions["metacrm"]).object_scoped() if k.url]
    if not urls:
        return
    collection = "<any(" + ", ".join(u if u.isidentifier() else f"'{u}'" for u in urls) + "):collection>"
    for rule, view, method in (
        (f"/objects/<name>/{collection}", list_scoped, "GET"),
        (f"/objects/<name>/{collection}/<item>", get_scoped, "GET"),
        (f"/objects/<name>/{collection}/<item>", put_scoped, "PUT"),
        (f"/objects/<name>/{collection}/<item>", delete_scoped, "DELETE"),
    ):
        state.add_url_rule(rule, view_func=view, methods=[method])


# -- apps: the navigation's groups of objects (the tenant-wide ``app`` kind) ------------------


def _app_or_404(item: str) -> dict:
    definition = context.model().definitions.get("app", item)
    if definition is None:
        raise NotFound(f"no app {item!r}")
    return definition.document


@blueprint.get("/apps")
def list_apps():
    """Every app (Sales, Service, Marketing…): its label and translations, objects in order, roles and order."""
    return _revision_header(jsonify({"data": [d.document for d in context.model().definitions.live("app")]}))


@blueprint.post("/apps")
def create_app_definition():
    """Create an app: ``{"api_name", "label", "translations": {"zh_CN": {"label"}}, "icon", "objects",
    "roles", "order"}``.

    409 if the api name is taken; checked like every definition (422 naming the member). Makes a revision."""
    body = json_body()
    name = body.get("api_name")
    if isinstance(name, str) and context.model().definitions.get("app", name) is not None:
        raise Conflict(f"app {name!r} already exists", details={"fields": {"api_name": ["already exists"]}})
    with context.metadata_service().change(f"create app {name}") as tx:
        tx.put("app", None, body)
        revision = tx.revision
    return _revision_header(jsonify(_app_or_404(body["api_name"])), revision), 201


@blueprint.get("/apps/<item>")
def get_app(item):
    """One app."""
    return _revision_header(jsonify(_app_or_404(item)))


@blueprint.put("/apps/<item>")
def put_app(item):
    """Create or replace an app (the whole document; ``api_name`` must match the URL). Makes a revision."""
    body = json_body()
    if body.setdefault("api_name", item) != item:
        raise ValidationFailed("api_name must match the URL", details={"fields": {"api_name": ["must match the URL"]}})
    with context.metadata_service().change(f"save app {item}") as tx:
        tx.put("app", None, body)
        revision = tx.revision
    return _revision_header(jsonify(_app_or_404(item)), revision)


@blueprint.delete("/apps/<item>")
def delete_app(item):
    """Delete an app (its objects stay; the navigation no longer groups them). Makes a revision."""
    with context.metadata_service().change(f"delete app {item}") as tx:
        tx.delete("app", None, item)
    return "", 204


# -- field types and revisions -----------------------------------------------------------------


@blueprint.get("/field-types")
def list_field_types():
    registry = context.field_types()
    return jsonify(
        {
            "data": [
                {
                    "type": cls.name,
                    "label": cls.label,
                    "widget": cls.widget,
                    "operators": list(cls.operators),
                    "sortable": cls.sortable,
                    "options_schema": cls.options_schema,
                    "converts_to": sorted(getattr(cls, "CONVERTIBLE_TO", {})),
                }
                for cls in (registry.get(n) for n in sorted(registry.names()))
            ]
        }
    )


@blueprint.get("/revisions")
def list_revisions():
    service = context.revision_reader()
    before = int_arg("before", maximum=INT32_MAX)  # revisions are numbered in a 32-bit column
    limit = min(max(request.args.get("limit", 100, type=int) or 100, 1), 500)
    data = service.revisions(limit=limit, before=before)
    return jsonify({"data": data, "next_cursor": data[-1]["revision"] if len(data) == limit else None})


@blueprint.get("/revisions/<int:number>")
def get_revision(number):
    return jsonify(context.revision_reader().revision(number))


@blueprint.post("/revisions/<int:number>/rollback")
def rollback(number):
    revision = context.metadata_service().rollback(number)
    return _revision_header(jsonify({"revision": revision, "rolled_back_to": number}), revision)
