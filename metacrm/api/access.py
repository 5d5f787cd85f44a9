"""``/api/v1/access``: roles, object and field access, org-wide defaults,
sharing rules, public pools, teams, role assignments, record shares, the permission matrix
and explain.

Every endpoint but ``GET /access/me`` is for holders of the ``manage_access``
permission (the admin role). Nobody changes a role they hold (or inherit), or
their own assignments: that is another administrator's job. Policy changes
(roles, object/field access, org-wide defaults, sharing rules, pools) make a metadata revision,
returned in ``X-Metadata-Revision``; assignments, teams and shares take
effect at once and are audited.
"""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from metacrm.access import sharing
from metacrm.access.changes import AccessChanges
from metacrm.access.explain import explain, matrix, role_json, role_object_access
from metacrm.access.members import member_list, member_roles, role_holders, set_manager, set_member_roles
from metacrm.access.permissions import (
    ACTIONS,
    FLAG_ACTIONS,
    SYSTEM_PERMISSIONS,
    WILDCARD,
    scope_to_json,
)
from metacrm.access.policy import CompiledPolicy, policy_for
from metacrm.api.requests import json_body
from metacrm.platform.errors import BadRequest, Forbidden, NotFound, ValidationFailed
from metacrm.platform.web import current_actor, current_identity, current_tenant
from metacrm.plugins import context

blueprint = Blueprint("api_access", __name__, url_prefix="/api/v1/access")

MANAGE_ACCESS = "manage_access"
OPEN_ENDPOINTS = {"api_access.my_access"}


@blueprint.before_request
def _require_manage_access():
    if request.endpoint not in OPEN_ENDPOINTS:
        context.guard().require_permission(MANAGE_ACCESS)


def _policy() -> CompiledPolicy:
    """The policy as it is now (after a change made in this request, too)."""
    return policy_for(context.instance(), current_tenant())


def _changes() -> AccessChanges:
    guard = context.guard()
    return AccessChanges(context.instance(), current_tenant(), current_actor(), held=guard.roles, policy=guard.policy)


def _with_revision(response, revision: int | None, status: int = 200):
    response.status_code = status
    if revision is not None:
        response.headers["X-Metadata-Revision"] = str(revision)
    return response


def _holders() -> dict[str, list[int]]:
    return role_holders(current_tenant())


def _role_or_404(policy: CompiledPolicy, role: str) -> None:
    if role not in policy.roles:
        raise NotFound(f"no role {role!r}")


# -- roles -----------------------------------------------------------------------------------------


@blueprint.get("/roles")
def list_roles():
    """Every role with its parent, inherited roles, platform permissions and number of holders."""
    policy = _policy()
    holders = _holders()
    return jsonify({"data": [role_json(policy, n, holders=len(holders.get(n, []))) for n in sorted(policy.roles)]})


@blueprint.post("/roles")
def create_role():
    """Create a role: ``{"api_name", "label", "description", "parent_role", "inherits", "permissions"}``.

    Makes a metadata revision (``X-Metadata-Revision``)."""
    body = json_body()
    changes = _changes()
    with changes.change(f"create role {body.get('api_name')}") as change:
        change.create_role(body)
    return _with_revision(
        jsonify(role_json(_policy(), body["api_name"], holders=0, objects=True)), changes.revision, 201
    )


@blueprint.get("/roles/<role>")
def get_role(role):
    """One role with its object entries and the ids of its holders."""
    policy = _policy()
    _role_or_404(policy, role)
    holders = _holders().get(role, [])
    return jsonify({**role_json(policy, role, holders=len(holders), objects=True), "holder_ids": holders})


@blueprint.patch("/roles/<role>")
def update_role(role):
    """Change a role's label, description, parent role, inherited roles or platform permissions.

    Not a role you hold or inherit (403). Makes a metadata revision."""
    body = json_body()
    changes = _changes()
    with changes.change(f"update role {role}") as change:
        change.update_role(role, body)
    return _with_revision(jsonify(role_json(_policy(), role, objects=True)), changes.revision)


@blueprint.delete("/roles/<role>")
def delete_role(role):
    """Delete a role nobody holds, reports to or inherits (409 otherwise)."""
    changes = _changes()
    with changes.change(f"delete role {role}") as change:
        change.delete_role(role)
    return _with_revision(current_app.response_class(), changes.revision, 204)


# -- object and field access of a role ------------------------------------------------------------------


def _object_or_404(name: str) -> None:
    if name != WILDCARD and context.model().object(name) is None:
        raise NotFound(f"no object {name!r}")


@blueprint.get("/roles/<role>/objects/<object_name>")
def get_object_access(role, object_name):
    """What a role may do with an object (``*``: its default), and where that comes from."""
    policy = _policy()
    _role_or_404(policy, role)
    _object_or_404(object_name)
    return jsonify({"role": role, "object": object_name, **role_object_access(policy, role, object_name)})


@blueprint.put("/roles/<role>/objects/<object_name>")
def put_object_access(role, object_name):
    """Set what a role may do with an object (``*``: its default for every object).

    ``{"create": true, "read": "own", "update": "own", "delete": "none",
    "export": false, "import": false, "fields": {"annual_revenue": "hidden"}}``;
    a missing action is not permitted. Makes a metadata revision."""
    body = json_body()
    changes = _changes()
    with changes.change(f"set access of role {role} to {object_name}") as change:
        change.put_object_access(role, object_name, body)
    entry = role_object_access(_policy(), role, object_name)
    return _with_revision(jsonify({"role": role, "object": object_name, **entry}), changes.revision)


@blueprint.delete("/roles/<role>/objects/<object_name>")
def delete_object_access(role, object_name):
    """Drop the role's entry for the object: its ``*`` default applies again."""
    """Drop the role's entry for the object: its ``*`` default applies again."""
    changes = _changes()
    with changes.change(f"reset access of role {role} to {object_name}") as change:
        change.delete_object_access(role, object_name)
    return _with_revision(current_app.response_class(), changes.revision, 204)


# -- org-wide defaults ------------------------------------------------------------------------------------


def _object_settings_json(policy: CompiledPolicy, name: str) -> dict:
    obj = context.model().object(name)
    return {"object": name, "label": obj.label, "org_wide_default": policy.org_wide_default(name)}


@blueprint.get("/objects")
def list_object_settings():
    """The org-wide default of every object."""
    policy = _policy()
    return jsonify({"data": [_object_settings_json(policy, n) for n in sorted(context.model().objects)]})


@blueprint.get("/objects/<object_name>")
def get_object_settings(object_name):
    """The org-wide default of one object."""
    if context.model().object(object_name) is None:
        raise NotFound(f"no object {object_name!r}")
    return jsonify(_object_settings_json(_policy(), object_name))


@blueprint.put("/objects/<object_name>")
def put_object_settings(object_name):
    """Set an object's org-wide default.

    ``{"org_wide_default": "private" | "public_read" | "public_read_write"}``. Makes a metadata revision."""
    body = json_body()
    changes = _changes()
    with changes.change(f"set org-wide default of {object_name}") as change:
        change.set_org_wide_default(object_name, body)
    return _with_revision(jsonify(_object_settings_json(_policy(), object_name)), changes.revision)


# -- public pools ---------------------------------------------------------------------------------------------


def _pool_json(name: str) -> dict:
    pool = _policy().pools.get(name)
    if pool is None:
        raise NotFound(f"no pool {name!r}")
    return pool.to_json()


@blueprint.get("/pools")
def list_pools():
    """Every public pool: object, members (roles, teams), admins, quota, cool-down and reclaim days."""
    return jsonify({"data": [pool.to_json() for _name, pool in sorted(_policy().pools.items())]})


@blueprint.post("/pools")
def create_pool():
    """Create a pool: ``{"api_name", "object", "label", "members": {"roles": [], "teams": []},
    "admins": [], "claim_quota": 50, "cooldown_days": 0, "reclaim_days": null}``.

    Makes a metadata revision."""
    body = json_body()
    changes = _changes()
    with changes.change(f"create pool {body.get('api_name')}") as change:
        change.put_pool(body)
    return _with_revision(jsonify(_pool_json(body["api_name"])), changes.revision, 201)


@blueprint.get("/pools/<pool>")
def get_pool(pool):
    """One pool's settings."""
    return jsonify(_pool_json(pool))


@blueprint.patch("/pools/<pool>")
def update_pool(pool):
    """Change a pool's label, members, admins, quota, cool-down or reclaim days (not its object).

    Makes a metadata revision."""
    body = json_body()
    changes = _changes()
    with changes.change(f"update pool {pool}") as change:
        change.put_pool(body, name=pool)
    return _with_revision(jsonify(_pool_json(pool)), changes.revision)


@blueprint.delete("/pools/<pool>")
def delete_pool(pool):
    """Delete an empty pool (409 while records are in it)."""
    changes = _changes()
    with changes.change(f"delete pool {pool}") as change:
        change.delete_pool(pool)
    return _with_revision(current_app.response_class(), changes.revision, 204)


# -- sharing rules -------------------------------------------------------------------------------------------


def _sharing_rule_json(name: str) -> dict:
    rule = _policy().sharing_rules.get(name)
    if rule is None:
        raise NotFound(f"no sharing rule {name!r}")
    return rule.to_json()


@blueprint.get("/sharing-rules")
def list_sharing_rules():
    """Every sharing rule, optionally of one object (``?object=``)."""
    wanted = request.args.get("object") or None
    rules = [r.to_json() for _n, r in sorted(_policy().sharing_rules.items()) if wanted in (None, r.object)]
    return jsonify({"data": rules})


@blueprint.post("/sharing-rules")
def create_sharing_rule():
    """Create a sharing rule: owner-based ``{"api_name", "object", "label", "kind": "owner",
    "owned_by": {"kind": "role" | "role_and_subordinates" | "team", "name"}, "share_with": {…},
    "access": "read" | "edit"}`` or criteria-based (``"kind": "criteria", "condition": "amount >= 1000"``).

    Records of the object owned by those owners (or matching the condition) are
    shared with the recipients: ``read`` opens reading, ``edit`` reading and
    updating (never deleting). Makes a metadata revision."""
    body = json_body()
    changes = _changes()
    with changes.change(f"create sharing rule {body.get('api_name')}") as change:
        change.put_sharing_rule(body)
    return _with_revision(jsonify(_sharing_rule_json(body["api_name"])), changes.revision, 201)


@blueprint.get("/sharing-rules/<rule>")
def get_sharing_rule(rule):
    """One sharing rule."""
    return jsonify(_sharing_rule_json(rule))


@blueprint.patch("/sharing-rules/<rule>")
def update_sharing_rule(rule):
    """Change a sharing rule's object, label, kind, owners or condition, recipients or access.

    Makes a metadata revision."""
    body = json_body()
    changes = _changes()
    with changes.change(f"update sharing rule {rule}") as change:
        change.put_sharing_rule(body, name=rule)
    return _with_revision(jsonify(_sharing_rule_json(rule)), changes.revision)


@blueprint.delete("/sharing-rules/<rule>")
def delete_sharing_rule(rule):
    """Delete a sharing rule. Makes a metadata revision."""
    changes = _changes()
    with changes.change(f"delete sharing rule {rule}") as change:
        change.delete_sharing_rule(rule)
    return _with_revision(current_app.response_class(), changes.revision, 204)


# -- teams ----------------------------------------------------------------------------------------------------


@blueprint.get("/teams")
def list_teams():
    """Every team with its members' user ids."""
    with current_tenant().connect() as conn:
        return jsonify({"data": sharing.list_teams(conn)})


@blueprint.post("/teams")
def create_team():
    """Create a team: ``{"api_name", "label", "members": [user ids]}``."""
    team = sharing.create_team(context.instance(), current_tenant(), json_body(), current_actor())
    return jsonify(team), 201


@blueprint.get("/teams/<team>")
def get_team(team):
    """One team with its members' user ids."""
    with current_tenant().connect() as conn:
        return jsonify(sharing.get_team(conn, team))


@blueprint.patch("/teams/<team>")
def update_team(team):
    """Change a team's label and/or its whole list of members."""
    return jsonify(sharing.update_team(context.instance(), current_tenant(), team, json_body(), current_actor()))


@blueprint.put("/teams/<team>/members")
def put_team_members(team):
    """Set a team's whole membership: ``{"members": [user ids]}``."""
    body = json_body()
    if set(body) != {"members"}:
        raise ValidationFailed('send {"members": [user ids]}', details={"fields": {"members": ["is required"]}})
    return jsonify(sharing.update_team(context.instance(), current_tenant(), team, body, current_actor()))


@blueprint.delete("/teams/<team>")
def delete_team(team):
    """Delete a team, its memberships and the shares made to it."""
    sharing.delete_team(current_tenant(), team, current_actor())
    return "", 204


# -- users and their roles ------------------------------------------------------------------------------------------


@blueprint.get("/users")
def list_users():
    """Every member of the tenant with their roles, teams and manager (``manager_id``)."""
    return jsonify({"data": member_list(context.instance(), current_tenant())})


def _user_roles_json(user_id: int) -> dict:
    return member_roles(context.instance(), current_tenant(), user_id)


@blueprint.get("/users/<int:user_id>/roles")
def get_user_roles(user_id):
    """The roles a member holds."""
    return jsonify(_user_roles_json(user_id))


@blueprint.put("/users/<int:user_id>/roles")
def put_user_roles(user_id):
    """Set a member's whole set of roles: ``{"roles": ["sales_rep", …]}``.

    Not your own (403); never the tenant's last admin (409). Takes effect on the member's next request."""
    if user_id == current_identity().user_id:
        raise Forbidden("you cannot change your own roles: another administrator must", details={"user_id": user_id})
    body = json_body()
    set_member_roles(
        context.instance(),
        current_tenant(),
        user_id,
        body.get("roles"),
        current_actor(),
        editor=current_identity().user_id,
    )
    return jsonify(_user_roles_json(user_id))


@blueprint.put("/users/<int:user_id>/manager")
def put_user_manager(user_id):
    """Set who a member reports to: ``{"manager_id": <user id> | null}``.

    A member of the tenant, not the user, never a cycle (422 naming ``manager_id``). Audited."""
    body = json_body()
    if not isinstance(body, dict) or set(body) != {"manager_id"}:
        raise ValidationFailed(
            'send {"manager_id": <user id> | null}', details={"fields": {"manager_id": ["is required"]}}
        )
    return jsonify(set_manager(context.instance(), current_tenant(), user_id, body["manager_id"], current_actor()))


# -- record shares ------------------------------------------------------------------------------------------------


@blueprint.get("/shares")
def list_shares():
    """Record shares, optionally of one object (``object``) and record (``record_id``)."""
    record_id = request.args.get("record_id")
    if record_id is not None and not record_id.isdigit():
        raise BadRequest("record_id must be a record id")
    with current_tenant().connect() as conn:
        data = sharing.list_shares(
            conn,
            object_name=request.args.get("object") or None,
            record_id=int(record_id) if record_id is not None else None,
        )
    return jsonify({"data": data})


@blueprint.post("/shares")
def create_share():
    """Share a record with a user or a team (200 if it changed an existing share).

    ``{"object": "account", "record_id": 7, "user_id": 3 | "team": "emea", "access": "read" | "edit"}``."""
    share, created = sharing.create_share(
        context.instance(), current_tenant(), context.model(), json_body(), current_actor()
    )
    return jsonify(share), 201 if created else 200


@blueprint.delete("/shares/<int:share_id>")
def delete_share(share_id):
    """Remove a record share."""
    sharing.delete_share(current_tenant(), share_id, current_actor())
    return "", 204


# -- reading the policy back ----------------------------------------------------------------------------------------


@blueprint.get("/matrix")
def get_matrix():
    """Roles × objects × actions: each role's entry for ``*`` and every live object."""
    return jsonify(matrix(_policy(), context.model()))


@blueprint.get("/explain")
def get_explain():
    """Whether and why a user may do an action on an object or record.

    ``?user=<id or e-mail>&object=<object>&action=<action>[&id=<record id>]``."""
    return jsonify(
        explain(
            context.instance(),
            current_tenant(),
            context.model(),
            _policy(),
            user=request.args.get("user"),
            object_name=request.args.get("object"),
            action=request.args.get("action", "read"),
            record_id=request.args.get("id"),
        )
    )


@blueprint.get("/me")
def my_access():
    """Your roles, platform permissions and what you may do with each object.

    Any signed-in member may ask."""
    guard = context.guard()
    model = context.model()
    objects = {}
    for name, obj in sorted(model.objects.items()):
        actions = {
            a: (
                guard.permits(a, obj) if a in FLAG_ACTIONS else [scope_to_json(x) for x in sorted(guard.scopes(a, obj))]
            )
            for a in ACTIONS
        }
        readable, writable = guard.readable_fields(obj), guard.writable_fields(obj)
        actions["fields"] = {
            "hidden": sorted(set(obj.fields) - readable),
            "read_only": sorted(readable - writable),
        }
        objects[name] = actions
    return jsonify(
        {
            "user_id": guard.user_id,
            "roles": sorted(guard.roles),
            "permissions": {p: guard.may(p) for p in SYSTEM_PERMISSIONS},
            "objects": objects,
        }
    )
