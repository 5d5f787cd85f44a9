"""The permission matrix (``/setup/permissions``): for one role, a row per
object (and the role's default for every other object, ``*``) with what it
may create, read, update, delete, export, import and transfer, each record
scope a select (none / own / team / subordinates / all); and, for one
object, the role's access to each field (hidden / read-only / editable).

Saved through the access change path the API uses
(``PolicyChange.put_object_access``): all rows of one save in ONE policy
change (one revision, audited); a row left as it was writes nothing, so an
object that follows the role's default keeps following it."""

from __future__ import annotations

from flask import render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext

from metacrm.access.explain import role_object_access
from metacrm.access.permissions import (
    ACTIONS,
    ADMIN_ROLE,
    FLAG_ACTIONS,
    SCOPED_ACTIONS,
    SCOPES,
    WILDCARD,
    parse_object_access,
)
from metacrm.platform.errors import MetacrmError, NotFound, ValidationFailed
from metacrm.plugins import context
from metacrm.ui.i18n import label_of
from metacrm.ui.setup import ACCESS, setup_route
from metacrm.ui.views.setup.access_common import (
    changes,
    done,
    object_choices,
    policy,
    role_choices,
    role_label_in,
    status_of,
)

SECTION = "ui.setup_permissions"
ACTION_LABELS = {
    "create": lazy_gettext("Create"),
    "read": lazy_gettext("View"),
    "update": lazy_gettext("Edit"),
    "delete": lazy_gettext("Delete"),
    "export": lazy_gettext("Export"),
    "import": lazy_gettext("Import"),
    "transfer": lazy_gettext("Transfer"),
}
SCOPE_LABELS = {
    "none": lazy_gettext("None"),
    "own": lazy_gettext("Own"),
    "team": lazy_gettext("Team"),
    "subordinates": lazy_gettext("Subordinates"),
    "all": lazy_gettext("All"),
    "condition": lazy_gettext("Condition"),
}
FIELD_ACCESS_LABELS = {
    "hidden": lazy_gettext("Hidden"),
    "read": lazy_gettext("Read-only"),
    "edit": lazy_gettext("Editable"),
}


def _chosen_role(current) -> str:
    role = request.values.get("role") or ""
    if role and role not in current.roles:
        raise NotFound(f"no role {role!r}")
    if not role:
        choices = [name for name, _label in role_choices(current) if name != ADMIN_ROLE]
        role = choices[0] if choices else ADMIN_ROLE
    return role


def _row_values(entry: dict) -> dict:
    """An entry as the matrix shows it: scopes by name (``condition`` and its text apart)."""
    row = {}
    for action in ACTIONS:
        value = entry.get(action)
        if action in SCOPED_ACTIONS and isinstance(value, dict):
            row[action] = "condition"
            row[f"{action}.condition"] = value.get("condition", "")
        else:
            row[action] = value if value is not None else (False if action in FLAG_ACTIONS else "none")
    return row


def _rows(current, role: str) -> list[dict]:
    model = context.model()
    rows = []
    for name, label in [(WILDCARD, _("Every other object (default)")), *object_choices()]:
        access = role_object_access(current, role, name)
        rows.append(
            {
                "object": name,
                "label": label,
                "source": access.get("source"),
                "values": _row_values(access),
                "has_fields": name != WILDCARD and model.object(name) is not None,
            }
        )
    return rows


def _field_rows(current, role: str, object_name: str) -> list[dict]:
    obj = context.model().object(object_name)
    if obj is None:
        return []
    stored = current.fields.get((role, object_name), {})
    return [
        {
            "name": name,
            "label": label_of(field.definition, "label", name),
            "required": bool(field.definition.get("required")),
            "access": stored.get(name, "edit"),
        }
        for name, field in obj.fields.items()
    ]


def _page(status: int = 200, *, posted: dict | None = None, errors: dict | None = None, **extra):
    current = policy()
    role = extra.pop("role", None) or _chosen_role(current)
    object_name = extra.pop("object_name", None) or request.values.get("object") or ""
    objects = object_choices()
    if object_name and context.model().object(object_name) is None:
        raise NotFound(f"no object {object_name!r}")
    if not object_name and objects:
        object_name = objects[0][0]
    rows = _rows(current, role)
    if posted:
        for row in rows:
            row["values"].update(posted.get(row["object"], {}))
    values = {
        "section": SECTION,
        "role": role,
        "role_label": role_label_in(current.roles[role]),
        "roles": role_choices(current),
        "rows": rows,
        "actions": ACTIONS,
        "flag_actions": FLAG_ACTIONS,
        "scopes": SCOPES,
        "action_labels": ACTION_LABELS,
        "scope_labels": SCOPE_LABELS,
        "field_access_labels": FIELD_ACCESS_LABELS,
        "fixed": role == ADMIN_ROLE,
        "mine": role in current.closure(context.guard().roles),
        "objects": objects,
        "object_name": object_name,
        "field_rows": _field_rows(current, role, object_name),
        "errors": errors or {},
        "field_errors": {},
    }
    posted_fields = extra.pop("posted_fields", None) or {}
    for field_row in values["field_rows"]:
        field_row["access"] = posted_fields.get(field_row["name"], field_row["access"])
    values.update(extra)
    return render_template("setup/access/permissions.html", **values), status


@setup_route("/setup/permissions", ACCESS, methods=["GET"])
def setup_permissions():
    """The matrix of one role (``?role=``) and its field access for one object (``?object=``)."""
    return _page()


def _posted_row(name: str) -> dict:
    form = request.form
    row: dict = {}
    for action in ACTIONS:
        key = f"{name}.{action}"
        if action in FLAG_ACTIONS:
            row[action] = "1" in form.getlist(key)
        else:
            row[action] = form.get(key, "none")
            if row[action] == "condition":
                row[f"{action}.condition"] = form.get(f"{key}.condition", "")
    return row


def _body(row: dict) -> dict:
    body = {}
    for action in ACTIONS:
        value = row[action]
        if action in SCOPED_ACTIONS and value == "condition":
            value = {"condition": row.get(f"{action}.condition", "")}
        body[action] = value
    return body


def _prefixed(exc: MetacrmError, name: str) -> dict[str, list[str]]:
    details = exc.details if isinstance(exc.details, dict) else {}
    fields = details.get("fields") or {}
    if not fields:
        return {f"{name}.$": [exc.message]}
    return {f"{name}.{key.split('.')[0]}": [str(m) for m in messages] for key, messages in fields.items()}


@setup_route("/setup/permissions", ACCESS, methods=["POST"])
def setup_permissions_save():
    """Save the rows of the role's matrix that changed, in one policy change."""
    current = policy()
    role = _chosen_role(current)
    posted: dict[str, dict] = {}
    changed: dict[str, dict] = {}
    errors: dict[str, list[str]] = {}
    for row in _rows(current, role):
        name = row["object"]
        if f"{name}.read" not in request.form:
            continue  # a row the form did not carry
        values = _posted_row(name)
        posted[name] = values
        if values == {k: row["values"].get(k) for k in values}:
            continue
        body = _body(values)
        try:
            parse_object_access(body, wildcard=name == WILDCARD)
        except ValidationFailed as exc:
            errors.update(_prefixed(exc, name))
            continue
        if name != WILDCARD:
            body["fields"] = dict(current.fields.get((role, name), {}))
        changed[name] = body
    if errors:
        return _page(422, posted=posted, errors=errors, role=role)
    if not changed:
        return done(_("Nothing changed."), url_for("ui.setup_permissions", role=role))
    name = None
    try:
        with changes().change(f"set access of role {role} in the permission matrix") as change:
            for name, body in changed.items():
                change.put_object_access(role, name, body)
    except MetacrmError as exc:
        found = _prefixed(exc, name) if exc.status == 422 else {"$": [exc.message]}
        return _page(status_of(exc), posted=posted, errors=found, role=role)
    return done(
        _("Permissions of %(role)s saved.", role=current.roles[role].label), url_for("ui.setup_permissions", role=role)
    )


@setup_route("/setup/permissions/reset", ACCESS, methods=["POST"])
def setup_permissions_reset():
    """Drop the role's own row for an object: its default (``*``) applies again."""
    current = policy()
    role = _chosen_role(current)
    name = request.form.get("object", "")
    try:
        with changes().change(f"reset access of role {role} to {name}") as change:
            change.delete_object_access(role, name)
    except MetacrmError as exc:
        return _page(status_of(exc), errors={"$": [exc.message]}, role=role)
    return done(_("The object follows the role's default again."), url_for("ui.setup_permissions", role=role))


@setup_route("/setup/permissions/fields", ACCESS, methods=["POST"])
def setup_permissions_fields():
    """Set the role's access to each field of one object (hidden / read-only / editable)."""
    current = policy()
    role = _chosen_role(current)
    object_name = request.form.get("object", "")
    obj = context.model().object(object_name)
    if obj is None:
        raise NotFound(f"no object {object_name!r}")
    wanted = {name: request.form.get(f"fields.{name}", "edit") for name in obj.fields}
    entry = role_object_access(current, role, object_name)
    body = {a: entry.get(a) for a in ACTIONS}
    body["fields"] = {name: access for name, access in wanted.items() if access != "edit"}
    try:
        with changes().change(f"set field access of role {role} on {object_name}") as change:
            change.put_object_access(role, object_name, body)
    except MetacrmError as exc:
        details = exc.details if isinstance(exc.details, dict) else {}
        found = {str(k): [str(m) for m in v] for k, v in (details.get("fields") or {}).items()} or {"$": [exc.message]}
        if not any(k.startswith("fields.") for k in found):
            found = {"fields.$": [exc.message]}
        return _page(status_of(exc), role=role, object_name=object_name, field_errors=found, posted_fields=wanted)
    return done(
        _("Field access of %(role)s saved.", role=current.roles[role].label),
        url_for("ui.setup_permissions", role=role, object=object_name) + "#field-access",
    )
