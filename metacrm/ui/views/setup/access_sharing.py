"""Sharing (``/setup/sharing``): each object's org-wide default (private,
everyone reads, everyone reads and edits), a policy change with its
revision; and the record shares — one record opened to a user or a team for
reading or editing (``metacrm.access.sharing``: data, audited)."""

from __future__ import annotations

from flask import render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext

from metacrm.access import sharing
from metacrm.access.permissions import ORG_WIDE_DEFAULTS
from metacrm.platform.errors import MetacrmError, NotFound
from metacrm.platform.web import current_actor, current_tenant
from metacrm.plugins import context
from metacrm.ui.setup import ACCESS, setup_route
from metacrm.ui.views.setup.access_common import (
    changes,
    done,
    errors_of,
    member_choices,
    object_choices,
    policy,
    status_of,
    team_choices,
)

SECTION = "ui.setup_sharing"
DEFAULT_LABELS = {
    "private": lazy_gettext("Private: owners and their roles' scopes"),
    "public_read": lazy_gettext("Everyone may read"),
    "public_read_write": lazy_gettext("Everyone may read and edit"),
}
ACCESS_LABELS = {"read": lazy_gettext("Read"), "edit": lazy_gettext("Read and edit")}


def _page(status: int = 200, **extra):
    current = policy()
    objects = object_choices()
    with current_tenant().connect() as conn:
        shares = sharing.list_shares(conn)
    values = {
        "section": SECTION,
        "objects": objects,
        "object_labels": dict(objects),
        "defaults": {name: current.org_wide_default(name) for name, _label in objects},
        "default_choices": [(v, DEFAULT_LABELS[v]) for v in ORG_WIDE_DEFAULTS],
        "access_choices": list(ACCESS_LABELS.items()),
        "access_labels": ACCESS_LABELS,
        "shares": shares,
        "members": member_choices(),
        "member_names": dict(member_choices()),
        "teams": team_choices(),
        "team_names": dict(team_choices()),
        "default_errors": {},
        "form": {"object": "", "record_id": "", "recipient": "", "access": "read"},
        "errors": {},
    }
    values.update(extra)
    return render_template("setup/access/sharing.html", **values), status


@setup_route("/setup/sharing", ACCESS, methods=["GET"])
def setup_sharing():
    """Org-wide defaults and record shares."""
    return _page()


@setup_route("/setup/sharing/defaults", ACCESS, methods=["POST"])
def setup_sharing_defaults():
    """Save the org-wide defaults that changed, in one policy change."""
    current = policy()
    posted = {name: request.form.get(f"owd.{name}") for name, _label in object_choices()}
    changed = {k: v for k, v in posted.items() if v is not None and v != current.org_wide_default(k)}
    name = None
    try:
        if changed:
            with changes().change("set org-wide defaults") as change:
                for name, value in changed.items():
                    change.set_org_wide_default(name, {"org_wide_default": value})
    except MetacrmError as exc:
        return _page(status_of(exc), defaults={**posted}, default_errors={f"owd.{name}": [exc.message]})
    return done(_("Org-wide defaults saved."), url_for("ui.setup_sharing"))


@setup_route("/setup/sharing/shares", ACCESS, methods=["POST"])
def setup_share_create():
    """Share one record with a user (``user:<id>``) or a team (``team:<name>``)."""
    form = {k: request.form.get(k, "").strip() for k in ("object", "record_id", "recipient", "access")}
    body: dict = {"object": form["object"], "access": form["access"]}
    body["record_id"] = int(form["record_id"]) if form["record_id"].isdigit() else form["record_id"]
    kind, _sep, who = form["recipient"].partition(":")
    if kind == "user" and who.isdigit():
        body["user_id"] = int(who)
    elif kind == "team" and who:
        body["team"] = who
    try:
        sharing.create_share(context.instance(), current_tenant(), context.model(), body, current_actor())
    except MetacrmError as exc:
        return _page(status_of(exc), form=form, errors=errors_of(exc, {"user_id": "recipient", "team": "recipient"}))
    return done(_("Record shared."), url_for("ui.setup_sharing"))


@setup_route("/setup/sharing/shares/<int:id>/delete", ACCESS, methods=["POST"])
def setup_share_delete(id):
    try:
        sharing.delete_share(current_tenant(), id, current_actor())
    except NotFound:
        raise
    return done(_("Share removed."), url_for("ui.setup_sharing"))
