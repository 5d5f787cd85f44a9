"""Public pools (``/setup/pools``): records of one object nobody owns, for
their members (roles, teams) to claim within a quota, with a cool-down
after returning one and the reclaim of records nobody followed up. Pools are
policy: each change is one revision (``PolicyChange.put_pool``)."""

from __future__ import annotations

from flask import render_template, request, url_for
from flask_babel import gettext as _

from metacrm.access.changes import is_moment_field
from metacrm.platform.errors import MetacrmError, NotFound
from metacrm.plugins import context
from metacrm.ui.i18n import label_of
from metacrm.ui.setup import ACCESS, setup_route
from metacrm.ui.views.setup.access_common import (
    changes,
    done,
    errors_of,
    object_choices,
    policy,
    role_choices,
    status_of,
    team_choices,
)
from metacrm.ui.views.setup.access_roles import suggest_name

SECTION = "ui.setup_pools"
BLANK = {
    "api_name": "",
    "object": "",
    "label": "",
    "members": {"roles": [], "teams": []},
    "admins": [],
    "claim_quota": 50,
    "cooldown_days": 0,
    "reclaim_days": None,
}


def _follow_up_choices() -> dict[str, list[tuple[str, str]]]:
    """Per object, the fields reclaim may measure "no follow-up" by (date,
    date-time, a roll-up of one); ``updated_at`` is the blank choice."""
    model = context.model()
    state = model.definitions
    return {
        name: [
            (field, label_of(obj.fields[field].definition, "label", field))
            for field in obj.fields
            if is_moment_field(state, name, field)
        ]
        for name, obj in model.objects.items()
    }


def _page(status: int = 200, **extra):
    current = policy()
    objects = object_choices()
    values = {
        "section": SECTION,
        "pools": [pool.to_json() for _name, pool in sorted(current.pools.items())],
        "objects": objects,
        "object_labels": dict(objects),
        "roles": role_choices(current),
        "teams": team_choices(),
        "follow_up_choices": _follow_up_choices(),
        "form": BLANK,
        "errors": {},
        "edited": None,
        "edited_form": None,
        "pool_errors": {},
    }
    values.update(extra)
    return render_template("setup/access/pools.html", **values), status


def _number(name: str):
    text = request.form.get(name, "").strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        return text


def _posted() -> dict:
    return {
        "label": request.form.get("label", "").strip(),
        "members": {"roles": request.form.getlist("members.roles"), "teams": request.form.getlist("members.teams")},
        "admins": request.form.getlist("admins"),
        "claim_quota": _number("claim_quota"),
        "cooldown_days": _number("cooldown_days") or 0,
        "reclaim_days": _number("reclaim_days"),
        # Only an existing pool's form has the choice (its object is known); blank: updated_at.
        **({"follow_up_field": request.form["follow_up_field"] or None} if "follow_up_field" in request.form else {}),
    }


@setup_route("/setup/pools", ACCESS, methods=["GET"])
def setup_pools():
    """Every pool with its settings; the form that adds one."""
    return _page()


@setup_route("/setup/pools", ACCESS, methods=["POST"])
def setup_pool_create():
    doc = {
        "api_name": request.form.get("api_name", "").strip(),
        "object": request.form.get("object", ""),
        **_posted(),
    }
    if not doc["api_name"]:
        doc["api_name"] = suggest_name(doc["label"])
    try:
        with changes().change(f"create pool {doc['api_name']}") as change:
            change.put_pool(dict(doc))
    except MetacrmError as exc:
        return _page(
            status_of(exc), form=doc, errors=errors_of(exc, {"members.roles": "members", "members.teams": "members"})
        )
    return done(_("Pool %(label)s created.", label=doc["label"]), url_for("ui.setup_pools"))


@setup_route("/setup/pools/<name>", ACCESS, methods=["POST"])
def setup_pool_update(name):
    doc = _posted()
    try:
        with changes().change(f"update pool {name}") as change:
            change.put_pool(dict(doc), name=name)
    except NotFound:
        raise
    except MetacrmError as exc:
        found = errors_of(exc, {"members.roles": "members", "members.teams": "members"})
        return _page(status_of(exc), edited=name, edited_form=doc, pool_errors=found)
    return done(_("Pool saved."), url_for("ui.setup_pools"))


@setup_route("/setup/pools/<name>/delete", ACCESS, methods=["POST"])
def setup_pool_delete(name):
    try:
        with changes().change(f"delete pool {name}") as change:
            change.delete_pool(name)
    except NotFound:
        raise
    except MetacrmError as exc:
        return _page(status_of(exc), edited=name, pool_errors={"delete": [exc.message]})
    return done(_("Pool deleted."), url_for("ui.setup_pools"))
