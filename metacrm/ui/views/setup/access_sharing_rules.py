"""Sharing rules (``/setup/sharing-rules``): records of one object owned by
the holders of a role (and the roles below it) or the members of a team —
or matching a rule-language condition — shared with another role or team, at
read or read-write. Rules are policy: each change is one revision
(``PolicyChange.put_sharing_rule``), the same path as
``/api/v1/access/sharing-rules``. The condition is written in the rule
editor and checked as the admin types (use ``record_scope``: a boolean over
the object's own fields, no lookup traversal)."""

from __future__ import annotations

from flask import render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext

from metacrm.access.guard import check_condition
from metacrm.access.policy import RECIPIENT_KINDS
from metacrm.platform.errors import MetacrmError, NotFound
from metacrm.plugins import context
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
from metacrm.ui.views.setup.home import RULE_CHECKERS

SECTION = "ui.setup_sharing_rules"
RECIPIENT_LABELS = {
    "role": lazy_gettext("Role"),
    "role_and_subordinates": lazy_gettext("Role and subordinates"),
    "team": lazy_gettext("Team"),
}
ACCESS_LABELS = {"read": lazy_gettext("Read only"), "edit": lazy_gettext("Read/Write")}
KIND_LABELS = {"owner": lazy_gettext("Based on record owner"), "criteria": lazy_gettext("Based on criteria")}


def _check_record_scope(model, object_name, text, _form):
    check_condition(model, object_name, text)


# The rule editor's live check of a sharing rule's (or a condition scope's) condition.
RULE_CHECKERS.setdefault("record_scope", _check_record_scope)


def _recipient_choices() -> list[tuple[str, str]]:
    """Every role (``role:…``, ``role_and_subordinates:…``) and team (``team:…``), labelled."""
    current = policy()
    roles = role_choices(current)
    out = []
    for kind in RECIPIENT_KINDS:
        if kind == "team":
            out += [(f"team:{name}", _("Team: %(label)s", label=label)) for name, label in team_choices()]
        elif kind == "role":
            out += [(f"role:{name}", _("Role: %(label)s", label=label)) for name, label in roles]
        else:
            out += [
                (f"role_and_subordinates:{name}", _("Role and subordinates: %(label)s", label=label))
                for name, label in roles
            ]
    return out


def _recipient(value: str) -> dict | None:
    kind, _sep, name = value.partition(":")
    return {"kind": kind, "name": name} if kind and name else None


def _recipient_value(recipient: dict | None) -> str:
    return f"{recipient['kind']}:{recipient['name']}" if recipient else ""


def _describe(rule: dict, labels: dict[str, str]) -> dict:
    """The rule as the list shows it: who owns (or which records), who gets them, how."""
    return {
        **rule,
        "owned_by_label": labels.get(_recipient_value(rule.get("owned_by")), ""),
        "share_with_label": labels.get(_recipient_value(rule["share_with"]), rule["share_with"]["name"]),
    }


def _page(template: str, status: int = 200, **extra):
    current = policy()
    objects = object_choices()
    recipients = _recipient_choices()
    labels = dict(recipients)
    values = {
        "section": SECTION,
        "rules": [_describe(r.to_json(), labels) for _n, r in sorted(current.sharing_rules.items())],
        "objects": objects,
        "object_labels": dict(objects),
        "recipients": recipients,
        "access_labels": ACCESS_LABELS,
        "kind_labels": KIND_LABELS,
        "errors": {},
    }
    values.update(extra)
    return render_template(template, **values), status


def _posted(object_name: str) -> dict:
    kind = request.form.get("kind", "owner")
    doc = {
        "object": object_name,
        "label": request.form.get("label", "").strip(),
        "kind": kind,
        "share_with": _recipient(request.form.get("share_with", "")),
        "access": request.form.get("access", ""),
    }
    if kind == "criteria":
        doc["condition"] = request.form.get("condition", "")
    else:
        doc["owned_by"] = _recipient(request.form.get("owned_by", ""))
    return doc


def _form_values(doc: dict) -> dict:
    """The form's values from a rule document (``owned_by``/``share_with`` as ``kind:name``)."""
    return {
        **doc,
        "owned_by": _recipient_value(doc.get("owned_by")),
        "share_with": _recipient_value(doc.get("share_with")),
        "condition": doc.get("condition") or "",
    }


def _errors(exc: MetacrmError) -> dict[str, list[str]]:
    found = errors_of(exc)
    out: dict[str, list[str]] = {}
    for key, messages in found.items():
        out.setdefault(key.split(".")[0], []).extend(messages)
    return out


def _object_or_404(name: str) -> None:
    if context.model().object(name) is None:
        raise NotFound(f"no object {name!r}")


@setup_route("/setup/sharing-rules", ACCESS, methods=["GET"])
def setup_sharing_rules():
    """Every sharing rule; the choice of object for a new one."""
    return _page("setup/access/sharing_rules.html")


@setup_route("/setup/sharing-rules/new", ACCESS, methods=["GET"])
def setup_sharing_rule_new():
    """The form of a new rule on ``?object=``."""
    object_name = request.args.get("object", "")
    _object_or_404(object_name)
    form = {"api_name": "", "object": object_name, "label": "", "kind": "owner", "access": "read"}
    return _page("setup/access/sharing_rule.html", form=_form_values(form), rule=None)


@setup_route("/setup/sharing-rules/new", ACCESS, methods=["POST"])
def setup_sharing_rule_create():
    object_name = request.form.get("object", "")
    _object_or_404(object_name)
    doc = {"api_name": request.form.get("api_name", "").strip(), **_posted(object_name)}
    if not doc["api_name"]:
        doc["api_name"] = suggest_name(doc["label"])
    try:
        with changes().change(f"create sharing rule {doc['api_name']}") as change:
            change.put_sharing_rule(dict(doc))
    except MetacrmError as exc:
        return _page(
            "setup/access/sharing_rule.html", status_of(exc), form=_form_values(doc), rule=None, errors=_errors(exc)
        )
    return done(_("Sharing rule %(label)s created.", label=doc["label"]), url_for("ui.setup_sharing_rules"))


@setup_route("/setup/sharing-rules/<name>", ACCESS, methods=["GET"])
def setup_sharing_rule(name):
    """One rule's form."""
    rule = policy().sharing_rules.get(name)
    if rule is None:
        raise NotFound(f"no sharing rule {name!r}")
    return _page("setup/access/sharing_rule.html", form=_form_values(rule.to_json()), rule=rule.to_json())


@setup_route("/setup/sharing-rules/<name>", ACCESS, methods=["POST"])
def setup_sharing_rule_update(name):
    rule = policy().sharing_rules.get(name)
    if rule is None:
        raise NotFound(f"no sharing rule {name!r}")
    doc = _posted(rule.object)
    try:
        with changes().change(f"update sharing rule {name}") as change:
            change.put_sharing_rule(dict(doc), name=name)
    except MetacrmError as exc:
        form = _form_values({**doc, "api_name": name})
        return _page(
            "setup/access/sharing_rule.html", status_of(exc), form=form, rule=rule.to_json(), errors=_errors(exc)
        )
    return done(_("Sharing rule saved."), url_for("ui.setup_sharing_rules"))


@setup_route("/setup/sharing-rules/<name>/delete", ACCESS, methods=["POST"])
def setup_sharing_rule_delete(name):
    try:
        with changes().change(f"delete sharing rule {name}") as change:
            change.delete_sharing_rule(name)
    except NotFound:
        raise
    except MetacrmError as exc:
        return _page("setup/access/sharing_rules.html", status_of(exc), errors={"$": [exc.message]})
    return done(_("Sharing rule deleted."), url_for("ui.setup_sharing_rules"))
