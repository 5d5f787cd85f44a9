"""Sign-in (with the second step of two-factor authentication), sign-out
and the start page with the user's API tokens."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

from flask import Blueprint, current_app, g, redirect, render_template, request, session, url_for
from flask_htmx import HTMX

from metacrm.platform import audit
from metacrm.platform import identity as identities
from metacrm.platform.errors import NotFound, SecondFactorRequired, TooManyRequests, Unauthenticated
from metacrm.platform.web import (
    allowed_before_two_factor,
    client_ip,
    current_actor,
    current_identity,
    current_tenant,
    public,
    sign_in_session,
    sign_out_session,
)
from metacrm.plugins import context

blueprint = Blueprint("ui", __name__)
htmx = HTMX()
# How long the code step may follow a right password.
SECOND_STEP_SECONDS = 300


def _instance():
    return current_app.extensions["metacrm"]


def _safe_next(target: str | None) -> str:
    """Only same-site relative paths: no open redirects."""
    if not target:
        return url_for("ui.home")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("ui.home")
    return target


@blueprint.route("/login", methods=["GET", "POST"])
@public
def login():
    default_tenant = current_app.config["METACRM"].get("DEFAULT_TENANT", "")
    form = {
        "tenant": request.form.get("tenant", request.args.get("tenant", default_tenant)).strip(),
        "email": request.form.get("email", "").strip(),
    }
    next_url = request.args.get("next", "")
    context = dict(form, next=next_url, error=None, field_errors={})
    status = 200
    if request.method == "POST":
        password = request.form.get("password", "")
        missing = {name: "Required." for name, value in (*form.items(), ("password", password)) if not value}
        if missing:
            context["field_errors"] = missing
            status = 422
        else:
            try:
                identity = identities.authenticate(
                    _instance(),
                    email=form["email"],
                    password=password,
                    tenant=form["tenant"],
                    ip=client_ip(),
                    request_id=g.request_id,
                )
            except SecondFactorRequired as exc:
                return _start_second_step(exc.user_id, form["tenant"], next_url)
            except Unauthenticated as exc:
                context["error"], status = exc.message, 401
            except TooManyRequests as exc:
                context["error"], status = f"{exc.message} (in {exc.retry_after} s).", 429
            else:
                sign_in_session(identity)
                return redirect(_safe_next(next_url))
    return render_template("login.html", **context), status


def _start_second_step(user_id: int, tenant: str, next_url: str):
    """The password was right: remember that (in the signed session cookie,
    with the password's epoch and the time) and ask for the code."""
    identity = identities.identity_for(_instance(), user_id, tenant)
    sign_out_session()
    session["second_step"] = {"uid": user_id, "tenant": tenant, "epoch": identity.session_epoch, "at": time.time()}
    return redirect(url_for("ui.login_code", next=next_url or None))


@blueprint.route("/login/code", methods=["GET", "POST"])
@public
def login_code():
    pending = session.get("second_step")
    next_url = request.args.get("next", "")
    if not pending or time.time() - pending["at"] > SECOND_STEP_SECONDS:
        sign_out_session()
        return redirect(url_for("ui.login", next=next_url or None))
    context, status = {"next": next_url, "error": None}, 200
    if request.method == "POST":
        try:
            identity = identities.authenticate_second_factor(
                _instance(),
                user_id=pending["uid"],
                tenant=pending["tenant"],
                session_epoch=pending["epoch"],
                code=request.form.get("code", ""),
                ip=client_ip(),
                request_id=g.request_id,
            )
        except Unauthenticated as exc:
            context["error"], status = f"{exc.message.capitalize()}.", 401
        except TooManyRequests as exc:
            context["error"], status = f"{exc.message} (in {exc.retry_after} s).", 429
        else:
            sign_in_session(identity)
            return redirect(_safe_next(next_url))
    return render_template("login_code.html", **context), status


@blueprint.post("/logout")
@allowed_before_two_factor
def logout():
    with current_tenant().begin() as conn:
        audit.record(conn, current_actor(), "auth.sign_out")
    sign_out_session()
    return redirect(url_for("ui.login"))


@blueprint.post("/logout/everywhere")
@allowed_before_two_factor
def logout_everywhere():
    """End every session and revoke every API token of the user (audited)."""
    identities.sign_out_everywhere(_instance(), current_identity().user_id, actor=current_actor())
    sign_out_session()
    return redirect(url_for("ui.login"))


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
