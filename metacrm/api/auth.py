"""``/api/v1``: tokens, the current user, password change and "sign out
everywhere", the tenant's security settings, the audit log, and a health
check."""

from __future__ import annotations

import re

import sqlalchemy as sa
from flask import Blueprint, current_app, g, jsonify, request

from metacrm.api.requests import int_arg, json_body, require_strings
from metacrm.platform import audit, twofactor
from metacrm.platform import identity as identities
from metacrm.platform import settings as tenant_settings
from metacrm.platform.database import INT32_MAX
from metacrm.platform.errors import ValidationFailed
from metacrm.platform.web import (
    allowed_before_two_factor,
    client_ip,
    current_actor,
    current_identity,
    current_tenant,
    public,
    sign_out_session,
)
from metacrm.plugins import context

API_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")

blueprint = Blueprint("api_auth", __name__, url_prefix="/api/v1")


def _instance():
    return current_app.extensions["metacrm"]


@blueprint.post("/auth/token")
@public(csrf_exempt=True)
def create_token_with_password():
    """Exchange ``{"email", "password", "tenant"}`` (and ``"otp"``, the
    code of a user with two-factor authentication) for an API token."""
    data = json_body()
    fields = require_strings(data, "email", "password", "tenant")
    otp = data.get("otp")
    if otp is not None and not isinstance(otp, str):
        raise ValidationFailed("invalid code", details={"fields": {"otp": ["must be a string"]}})
    identity = identities.authenticate(
        _instance(),
        email=fields["email"],
        password=fields["password"],
        tenant=fields["tenant"],
        ip=client_ip(),
        request_id=g.request_id,
        otp=otp,
    )
    name = data.get("name") if isinstance(data.get("name"), str) else "api"
    token_id, token = identities.create_token(
        _instance(), identity, name, actor=identity.as_actor(client_ip(), g.request_id)
    )
    return jsonify({"token": token, "id": token_id, "tenant": identity.tenant_slug}), 201


@blueprint.get("/me")
@allowed_before_two_factor
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
@allowed_before_two_factor
def sign_out_everywhere():
    """End every browser session and revoke every API token of the
    signed-in user, in every tenant (this request's included)."""
    revoked = identities.sign_out_everywhere(_instance(), current_identity().user_id, actor=current_actor())
    sign_out_session()
    return jsonify({"tokens_revoked": revoked})


@blueprint.get("/auth/2fa")
@allowed_before_two_factor
def two_factor_status():
    """Whether two-factor authentication is on, and required of you here."""
    identity = current_identity()
    state = twofactor.status(_instance(), identity.user_id)
    return jsonify({**state, "required": identities.two_factor_required(_instance(), identity)})


@blueprint.post("/auth/2fa/enrol")
@allowed_before_two_factor
def two_factor_enrol():
    """A new TOTP secret and its ``otpauth://`` URI for the authenticator
    app, not in force until confirmed."""
    identity = current_identity()
    return jsonify(twofactor.enrol(_instance(), identity.user_id, identity.email)), 201


@blueprint.post("/auth/2fa/confirm")
@allowed_before_two_factor
def two_factor_confirm():
    """``{"code"}`` from the app: two-factor authentication is on from now;
    answers the recovery codes, shown this once."""
    code = require_strings(json_body(), "code")["code"]
    identity = current_identity()
    codes = twofactor.confirm(
        _instance(),
        identity.user_id,
        code,
        tenants=identities.tenants_of(_instance(), identity.user_id),
        actor=current_actor(),
    )
    return jsonify({"recovery_codes": codes})


@blueprint.post("/auth/2fa/disable")
def two_factor_disable():
    """``{"code"}`` (from the app, or a recovery code): turn it off, unless
    this tenant requires it of your role."""
    code = require_strings(json_body(), "code")["code"]
    identity = current_identity()
    twofactor.disable(
        _instance(),
        identity.user_id,
        code,
        required=identities.two_factor_required(_instance(), identity),
        tenants=identities.tenants_of(_instance(), identity.user_id),
        actor=current_actor(),
    )
    return "", 204


@blueprint.get("/auth/settings")
def security_settings():
    """The tenant's security settings (secrets only as ``…_set``)."""
    return jsonify(tenant_settings.shown(tenant_settings.tenant_settings_of(_instance(), current_identity().tenant_id)))


@blueprint.patch("/auth/settings")
def update_security_settings():
    """Change some settings (holders of the manage-access permission)."""
    context.guard().require_permission("manage_access")
    changed = tenant_settings.update_tenant_settings(
        _instance(), current_identity().tenant_slug, json_body(), actor=current_actor()
    )
    return jsonify(tenant_settings.shown(changed))


@blueprint.get("/audit")
def audit_log():
    """The tenant's audit log, for holders of the manage-access permission;
    ``action``, ``object``, ``record``, ``user`` (an id) and ``field`` narrow it."""
    context.guard().require_permission("manage_access")
    limit = min(max(request.args.get("limit", 100, type=int) or 100, 1), 500)
    before = int_arg("before", maximum=INT32_MAX)  # the audit log's ids are 32-bit
    names = {}
    for name in ("object", "field"):
        value = request.args.get(name) or None
        if value is not None and not API_NAME.match(value):
            raise ValidationFailed(f"{name} must be an api name", details={"fields": {name: ["not an api name"]}})
        names[name] = value
    with current_tenant().connect() as conn:
        rows = audit.entries(
            conn,
            action=request.args.get("action") or None,
            limit=limit,
            before_id=before,
            record_id=int_arg("record"),
            actor_id=int_arg("user", maximum=INT32_MAX),  # user ids are 32-bit
            **names,
        )
    return jsonify({"data": rows, "next_cursor": rows[-1]["id"] if len(rows) == limit else None})


@blueprint.get("/health")
@public
def health():
    """For load balancers: 200 when the platform database answers."""
    with _instance().db.platform_connect() as conn:
        conn.execute(sa.select(1))
    return jsonify({"status": "ok"})
