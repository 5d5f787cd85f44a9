"""``GET /api/v1/openapi.json`` and the builder of the document it returns.

The document depends on the metadata revision and nothing else of the
tenant's (plus its display name, in the title), so it is built once per
(tenant, revision) and kept in ``Instance.caches``; a change made by any
worker bumps the revision, and the next request rebuilds it.

It shows only what the caller may read (:func:`caller_view`): objects they
may not read are left out, and so are the fields their field-level access
(and derived visibility) hides; input schemas list only fields they may
write. One document is kept per distinct view.

Depends on the metadata layer and the platform's web edge; nothing here writes.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from flask import Blueprint, current_app

from metacrm.metadata.fieldtypes.registry import FieldTypeRegistry
from metacrm.metadata.kinds import KindRegistry, kinds_for
from metacrm.metadata.model import definition_kinds
from metacrm.metadata.physical import CompiledModel
from metacrm.platform.caches import CacheSlot, Memo
from metacrm.platform.web import current_tenant
from metacrm.plugins import context

from .auth import AccountSections
from .imports import ImportSections
from .meta import DefinitionSections
from .records import RecordSections
from .routes import Route, RouteSections, api_routes
from .schemas import FIXED_SCHEMA_NAMES, error_responses, fixed_schemas, pascal, shared_parameters

blueprint = Blueprint("api_openapi", __name__, url_prefix="/api/v1")

OPENAPI_VERSION = "3.1.0"
CACHE_KEY: CacheSlot[Memo] = CacheSlot("openapi")  # per tenant and field view: (revision, name) and the JSON


@blueprint.get("/openapi.json")
def openapi_document():
    """The tenant's OpenAPI document, rebuilt only when the metadata revision moves."""
    model = context.model()
    tenant = current_tenant()
    view = caller_view(context.guard(), model)
    cache = context.instance().caches.per_tenant(CACHE_KEY)
    key = (model.revision, tenant.name)
    slot = tenant.slug if view is None else f"{tenant.slug}#{_digest(view)}"
    cached = cache.get(slot)
    if cached is None or cached[0] != key:
        document = DocumentBuilder(
            model,
            tenant_name=tenant.name,
            registry=context.field_types(),
            kinds=definition_kinds(context.instance()),
            cookie_name=current_app.config.get("SESSION_COOKIE_NAME") or "session",
            routes=api_routes(current_app),
            view=view,
        ).build()
        cached = (key, json.dumps(document, ensure_ascii=False, separators=(",", ":")))
        cache[slot] = cached
    response = current_app.response_class(cached[1], mimetype="application/json")
    response.headers["X-Metadata-Revision"] = str(model.revision)
    return response


# object api name → (fields the caller may read, fields they may write)
View = dict[str, tuple[frozenset[str], frozenset[str]]]


def caller_view(guard, model: CompiledModel) -> View | None:
    """What of the model the caller may see in the document: the objects
    they may read, each with its readable and writable fields. None when
    that is everything (the full document, shared by all such callers)."""
    view: View = {}
    full = True
    for api_name in sorted(model.objects):
        obj = model.objects[api_name]
        if not guard.permits("read", obj):
            full = False
            continue
        readable = frozenset(guard.readable_fields(obj) & set(obj.fields))
        writable = frozenset(guard.writable_fields(obj) & readable)
        full = full and readable == set(obj.fields) and writable == readable
        view[api_name] = (readable, writable)
    return None if full else view


def _digest(view: View) -> str:
    text = json.dumps({k: [sorted(r), sorted(w)] for k, (r, w) in sorted(view.items())}, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class DocumentBuilder(RecordSections, DefinitionSections, AccountSections, ImportSections, RouteSections):
    """Builds the OpenAPI 3.1 document of one compiled model; each part of
    the document comes from its section class."""

    def __init__(
        self,
        model: CompiledModel,
        *,
        tenant_name: str,
        registry: FieldTypeRegistry,
        kinds: KindRegistry | None = None,
        cookie_name: str,
        routes: list[Route],
        view: View | None = None,
    ):
        self.model = model
        self.view = view  # None: everything (see caller_view)
        self.routes = list(routes)
        self.view_docs = {route.endpoint: route.doc for route in self.routes}
        self.view_rules = {route.endpoint: route.rule for route in self.routes}
        self.path_rules: dict[str, str] = {}
        self.tenant_name = tenant_name
        self.registry = registry
        self.kinds = kinds or kinds_for(getattr(registry, "plugin_manager", None))
        self.cookie_name = cookie_name
        self.schemas: dict[str, Any] = {}
        self.parameters: dict[str, Any] = {}
        self.filter_refs: dict[str, list[dict]] = {}
        self.paths: dict[str, Any] = {}
        self.names = self._component_names()

    # -- naming ----------------------------------------------------------------------

    def _component_names(self) -> dict[str, str]:
        """api name → component base name (``sales_order`` → ``SalesOrder``),
        unique together with its suffixed variants and the fixed schemas."""
        used = set(FIXED_SCHEMA_NAMES)
        names = {}
        for api_name in sorted(self.model.objects):
            base = pascal(api_name)
            variants = {base + suffix for suffix in ("", "Input", "Update", "List")}
            if variants & used:
                base = f"{pascal(api_name)}_{api_name}"
                variants = {base + suffix for suffix in ("", "Input", "Update", "List")}
            used |= variants
            names[api_name] = base
        return names

    # -- whole document -----------------------------------------------------------------

    def build(self) -> dict:
        self.schemas.update(fixed_schemas(self.registry, self.kinds))
        self._auth_paths()
        self._meta_paths()
        self._rules_paths()
        self._automation_paths()
        tags = [
            {"name": "auth", "description": "Tokens, the current user, audit log and health."},
            {"name": "metadata", "description": "Objects, fields, layouts, list views and revisions."},
        ]
        for api_name in self._objects():
            obj = self.model.objects[api_name]
            self._object_schemas(obj)
            self._data_paths(obj)
            tags.append({"name": api_name, "description": f"Records of {obj.label}."})
        self._import_paths([self.model.objects[api_name] for api_name in self._objects()])
        self._other_routes()
        return {
            "openapi": OPENAPI_VERSION,
            "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
            "info": {
                "title": f"metacrm API — {self.tenant_name}",
                "version": f"rev-{self.model.revision}",
                "description": (
                    "The REST API of one tenant, generated from its metadata at revision "
                    f"{self.model.revision}. Every change to objects or fields makes a new revision, "
                    "and this document follows it. Errors are JSON "
                    '`{"error": {"code", "message", "details"}}`.'
                ),
            },
            "tags": tags,
            "security": [{"bearerAuth": []}, {"cookieAuth": []}],
            "paths": self.paths,
            "components": {
                "schemas": self.schemas,
                "responses": error_responses(),
                "parameters": {**shared_parameters(), **self.parameters},
                "securitySchemes": {
                    "bearerAuth": {
                        "type": "http",
                        "scheme": "bearer",
                        "description": "An API token from POST /api/v1/auth/token (or the token screen).",
                    },
                    "cookieAuth": {
                        "type": "apiKey",
                        "in": "cookie",
                        "name": self.cookie_name,
                        "description": (
                            "The browser session set by signing in. Requests other than GET/HEAD/OPTIONS "
                            "must also send the page's CSRF token in the X-CSRFToken header."
                        ),
                    },
                },
            },
        }
