""" "Why can this user see this record?" (``/setup/explain``): pick a user, an
object, an action and (optionally) a record, and read the explain service's
answer (``metacrm.access.explain``, the same as ``GET /api/v1/access/explain``)
as steps: the user's roles and what each grants, the org-wide default, the
shares and pools, whether the record is in scope, and the fields hidden or
read-only for them."""

from __future__ import annotations

from flask import render_template, request
from flask_babel import lazy_gettext

from metacrm.access.explain import explain
from metacrm.access.permissions import ACTIONS
from metacrm.platform.errors import MetacrmError
from metacrm.platform.web import current_tenant
from metacrm.plugins import context
from metacrm.ui.setup import ACCESS, setup_route
from metacrm.ui.views.setup.access_common import errors_of, member_choices, object_choices, policy, role_choices
from metacrm.ui.views.setup.access_permissions import ACTION_LABELS, SCOPE_LABELS
from metacrm.ui.views.setup.access_sharing import DEFAULT_LABELS

SECTION = "ui.setup_explain"
KIND_LABELS = {
    "scope": lazy_gettext("Role scope"),
    "condition": lazy_gettext("Role condition"),
    "org_wide_default": lazy_gettext("Org-wide default"),
    "share": lazy_gettext("Record share"),
    "sharing_rule": lazy_gettext("Sharing rule"),
    "pool": lazy_gettext("Public pool"),
}


@setup_route("/setup/explain", ACCESS, methods=["GET"])
def setup_explain():
    """The form, and the answer once a user and an object are chosen."""
    form = {k: request.args.get(k, "").strip() for k in ("user", "object", "action", "id")}
    form["action"] = form["action"] or "read"
    answer, errors, status = None, {}, 200
    record_label = None
    if form["user"] and form["object"]:
        try:
            answer = explain(
                context.instance(),
                current_tenant(),
                context.model(),
                policy(),
                user=form["user"],
                object_name=form["object"],
                action=form["action"],
                record_id=form["id"] or None,
            )
        except MetacrmError as exc:
            errors = errors_of(exc, {"record_id": "id"})
            if set(errors) == {"$"} and form["id"]:
                errors = {"id": errors["$"]}
            status = 422
    if answer and answer.get("record") and form["object"]:
        record_label = f"#{form['id']}"
    return render_template(
        "setup/access/explain.html",
        section=SECTION,
        form=form,
        answer=answer,
        errors=errors,
        members=member_choices(),
        objects=object_choices(),
        object_labels=dict(object_choices()),
        role_labels=dict(role_choices()),
        actions=[(a, ACTION_LABELS[a]) for a in ACTIONS],
        scope_labels=SCOPE_LABELS,
        kind_labels=KIND_LABELS,
        default_labels=DEFAULT_LABELS,
        record_label=record_label,
    ), status
