"""The user's own settings (``/account``): profile, language and time zone,
password change, API tokens, signing out everywhere; and the tenant
switcher (``POST /switch-tenant``) for users of several organisations."""

from __future__ import annotations

from zoneinfo import available_timezones

from flask import current_app, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext

from metacrm.platform import audit
from metacrm.platform import identity as identities
from metacrm.platform.errors import Forbidden, NotFound, ValidationFailed
from metacrm.platform.web import client_ip, current_actor, current_identity, current_tenant, sign_in_session
from metacrm.ui.blueprint import blueprint, htmx

# The languages offered, each in its own language (UI.md §4).
LANGUAGES = (("en", "English"), ("zh_CN", "中文"))
SAVED_MESSAGES = {
    "preferences": lazy_gettext("Preferences saved."),
    "password": lazy_gettext("Password changed. Your other sessions and API tokens were signed out."),
    "profile": lazy_gettext("Profile saved."),
}


def _instance():
    return current_app.extensions["metacrm"]


def _time_zones() -> list[str]:
    if "time_zones" not in current_app.extensions:
        current_app.extensions["time_zones"] = sorted(z for z in available_timezones() if "/" in z or z == "UTC")
    return current_app.extensions["time_zones"]


def _render(status: int = 200, **extra):
    identity = current_identity()
    saved = SAVED_MESSAGES.get(request.args.get("saved", ""))
    context = {
        "languages": LANGUAGES,
        "time_zones": _time_zones(),
        "preferences": {"locale": identity.locale or "", "time_zone": identity.time_zone or ""},
        "preference_errors": {},
        "password_errors": {},
        "profile": {"display_name": identity.display_name},
        "profile_errors": {},
        "tokens": identities.list_tokens(_instance(), identity),
        "saved": saved,
    }
    context.update(extra)
    return render_template("account/page.html", **context), status


@blueprint.get("/account")
def account():
    return _render()


@blueprint.post("/account/profile")
def save_profile():
    display_name = request.form.get("display_name", "")
    try:
        identities.set_display_name(_instance(), current_identity().user_id, display_name, actor=current_actor())
    except ValidationFailed as exc:
        return _render(422, profile={"display_name": display_name}, profile_errors=_field_errors(exc))
    return redirect(url_for("ui.account", saved="profile"))


@blueprint.post("/account/preferences")
def save_preferences():
    chosen = {
        "locale": request.form.get("locale", "").strip(),
        "time_zone": request.form.get("time_zone", "").strip(),
    }
    try:
        identities.set_preferences(
            _instance(),
            current_identity().user_id,
            locale=chosen["locale"] or None,
            time_zone=chosen["time_zone"] or None,
            actor=current_actor(),
        )
    except ValidationFailed as exc:
        return _render(422, preferences=chosen, preference_errors=_field_errors(exc))
    # A redirect: the next page is rendered in the language just chosen.
    return redirect(url_for("ui.account", saved="preferences"))


@blueprint.post("/account/password")
def change_password():
    identity = current_identity()
    current, new, confirm = (request.form.get(name, "") for name in ("current_password", "new_password", "confirm"))
    errors = {}
    if not current:
        errors["current_password"] = [_("Required.")]
    if not new:
        errors["new_password"] = [_("Required.")]
    elif new != confirm:
        errors["confirm"] = [_("The two new passwords differ.")]
    if not errors:
        try:
            identities.change_own_password(_instance(), identity, current, new, ip=client_ip(), actor=current_actor())
        except ValidationFailed as exc:
            errors = _field_errors(exc)
    if errors:
        return _render(422, password_errors=errors)
    # Changing the password ended every session, this one too: begin a new one.
    fresh = identities.identity_for(_instance(), identity.user_id, identity.tenant_slug)
    if fresh is not None:
        sign_in_session(fresh)
    return redirect(url_for("ui.account", saved="password"))


def _field_errors(exc: ValidationFailed) -> dict[str, list[str]]:
    fields = (exc.details or {}).get("fields") or {}
    return {name: list(messages) for name, messages in fields.items()} or {"__all__": [exc.message]}


# -- API tokens ------------------------------------------------------------------------------------


def _tokens_fragment(**extra):
    """The token card alone for htmx; the whole page for a plain form post."""
    if not htmx:
        return _render(**extra)
    return render_template(
        "partials/tokens.html", tokens=identities.list_tokens(_instance(), current_identity()), **extra
    )


@blueprint.post("/tokens")
def create_token():
    _token, secret = identities.create_token(
        _instance(), current_identity(), request.form.get("name", "")[:100], actor=current_actor()
    )
    return _tokens_fragment(new_token=secret)


@blueprint.post("/tokens/<int:token_id>/revoke")
def revoke_token(token_id: int):
    try:
        identities.revoke_token(_instance(), current_identity(), token_id, actor=current_actor())
    except NotFound as exc:
        return _tokens_fragment(token_error=exc.message)
    return _tokens_fragment()


# -- tenant switcher -------------------------------------------------------------------------------


@blueprint.post("/switch-tenant")
def switch_tenant():
    """Re-bind the session to another organisation the user is an active
    member of (checked here, in the directory); audited in both."""
    identity = current_identity()
    slug = request.form.get("tenant", "").strip()
    target = identities.identity_for(_instance(), identity.user_id, slug) if slug and identity.user_id else None
    if target is None or slug == identity.tenant_slug:
        raise Forbidden("you are not a member of that organisation")
    actor = current_actor()
    with current_tenant().begin() as conn:
        audit.record(
            conn, actor, "auth.tenant_switched", object="user", record_id=identity.user_id, details={"to": slug}
        )
    with _instance().db.bind(slug).begin() as conn:
        audit.record(
            conn,
            target.as_actor(client_ip(), g.get("request_id")),
            "auth.tenant_switched",
            object="user",
            record_id=identity.user_id,
            details={"from": identity.tenant_slug},
        )
    sign_in_session(target)
    return redirect(url_for("ui.home"))
