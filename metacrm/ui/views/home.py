"""The start page ("my day") and the user's own API tokens."""

from __future__ import annotations

from flask import current_app, render_template, request

from metacrm.platform import audit
from metacrm.platform import identity as identities
from metacrm.platform.errors import NotFound
from metacrm.platform.web import current_actor, current_identity, current_tenant
from metacrm.plugins import context
from metacrm.ui.blueprint import blueprint, htmx


def _instance():
    return current_app.extensions["metacrm"]


@blueprint.get("/")
def home():
    return _render_home()


def _render_home(**extra):
    identity = current_identity()
    entries = []
    if context.guard().may("manage_access"):
        with current_tenant().connect() as conn:
            entries = audit.entries(conn, limit=20)
    others = [slug for slug in identities.tenants_of(_instance(), identity.user_id) if slug != identity.tenant_slug]
    return render_template(
        "home.html",
        can_see_audit=context.guard().may("manage_access"),
        tokens=identities.list_tokens(_instance(), identity),
        audit_entries=entries,
        other_tenants=others,
        **extra,
    )


def _tokens_fragment(**extra):
    """The token card alone for htmx; the whole page for a plain form post."""
    if not htmx:
        return _render_home(**extra)
    return render_template(
        "partials/tokens.html", tokens=identities.list_tokens(_instance(), current_identity()), **extra
    )


@blueprint.post("/tokens")
def create_token():
    _, token = identities.create_token(
        _instance(), current_identity(), request.form.get("name", "")[:100], actor=current_actor()
    )
    return _tokens_fragment(new_token=token)


@blueprint.post("/tokens/<int:token_id>/revoke")
def revoke_token(token_id: int):
    try:
        identities.revoke_token(_instance(), current_identity(), token_id, actor=current_actor())
    except NotFound as exc:
        return _tokens_fragment(token_error=exc.message)
    return _tokens_fragment()
