"""Roles (``/setup/roles``): the role hierarchy as an indented tree (who
reports to whom, which widens what managers see), creating a role, changing
its label, description, manager role and setup rights, and deleting a role
nobody uses. Every change is a policy change: one revision, audited."""

from __future__ import annotations

import re

from flask import render_template, request, url_for
from flask_babel import gettext as _

from metacrm.access.members import role_holders
from metacrm.access.permissions import ADMIN_ROLE, SYSTEM_PERMISSIONS
from metacrm.platform.errors import MetacrmError, NotFound
from metacrm.platform.web import current_tenant
from metacrm.plugins import context
from metacrm.ui.formatting import role_label
from metacrm.ui.setup import ACCESS, setup_route
from metacrm.ui.views.setup.access_common import changes, done, errors_of, policy, status_of

SECOND_LANGUAGE = "zh_CN"  # the language whose role label the screens edit beside the default one
SECTION = "ui.setup_roles"


def role_tree(current) -> list[tuple[int, object]]:
    """(depth, role) in hierarchy order: each role under the role it reports to, by label."""
    children: dict[str | None, list] = {}
    for role in current.roles.values():
        parent = role.parent_role if role.parent_role in current.roles else None
        children.setdefault(parent, []).append(role)
    out: list[tuple[int, object]] = []

    def walk(parent, depth):
        for role in sorted(children.get(parent, []), key=lambda r: r.label.lower()):
            out.append((depth, role))
            walk(role.api_name, depth + 1)

    walk(None, 0)
    return out


def suggest_name(label: str) -> str:
    name = re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")
    return name if name[:1].isalpha() else ""


def _permissions(current, name: str) -> dict[str, bool]:
    system = current.entries.get((name, "$system"), {})
    return {p: system.get(p) == "all" for p in SYSTEM_PERMISSIONS}


def _page(status: int = 200, **extra):
    current = policy()
    holders = role_holders(current_tenant())
    values = {
        "section": SECTION,
        "tree": role_tree(current),
        "holders": {name: len(ids) for name, ids in holders.items()},
        "permissions": {name: _permissions(current, name) for name in current.roles},
        "parents": sorted(((n, role_label(n)) for n in current.roles), key=lambda r: r[1].lower()),
        "form": {"label": "", "api_name": "", "description": "", "parent_role": ""},
        "errors": {},
    }
    values.update(extra)
    return render_template("setup/access/roles.html", **values), status


@setup_route("/setup/roles", ACCESS, methods=["GET"])
def setup_roles():
    """The role hierarchy, and the form that adds a role."""
    return _page()


def _document(form: dict) -> dict:
    doc = {
        "label": form["label"],
        "description": form["description"],
        "parent_role": form["parent_role"] or None,
        # The label in the second language (empty: none; the label shows instead).
        "translations": {SECOND_LANGUAGE: request.form.get(f"translations.{SECOND_LANGUAGE}", "").strip()},
    }
    doc["permissions"] = {p: "1" in request.form.getlist(f"permissions.{p}") for p in SYSTEM_PERMISSIONS}
    return doc


@setup_route("/setup/roles", ACCESS, methods=["POST"])
def setup_role_create():
    form = {k: request.form.get(k, "").strip() for k in ("label", "api_name", "description", "parent_role")}
    form[f"translations.{SECOND_LANGUAGE}"] = request.form.get(f"translations.{SECOND_LANGUAGE}", "").strip()
    if not form["api_name"]:
        form["api_name"] = suggest_name(form["label"])
    try:
        with changes().change(f"create role {form['api_name']}") as change:
            change.create_role({"api_name": form["api_name"], **_document(form)})
    except MetacrmError as exc:
        return _page(status_of(exc), form=form, errors=errors_of(exc))
    return done(_("Role %(label)s created.", label=form["label"]), url_for("ui.setup_role", name=form["api_name"]))


def _role_page(name: str, status: int = 200, **extra):
    current = policy()
    role = current.roles.get(name)
    if role is None:
        raise NotFound(f"no role {name!r}")
    held = context.guard().roles
    values = {
        "section": SECTION,
        "role": role,
        "form": {
            "label": role.label,
            f"translations.{SECOND_LANGUAGE}": role.translations.get(SECOND_LANGUAGE, ""),
            "description": role.description,
            "parent_role": role.parent_role or "",
            "permissions": _permissions(current, name),
        },
        "parents": sorted(((n, role_label(n)) for n in current.roles if n != name), key=lambda r: r[1].lower()),
        "holders": len(role_holders(current_tenant()).get(name, [])),
        "reports": sorted(role_label(r.api_name) for r in current.roles.values() if r.parent_role == name),
        "is_admin_role": name == ADMIN_ROLE,
        "is_mine": name in current.closure(held),
        "errors": {},
    }
    values.update(extra)
    return render_template("setup/access/role.html", **values), status


@setup_route("/setup/roles/<name>", ACCESS, methods=["GET"])
def setup_role(name):
    """One role: its label, description, manager role and setup rights."""
    return _role_page(name)


@setup_route("/setup/roles/<name>", ACCESS, methods=["POST"])
def setup_role_update(name):
    form = {k: request.form.get(k, "").strip() for k in ("label", "description", "parent_role")}
    doc = _document(form)
    form[f"translations.{SECOND_LANGUAGE}"] = doc["translations"][SECOND_LANGUAGE]
    if name == ADMIN_ROLE:
        doc.pop("permissions")
    form["permissions"] = doc.get("permissions", {})
    try:
        with changes().change(f"update role {name}") as change:
            change.update_role(name, doc)
    except NotFound:
        raise
    except MetacrmError as exc:
        return _role_page(name, status_of(exc), form=form, errors=errors_of(exc))
    return done(_("Role saved."), url_for("ui.setup_role", name=name))


@setup_route("/setup/roles/<name>/delete", ACCESS, methods=["POST"])
def setup_role_delete(name):
    """Delete a role nobody holds, reports to, inherits or names in a pool."""
    try:
        with changes().change(f"delete role {name}") as change:
            change.delete_role(name)
    except NotFound:
        raise
    except MetacrmError as exc:
        return _role_page(name, status_of(exc), errors={"delete": [exc.message]})
    return done(_("Role deleted."), url_for("ui.setup_roles"))
