"""Sign-in (with the second step of two-factor authentication) and sign-out."""

from __future__ import annotations

import hmac
import time
from urllib.parse import urlsplit

from flask import current_app, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from metacrm.platform import audit, oidc
from metacrm.platform import identity as identities
from metacrm.platform.errors import BadRequest, NotFound, SecondFactorRequired, TooManyRequests, Unauthenticated
from metacrm.platform.settings import tenant_settings_of
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
from metacrm.ui.blueprint import blueprint

# How long the code step may follow a right password, and the identity
# provider's callback the redirect to it.
SECOND_STEP_SECONDS = 300
SSO_SECONDS = 600


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
        missing = {name: _("Required.") for name, value in (*form.items(), ("password", password)) if not value}
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
            except Unauthenticated:
                context["error"], status = _("Wrong e-mail address, password or organisation."), 401
            except TooManyRequests as exc:
                context["error"], status = _too_many(exc), 429
            else:
                sign_in_session(identity)
                return redirect(_safe_next(next_url))
    return render_template("login.html", **context), status


def _start_second_step(user_id: int, tenant: str, next_url: str, first_factor: str = "password"):
    """The first factor was right: remember that (in the signed session
    cookie, with the password's epoch and the time) and ask for the code."""
    identity = identities.identity_for(_instance(), user_id, tenant)
    sign_out_session()
    session["second_step"] = {
        "uid": user_id,
        "tenant": tenant,
        "epoch": identity.session_epoch,
        "at": time.time(),
        "first": first_factor,
    }
    return redirect(url_for("ui.login_code", next=next_url or None))


def _sso_provider(tenant: str) -> oidc.Provider | None:
    try:
        binding = _instance().db.bind(tenant)
    except (BadRequest, NotFound):
        return None
    return oidc.Provider.from_settings(tenant_settings_of(_instance(), binding.tenant_id))


@blueprint.get("/login/sso")
@public
def login_sso():
    """Send the browser to the tenant's identity provider."""
    tenant = request.args.get("tenant", "").strip()
    next_url = request.args.get("next", "")
    provider = _sso_provider(tenant)
    context = {"tenant": tenant, "email": "", "next": next_url, "field_errors": {}}
    if provider is None:
        error = _("This organisation has no single sign-on; sign in with your password.")
        return render_template("login.html", error=error, **context), 404
    try:
        auth = oidc.authorization_url(
            provider, url_for("ui.login_sso_callback", _external=True), config=_instance().config
        )
    except oidc.ProviderRefused as exc:
        return render_template("login.html", error=_sso_refused(exc), **context), 502
    sign_out_session()
    session["sso"] = {"tenant": tenant, "state": auth.state, "nonce": auth.nonce, "next": next_url, "at": time.time()}
    return redirect(auth.url)


@blueprint.get("/login/sso/callback")
@public
def login_sso_callback():
    """The identity provider sends the browser back here with a code."""
    pending = session.pop("sso", None)
    state = request.args.get("state", "")
    if not pending or time.time() - pending["at"] > SSO_SECONDS or not hmac.compare_digest(pending["state"], state):
        return redirect(url_for("ui.login"))
    context = {"tenant": pending["tenant"], "email": "", "next": pending["next"], "field_errors": {}}
    provider = _sso_provider(pending["tenant"])
    try:
        if provider is None or "code" not in request.args:
            raise oidc.ProviderRefused(f"the identity provider refused: {request.args.get('error', 'no code')}")
        email = oidc.verified_email(
            provider,
            code=request.args["code"],
            redirect_uri=url_for("ui.login_sso_callback", _external=True),
            nonce=pending["nonce"],
            config=_instance().config,
        )
    except oidc.ProviderRefused as exc:
        identities.record_failed_sign_in(
            _instance(),
            tenant=pending["tenant"],
            email="",
            ip=client_ip(),
            request_id=g.request_id,
            reason="sso_failed",
        )
        return render_template("login.html", error=_sso_refused(exc), **context), 401
    try:
        identity = identities.authenticate_external(
            _instance(), email=email, tenant=pending["tenant"], method="oidc", ip=client_ip(), request_id=g.request_id
        )
    except SecondFactorRequired as exc:
        return _start_second_step(exc.user_id, pending["tenant"], pending["next"], first_factor="oidc")
    except Unauthenticated:
        error = _("%(email)s is not a member of this organisation.", email=email)
        return render_template("login.html", error=error, **context), 401
    except TooManyRequests as exc:
        return render_template("login.html", error=_too_many(exc), **context), 429
    sign_in_session(identity)
    return redirect(_safe_next(pending["next"]))


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
                first_factor=pending.get("first", "password"),
                ip=client_ip(),
                request_id=g.request_id,
            )
        except Unauthenticated:
            context["error"], status = _("Wrong code."), 401
        except TooManyRequests as exc:
            context["error"], status = _too_many(exc), 429
        else:
            sign_in_session(identity)
            return redirect(_safe_next(next_url))
    return render_template("login_code.html", **context), status


def _too_many(exc: TooManyRequests) -> str:
    return _("Too many failed sign-in attempts; try again in %(seconds)d s.", seconds=exc.retry_after)


def _sso_refused(exc) -> str:
    """The identity provider's refusal (its own words, which the catalog cannot know)."""
    return _("Single sign-on failed: %(reason)s.", reason=exc.message)


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
