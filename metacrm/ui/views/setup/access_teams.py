"""Teams (``/setup/teams``): teams and their members, for the ``team``
record scope, team shares and pool membership. Teams are data, not policy:
a change takes effect at once and is audited (``metacrm.access.sharing``)."""

from __future__ import annotations

from flask import render_template, request, url_for
from flask_babel import gettext as _

from metacrm.access import sharing
from metacrm.platform.errors import MetacrmError, NotFound
from metacrm.platform.web import current_actor, current_tenant
from metacrm.plugins import context
from metacrm.ui.setup import ACCESS, setup_route
from metacrm.ui.views.setup.access_common import done, errors_of, member_choices, status_of, teams
from metacrm.ui.views.setup.access_roles import suggest_name

SECTION = "ui.setup_teams"


def _page(status: int = 200, **extra):
    values = {
        "section": SECTION,
        "teams": teams(),
        "members": member_choices(),
        "form": {"label": "", "api_name": "", "members": []},
        "errors": {},
        "team_errors": {},
        "edited": None,
    }
    values["member_names"] = dict(values["members"])
    values.update(extra)
    return render_template("setup/access/teams.html", **values), status


def _member_ids() -> list[int]:
    return [int(v) for v in request.form.getlist("members") if v.isdigit()]


@setup_route("/setup/teams", ACCESS, methods=["GET"])
def setup_teams():
    """Every team with its members; the form that adds one."""
    return _page()


@setup_route("/setup/teams", ACCESS, methods=["POST"])
def setup_team_create():
    form = {
        "label": request.form.get("label", "").strip(),
        "api_name": request.form.get("api_name", "").strip(),
        "members": _member_ids(),
    }
    if not form["api_name"]:
        form["api_name"] = suggest_name(form["label"])
    try:
        sharing.create_team(context.instance(), current_tenant(), dict(form), current_actor())
    except MetacrmError as exc:
        return _page(status_of(exc), form=form, errors=errors_of(exc))
    return done(_("Team %(label)s created.", label=form["label"]), url_for("ui.setup_teams"))


@setup_route("/setup/teams/<name>", ACCESS, methods=["POST"])
def setup_team_update(name):
    body = {"label": request.form.get("label", "").strip(), "members": _member_ids()}
    try:
        sharing.update_team(context.instance(), current_tenant(), name, body, current_actor())
    except NotFound:
        raise
    except MetacrmError as exc:
        return _page(status_of(exc), edited=name, team_errors=errors_of(exc))
    return done(_("Team saved."), url_for("ui.setup_teams"))


@setup_route("/setup/teams/<name>/delete", ACCESS, methods=["POST"])
def setup_team_delete(name):
    try:
        sharing.delete_team(current_tenant(), name, current_actor())
    except NotFound:
        raise
    except MetacrmError as exc:
        return _page(status_of(exc), edited=name, team_errors={"delete": [exc.message]})
    return done(_("Team deleted."), url_for("ui.setup_teams"))
