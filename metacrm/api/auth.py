"""``/api/v1``: tokens, the current user, password change and "sign out
everywhere", the tenant's security settings, the audit log, and a health
check."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, current_app, g, jsonify, request

from metacrm.api.requests import json_body, require_strings
from metacrm.platform import audit
from metacrm.platform import identity as identities
from metacrm.platform import settings as tenant_settings
from metacrm.platform.errors import ValidationFailed
from metacrm.platform.web import (
    client_ip,
    current_actor,
    current_identity,
    current_tenant,
    public,
    sign_out_session,
)
from metacrm.plugins import context

blueprint = Blueprint("api_auth", __name__, url_prefix="/api/v1")


def _instance():
    return current_app.extensions["metacrm"]


@blueprint.post("/auth/token")
@public(csrf_exempt=True)
def create_token_with_password():
    """Exchange ``{"email", "password", "tenant"}`` for an API token."""
    data = json_body()
    fields = require_strings(data, "email", "password", "tenant")
    identity = identities.authenticate(
        _instance(),
        email=fields["email"],
        password=fields["password"],
        tenant=fields["tenant"],
        ip=client_ip(),
        request_id=g.request_id,
    )
    name = data.get("name") if isinstance(data.get("name"), str) else "api"
    token_id, token = identities.create_token(
        _instance(), identity, name, actor=identity.as_actor(client_ip(), g.request_id)
    )
    return jsonify({"token": token, "id": token_id, "tenant": identity.tenant_slug}), 201


@blueprint.get("/me")
def me():
    identity = current_identity()
    return jsonify(
        {
            "user": {
                "id": identity.user_id,
                "email": identity.email,
                "display_name": identity.display_name,
                "is_admin": identity.is_admin,
                "role": identity.role,
            },
            "tenant": {"slug": identity.tenant_slug, "name": current_tenant().name},
            "tenants": identities.tenants_of(_instance(), identity.user_id),
        }
    )


@blueprint.get("/auth/tokens")
def list_tokens():
    return jsonify({"data": identities.list_tokens(_instance(), current_identity())})


@blueprint.post("/auth/tokens")
def create_token():
    data = json_body()
    name = data.get("name", "")
    if not isinstance(name, str):
        raise ValidationFailed("invalid token name", details={"fields": {"name": ["must be a string"]}})
    token_id, token = identities.create_token(_instance(), current_identity(), name, actor=current_actor())
    return jsonify({"token": token, "id": token_id}), 201


@blueprint.delete("/auth/tokens/<int:token_id>")
def revoke_token(token_id: int):
    identities.revoke_token(_instance(), current_identity(), token_id, actor=current_actor())
    return "", 204


@blueprint.post("/auth/password")
def change_password():
    """``{"current_password", "new_password"}``: the new one must pass the
    password policy of every tenant of the user; afterwards every session
    and token of the user is void, this one included."""
    fields = require_strings(json_body(), "current_password", "new_password")
    identities.change_own_password(
        _instance(),
        current_identity(),
        fields["current_password"],
        fields["new_password"],
        ip=client_ip(),
        actor=current_actor(),
    )
    sign_out_session()
    return "", 204


@blueprint.post("/auth/sign-out-everywhere")
def sign_out_everywhere():
    """End every browser session and revoke every API token of the
    signed-in user, in every tenant (this request's included)."""
    revoked = identities.sign_out_everywhere(_instance(), current_identity().user_id, actor=current_actor())
    sign_out_session()
    return jsonify({"tokens_revoked": revoked})


@blueprint.get("/auth/settings")
def security_settings():
    """The tenant's security settings (the password policy)."""
    return jsonify(tenant_settings.tenant_settings_of(_instance(), current_identity().tenant_id))


@blueprint.patch("/auth/settings")
def update_security_settings():
    """Change some settings (holders of the manage-access permission)."""
    context.guard().require_permission("manage_access")
    changed = tenant_settings.update_tenant_settings(
        _instance(), current_identity().tenant_slug, json_body(), actor=current_actor()
    )
    return jsonify(changed)


@blueprint.get("/audit")
def audit_log():
    """The tenant's audit log, for holders of the manage-access permission."""
    context.guard().require_permission("manage_access")
    limit = min(max(request.args.get("limit", 100, type=int) or 100, 1), 500)
    before = request.args.get("before", type=int)
    with current_tenant().connect() as conn:
        rows = audit.entries(conn, action=request.args.get("action") or None, limit=limit, before_id=before)
    return jsonify({"data": rows, "next_cursor": rows[-1]["id"] if len(rows) == limit else None})


@blueprint.get("/health")
@public
def health():
    """For load balancers: 200 when the platform database answers."""
    with _instance().db.platform_connect() as conn:
        conn.execute(sa.select(1))
    return jsonify({"status": "ok"})
