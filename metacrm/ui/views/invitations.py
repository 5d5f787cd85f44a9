"""Accepting an invitation (``/invite/<tenant>/<token>``, no sign-in): the
invited user sets their password once, then signs in as usual. An unknown,
used or expired link is a 404 with what to do (:mod:`metacrm.access.invitations`)."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from metacrm.access import invitations
from metacrm.platform.errors import MetacrmError, NotFound
from metacrm.platform.web import public
from metacrm.ui.blueprint import blueprint
from metacrm.ui.setup import field_errors


def _binding(tenant: str):
    try:
        return current_app.extensions["metacrm"].db.bind(tenant)
    except Exception:  # noqa: BLE001 - an unknown organisation is an unknown link
        raise NotFound(
            "this invitation link is unknown, used or expired: ask your administrator for a new one"
        ) from None


@blueprint.route("/invite/<tenant>/<token>", methods=["GET", "POST"])
@public
def accept_invitation(tenant, token):
    """The invited user's form: a new password, twice."""
    binding = _binding(tenant)
    invitation = invitations.pending(binding, token)
    errors: dict[str, list[str]] = {}
    status = 200
    if request.method == "POST":
        try:
            invitations.accept(
                current_app.extensions["metacrm"],
                binding,
                token,
                request.form.get("password", ""),
                request.form.get("confirm", ""),
            )
        except NotFound:
            raise
        except MetacrmError as exc:
            errors = field_errors(exc)
            if "$" in errors and "password" not in errors:
                errors = {"password": errors["$"]}
            status = 422
        else:
            flash(_("Your password is set. Sign in with it."), "success")
            return redirect(url_for("ui.login", tenant=tenant), 303)
    page = render_template("invitation.html", email=invitation["email"], tenant=tenant, token=token, errors=errors)
    return page, status, {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
