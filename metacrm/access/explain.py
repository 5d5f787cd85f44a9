"""Reading the policy back: the permission matrix and "why may (or may not)
this user do this?".

``explain`` evaluates every reason separately in SQL — each role scope, the
org-wide default, the shares, the sharing rules — against the one record, so its answer is the
same clause the guard gives the record store, taken apart. Nothing here writes.
"""

from __future__ import annotations

import sqlalchemy as sa

from metacrm.access.guard import PolicyGuard
from metacrm.access.members import effective_roles, resolve_member, teams_of
from metacrm.access.permissions import (
    ACTIONS,
    CONDITION,
    FLAG_ACTIONS,
    SCOPED_ACTIONS,
    SYSTEM_OBJECT,
    SYSTEM_PERMISSIONS,
    WILDCARD,
    condition_text,
    entry_to_json,
    scope_to_json,
)
from metacrm.access.policy import CompiledPolicy
from metacrm.access.scopes import SHARE_OPENS, my_teams
from metacrm.access.tables import pool_records, record_shares
from metacrm.metadata.physical import CompiledModel
from metacrm.platform.database import TenantBinding
from metacrm.platform.errors import BadRequest, NotFound, ValidationFailed
from metacrm.platform.instance import Instance


def role_object_access(policy: CompiledPolicy, role: str, obj: str) -> dict:
    """The role's own entry for ``obj`` (its ``*`` default if it has none for
    the object), where it comes from, its field access, and — when the role
    inherits others — what it permits in effect."""
    entry, source = policy.entry(role, obj)
    item = entry_to_json(entry or {})
    item["source"] = source
    if obj != WILDCARD:
        item["fields"] = dict(sorted(policy.fields.get((role, obj), {}).items()))
    if len(policy.subjects.get(role, (role,))) > 1:
        held = frozenset({role})
        item["effective"] = {
            a: (
                bool(policy.scopes(held, obj, a))
                if a in FLAG_ACTIONS
                else [scope_to_json(x) for x in sorted(policy.scopes(held, obj, a))]
            )
            for a in ACTIONS
        }
    return item


def role_json(policy: CompiledPolicy, name: str, *, holders: int | None = None, objects: bool = False) -> dict:
    role = policy.roles[name]
    system = policy.entries.get((name, SYSTEM_OBJECT), {})
    out = {
        "api_name": name,
        "label": role.label,
        "description": role.description,
        "parent_role": role.parent_role,
        "inherits": list(role.inherits),
        "permissions": {p: system.get(p) == "all" for p in SYSTEM_PERMISSIONS},
    }
    if role.translations:
        out["translations"] = dict(sorted(role.translations.items()))
    if holders is not None:
        out["holders"] = holders
    if objects:
        out["objects"] = {
            obj: role_object_access(policy, name, obj)
            for (subject, obj) in sorted(policy.entries)
            if subject == name and obj != SYSTEM_OBJECT
        }
    return out


def matrix(policy: CompiledPolicy, model: CompiledModel) -> dict:
    """Roles × objects × actions: each role's entry for every live object
    (and its ``*`` default), with where it comes from."""
    objects = [WILDCARD, *sorted(model.objects)]
    return {
        "revision": policy.revision,
        "actions": list(ACTIONS),
        "objects": objects,
        "roles": [role_json(policy, name) for name in sorted(policy.roles)],
        "matrix": {
            name: {obj: role_object_access(policy, name, obj) for obj in objects} for name in sorted(policy.roles)
        },
    }


def explain(
    instance: Instance,
    binding: TenantBinding,
    model: CompiledModel,
    policy: CompiledPolicy,
    *,
    user: str | None,
    object_name: str | None,
    action: str = "read",
    record_id: str | None = None,
) -> dict:
    """Whether ``user`` may do ``action`` on ``object_name`` (and on record
    ``record_id``), and every reason why or why not."""
    errors: dict[str, list[str]] = {}
    if not user:
        errors["user"] = ["name a user by id or e-mail"]
    if action not in ACTIONS:
        errors["action"] = [f"one of {', '.join(ACTIONS)}"]
    obj = model.object(object_name) if object_name else None
    if obj is None:
        errors["object"] = [f"no object {object_name!r}"]
    if errors:
        raise ValidationFailed("cannot explain: " + "; ".join(errors), details={"fields": errors})
    member = resolve_member(instance, binding, user)
    held, provisioned = effective_roles(instance, binding, member)
    guard = PolicyGuard(
        policy, member["id"], held, model=model, binding=binding, email=member["email"], role=member["role"]
    )

    roles = []
    for name in sorted(held):
        for subject in policy.subjects.get(name, (name,)):
            entry, source = policy.entry(subject, obj.api_name)
            scope = (entry or {}).get(action, "none")
            rule = None
            stored = CONDITION if condition_text(scope) is not None else scope
            if entry is not None:
                rule = [subject, binding.slug, obj.api_name if source == "object" else WILDCARD, action, stored]
            roles.append(
                {
                    "role": name,
                    "via": None if subject == name else subject,
                    "entry": source,
                    "policy": rule,
                    "grants": scope != "none",
                    "scope": scope_to_json(scope) if action in SCOPED_ACTIONS else None,
                }
            )
    permitted = guard.permits(action, obj)
    readable, writable = guard.readable_fields(obj), guard.writable_fields(obj)
    with binding.connect() as conn:
        teams = teams_of(conn, member["id"])
    result = {
        "user": {"id": member["id"], "email": member["email"], "roles": sorted(held), "teams": teams},
        "roles_from_membership": not provisioned,
        "object": obj.api_name,
        "action": action,
        "permitted": permitted,
        "roles": roles,
        "org_wide_default": policy.org_wide_default(obj.api_name),
        "fields": {
            "hidden": sorted(set(obj.fields) - readable),
            "read_only": sorted(readable - writable),
            # Formulas and roll-ups hidden because of what they read (derived visibility).
            "derived_hidden": dict(sorted(guard.derived_hidden(obj).items())),
        },
        "allowed": permitted,
    }
    broken = [
        {"condition": g.value, "error": g.error} for g in (guard.grants(action, obj) if permitted else []) if g.error
    ]
    if broken:
        # A condition that no longer compiles grants nothing (fails closed).
        result["broken_conditions"] = broken
    if not permitted:
        result["reason"] = (
            f"no role of {member['email']} permits {action} on {obj.api_name}"
            if held
            else f"{member['email']} holds no role"
        )
    if record_id is None or action in FLAG_ACTIONS:
        return result
    try:
        rid = int(record_id)
    except ValueError:
        raise BadRequest(f"{record_id!r} is not a record id") from None
    table = obj.table
    with binding.connect() as conn:
        row = conn.execute(sa.select(table.c.id, table.c.owner_id, table.c.deleted_at).where(table.c.id == rid)).first()
        if row is None:
            raise NotFound(f"no {obj.api_name} {rid}")
        reasons = []
        for grant in guard.grants(action, obj):
            if grant.clause is None:
                matches = True
            else:
                matches = conn.execute(sa.select(table.c.id).where(table.c.id == rid, grant.clause)).first() is not None
            reason = {"kind": grant.kind, "value": grant.value, "matches": matches}
            if grant.error:
                reason["error"] = grant.error
            if grant.kind == "pool":
                in_pool = conn.execute(
                    sa.select(pool_records.c.pool).where(
                        pool_records.c.object == obj.api_name, pool_records.c.record_id == rid
                    )
                ).scalar()
                reason["record_pool"] = in_pool
            if grant.kind == "sharing_rule":
                rule = policy.sharing_rules.get(grant.value)
                if rule is not None:
                    reason["rule"] = rule.to_json()
            if grant.kind == "share" and matches:
                reason["shares"] = [
                    {"id": s.id, "user_id": s.user_id, "team": s.team, "access": s.access}
                    for s in conn.execute(
                        sa.select(record_shares).where(
                            record_shares.c.object == obj.api_name,
                            record_shares.c.record_id == rid,
                            record_shares.c.access.in_(SHARE_OPENS[action]),
                            sa.or_(
                                record_shares.c.user_id == member["id"],
                                record_shares.c.team.in_(my_teams(member["id"])),
                            ),
                        )
                    )
                ]
            reasons.append(reason)
    in_scope = any(r["matches"] for r in reasons)
    result["record"] = {
        "id": rid,
        "owner_id": row.owner_id,
        "deleted": row.deleted_at is not None,
        "in_scope": in_scope,
        "reasons": reasons,
    }
    result["allowed"] = permitted and in_scope and row.deleted_at is None
    if permitted and not in_scope:
        result["reason"] = f"{obj.api_name} {rid} is outside every scope that opens {action} for this user"
    elif row.deleted_at is not None:
        result["reason"] = f"{obj.api_name} {rid} is in the recycle bin"
    return result
