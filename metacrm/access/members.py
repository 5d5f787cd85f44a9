"""Who holds which role in a tenant.

The tenant's ``user_roles`` table is the one source of truth. It is read per
request (one indexed query), so assigning or revoking a role takes effect on
the user's next request on every worker, and it moves no metadata revision.

Users are created in the platform namespace, with a *membership* that may
carry ``is_admin`` and a role name (``metacrm user create --role R``). The
first time the access layer meets a member it **provisions** them: the
membership's roles (``is_admin`` → ``admin``; ``role`` → that role, if the
tenant has it) become rows of ``user_roles`` and an ``access_members`` row
records that the tenant now manages the user's roles. From then on the
membership is only a mirror, kept in step by :func:`assign_roles`.
:func:`provision_member` does the same eagerly (call it right after creating
a user, so that records owned by someone who never signed in are already in
their manager's ``subordinates`` scope).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.engine import Connection

from metacrm.access.permissions import ADMIN_ROLE
from metacrm.access.tables import access_members, member_managers, roles, team_members, user_roles
from metacrm.metadata.tables import meta_head
from metacrm.platform import audit
from metacrm.platform.clock import utcnow
from metacrm.platform.database import TenantBinding
from metacrm.platform.errors import Conflict, Forbidden, NotFound, ValidationFailed
from metacrm.platform.identity import list_users
from metacrm.platform.instance import Instance
from metacrm.platform.tables import memberships

log = logging.getLogger("metacrm.access")


def membership_roles(is_admin: bool, role: str | None) -> list[str]:
    """The roles a platform membership stands for."""
    held = [ADMIN_ROLE] if is_admin else []
    if role and role not in held:
        held.append(role)
    return held


@functools.cache
def _statements() -> dict[str, sa.Select]:
    """Built once with bound parameters (a request reuses them and their
    compiled form)."""
    user_id = sa.bindparam("user_id", type_=sa.Integer)
    members_roles = access_members.outerjoin(user_roles, user_roles.c.user_id == access_members.c.user_id)
    return {
        "roles": sa.select(access_members.c.user_id, user_roles.c.role)
        .select_from(members_roles)
        .where(access_members.c.user_id == user_id),
        # The head revision with the member's roles: one row per role, one
        # row of NULLs beside the revision for a user not provisioned yet.
        "head_and_roles": sa.select(meta_head.c.revision, access_members.c.user_id, user_roles.c.role)
        .select_from(
            meta_head.outerjoin(access_members, access_members.c.user_id == user_id).outerjoin(
                user_roles, user_roles.c.user_id == access_members.c.user_id
            )
        )
        .where(meta_head.c.id == 1),
    }


def stored_roles(conn: Connection, user_id: int) -> tuple[bool, frozenset[str]]:
    """(provisioned?, roles) of one user, in one query."""
    rows = conn.execute(_statements()["roles"], {"user_id": user_id}).all()
    return bool(rows), frozenset(r.role for r in rows if r.role is not None)


@dataclass(frozen=True)
class RequestSnapshot:
    """What a request reads from its tenant before its work: the metadata
    head revision and the caller's stored roles (``provisioned`` False: not
    provisioned yet, ``roles`` then empty)."""

    revision: int
    provisioned: bool
    roles: frozenset[str]


def tenant_reads(user_id: sa.ColumnElement) -> dict[str, sa.ColumnElement]:
    """The head revision and the roles of ``user_id`` as columns the token
    check reads in its own statement on PostgreSQL (``identity.TenantReads``);
    :func:`snapshot_from` turns the values into a :class:`RequestSnapshot`."""
    return {
        "head_revision": sa.select(meta_head.c.revision).where(meta_head.c.id == 1).scalar_subquery(),
        "member_provisioned": sa.exists().where(access_members.c.user_id == user_id),
        # Sorted: a deferred token check compares them with the last ones (platform.identity).
        "member_roles": sa.select(sa.func.array_agg(aggregate_order_by(user_roles.c.role, user_roles.c.role)))
        .where(user_roles.c.user_id == user_id)
        .scalar_subquery(),
    }


def snapshot_from(values: dict) -> RequestSnapshot:
    return RequestSnapshot(
        values["head_revision"], bool(values["member_provisioned"]), frozenset(values["member_roles"] or ())
    )


def head_and_roles(binding: TenantBinding, user_id: int) -> RequestSnapshot:
    """The head revision and ``user_id``'s roles in ONE round trip (issue 16,
    item 2): a request passes the revision to ``model_for`` and the roles to
    ``PolicyGuard.for_identity`` instead of reading each on its own."""
    with binding.connect() as conn:
        rows = conn.execute(_statements()["head_and_roles"], {"user_id": user_id}).all()
    provisioned = rows[0].user_id is not None
    return RequestSnapshot(rows[0].revision, provisioned, frozenset(r.role for r in rows if r.role is not None))


def _unknown_roles(conn: Connection, wanted: Iterable[str], *, raise_for: str | None = None) -> list[str]:
    known = set(conn.execute(sa.select(roles.c.api_name)).scalars())
    unknown = [r for r in wanted if r not in known]
    if unknown and raise_for:
        raise ValidationFailed(
            f"no role {', '.join(unknown)} in this tenant (roles: {', '.join(sorted(known))})",
            details={"fields": {raise_for: [f"unknown role {r!r}" for r in unknown]}},
        )
    return unknown


def check_roles(binding: TenantBinding, wanted: Iterable[str]) -> None:
    """ValidationFailed unless the tenant has every role in ``wanted`` (call
    it before creating a user with ``--role``)."""
    with binding.connect() as conn:
        _unknown_roles(conn, [r for r in wanted if r], raise_for="role")


def _provision(conn: Connection, user_id: int, wanted: Iterable[str], actor: audit.Actor, *, strict: bool) -> set:
    wanted = list(dict.fromkeys(wanted))
    unknown = _unknown_roles(conn, wanted, raise_for="role" if strict else None)
    held = {r for r in wanted if r not in unknown}
    conn.execute(access_members.insert().values(user_id=user_id, provisioned_at=utcnow()))
    if held:
        conn.execute(user_roles.insert(), [{"user_id": user_id, "role": r} for r in sorted(held)])
    audit.record(
        conn,
        actor,
        "access.member_provisioned",
        object="user",
        record_id=user_id,
        details={"roles": sorted(held), "unknown_roles": unknown or None},
    )
    if unknown:
        log.warning("membership of user %s names unknown role(s) %s; ignored", user_id, unknown)
    return held


def roles_of_member(binding: TenantBinding, user_id: int, is_admin: bool, role: str | None) -> frozenset[str]:
    """The roles ``user_id`` holds, provisioning them from the membership
    on first sight (the one write a read request may cause, once per user)."""
    with binding.connect() as conn:
        provisioned, held = stored_roles(conn, user_id)
    if provisioned:
        return held
    actor = audit.Actor(user_id=user_id, email="access-provisioning")
    try:
        with binding.begin() as conn:
            provisioned, held = stored_roles(conn, user_id)
            if provisioned:
                return held
            return frozenset(_provision(conn, user_id, membership_roles(is_admin, role), actor, strict=False))
    except sa.exc.IntegrityError:
        # Another request provisioned the same user at the same moment.
        with binding.connect() as conn:
            return stored_roles(conn, user_id)[1]


def provision_member(
    instance: Instance, binding: TenantBinding, user_id: int, *, actor: audit.Actor = audit.SYSTEM
) -> list[str]:
    """Provision a member now from their membership (idempotent). Raises
    ValidationFailed if the membership names a role the tenant lacks.
    Returns the roles the user holds."""
    with instance.db.platform_connect() as pconn:
        row = conn_membership(pconn, binding, user_id)
    if row is None:
        raise NotFound(f"user {user_id} is no member of {binding.slug}")
    with binding.begin() as conn:
        provisioned, held = stored_roles(conn, user_id)
        if not provisioned:
            held = frozenset(_provision(conn, user_id, membership_roles(row.is_admin, row.role), actor, strict=True))
    return sorted(held)


def conn_membership(pconn: Connection, binding: TenantBinding, user_id: int):
    return pconn.execute(
        sa.select(memberships.c.is_admin, memberships.c.role).where(
            memberships.c.user_id == user_id, memberships.c.tenant_id == binding.tenant_id
        )
    ).first()


def tenant_members(instance: Instance, binding: TenantBinding) -> dict[int, dict]:
    """Every member of the tenant (platform namespace): id → email, name, membership."""
    return {row["id"]: row for row in list_users(instance, binding.slug)}


def resolve_member(instance: Instance, binding: TenantBinding, user: str | int) -> dict:
    """A member by id or e-mail address; NotFound otherwise."""
    members = tenant_members(instance, binding)
    text = str(user).strip()
    if text.isdigit() and int(text) in members:
        return members[int(text)]
    for member in members.values():
        if member["email"] == text.lower():
            return member
    raise NotFound(f"no member {text!r} in this tenant")


def effective_roles(instance: Instance, binding: TenantBinding, member: dict) -> tuple[frozenset[str], bool]:
    """(roles, provisioned?) of a member, without provisioning (for explain)."""
    with binding.connect() as conn:
        provisioned, held = stored_roles(conn, member["id"])
        if provisioned:
            return held, True
        known = set(conn.execute(sa.select(roles.c.api_name)).scalars())
    return frozenset(r for r in membership_roles(member["is_admin"], member["role"]) if r in known), False


def teams_of(conn: Connection, user_id: int) -> list[str]:
    return list(
        conn.execute(
            sa.select(team_members.c.team).where(team_members.c.user_id == user_id).order_by(team_members.c.team)
        ).scalars()
    )


def assign_roles(
    instance: Instance, binding: TenantBinding, user_id: int, wanted: list[str], actor: audit.Actor
) -> list[str]:
    """Replace the roles of member ``user_id``. The tenant table is written
    first (it decides); the membership is then mirrored (``is_admin`` ⇔ holds
    admin; ``role`` = the first role given), so ``/me`` and platform views agree.
    Refuses to leave the tenant without any holder of the admin role."""
    members = tenant_members(instance, binding)
    if user_id not in members:
        raise NotFound(f"user {user_id} is no member of this tenant")
    wanted = list(dict.fromkeys(wanted))
    with binding.begin() as conn:
        _unknown_roles(conn, wanted, raise_for="roles")
        provisioned, before = stored_roles(conn, user_id)
        if not provisioned:
            conn.execute(access_members.insert().values(user_id=user_id, provisioned_at=utcnow()))
        conn.execute(user_roles.delete().where(user_roles.c.user_id == user_id))
        if wanted:
            conn.execute(user_roles.insert(), [{"user_id": user_id, "role": r} for r in wanted])
        if ADMIN_ROLE in before and ADMIN_ROLE not in wanted:
            admins = conn.execute(
                sa.select(sa.func.count()).select_from(user_roles).where(user_roles.c.role == ADMIN_ROLE)
            ).scalar()
            if not admins:
                raise Conflict("the tenant would be left without an admin; give the admin role to someone else first")
        audit.record(
            conn,
            actor,
            "access.roles_assigned",
            object="user",
            record_id=user_id,
            details={"before": sorted(before), "after": wanted},
        )
    with instance.db.platform_begin() as pconn:
        pconn.execute(
            memberships.update()
            .where(memberships.c.user_id == user_id, memberships.c.tenant_id == binding.tenant_id)
            .values(is_admin=ADMIN_ROLE in wanted, role=wanted[0] if wanted else None)
        )
    return wanted


def role_holders(binding: TenantBinding) -> dict[str, list[int]]:
    """Role api name → the ids of the users holding it (from ``user_roles``)."""
    with binding.connect() as conn:
        out: dict[str, list[int]] = {}
        for role, user_id in conn.execute(sa.select(user_roles.c.role, user_roles.c.user_id).order_by("user_id")):
            out.setdefault(role, []).append(user_id)
    return out


def member_list(instance: Instance, binding: TenantBinding) -> list[dict]:
    """Every member of the tenant with their roles and teams, as the access
    API and the users screen show them (a member not yet provisioned shows
    the roles their membership stands for, ``roles_from_membership``)."""
    members = tenant_members(instance, binding)
    with binding.connect() as conn:
        provisioned = set(conn.execute(sa.select(access_members.c.user_id)).scalars())
        held: dict[int, list[str]] = {}
        for user_id, role in conn.execute(sa.select(user_roles.c.user_id, user_roles.c.role).order_by("role")):
            held.setdefault(user_id, []).append(role)
        teams: dict[int, list[str]] = {}
        for user_id, team in conn.execute(sa.select(team_members.c.user_id, team_members.c.team).order_by("team")):
            teams.setdefault(user_id, []).append(team)
        managers = managers_of(conn)
    data = []
    for user_id, member in members.items():
        if user_id in provisioned:
            roles_held = held.get(user_id, [])
        else:
            roles_held = sorted(effective_roles(instance, binding, member)[0])
        data.append(
            {
                "id": user_id,
                "email": member["email"],
                "display_name": member["display_name"],
                "is_active": member["is_active"],
                "roles": roles_held,
                "roles_from_membership": user_id not in provisioned,
                "teams": teams.get(user_id, []),
                "manager_id": managers.get(user_id),
            }
        )
    return data


# -- who reports to whom -------------------------------------------------------------------------


def managers_of(conn: Connection) -> dict[int, int]:
    """Member id → their manager's id (members without a manager are absent)."""
    return dict(conn.execute(sa.select(member_managers.c.user_id, member_managers.c.manager_id)).all())


def manager_chain(managers: dict[int, int], user_id: int) -> list[int]:
    """The user's manager, their manager's manager, … (stops at a repeat)."""
    chain, current = [], managers.get(user_id)
    while current is not None and current not in chain and current != user_id:
        chain.append(current)
        current = managers.get(current)
    return chain


def set_manager(
    instance: Instance, binding: TenantBinding, user_id: int, manager_id: object, actor: audit.Actor
) -> dict:
    """Set (an id) or clear (None) who a member reports to: a member of the
    tenant, not themselves, and never a cycle (422 naming ``manager_id``,
    with the chain that would loop). Data, not policy: audited, no revision."""
    members = tenant_members(instance, binding)
    if user_id not in members:
        raise NotFound(f"user {user_id} is no member of this tenant")
    if manager_id is not None and (not isinstance(manager_id, int) or isinstance(manager_id, bool)):
        raise ValidationFailed(
            "manager_id must be a member's user id or null", details={"fields": {"manager_id": ["a user id or null"]}}
        )
    if manager_id is not None and manager_id not in members:
        raise ValidationFailed(
            f"user {manager_id} is no member of this tenant",
            details={"fields": {"manager_id": [f"user {manager_id} is no member of this tenant"]}},
        )
    if manager_id == user_id:
        raise ValidationFailed(
            "a user cannot be their own manager", details={"fields": {"manager_id": ["cannot be the user themselves"]}}
        )
    with binding.begin() as conn:
        managers = managers_of(conn)
        before = managers.get(user_id)
        if manager_id is not None:
            chain = manager_chain(managers, manager_id)
            if user_id in chain:
                loop = [manager_id, *chain[: chain.index(user_id) + 1]]
                names = " → ".join(members[u]["email"] for u in loop)
                message = f"{members[manager_id]['email']} already reports to {members[user_id]['email']} ({names})"
                raise ValidationFailed(
                    f"that would be a cycle: {message}",
                    details={"fields": {"manager_id": [f"that would be a cycle: {message}"]}, "chain": loop},
                )
        conn.execute(member_managers.delete().where(member_managers.c.user_id == user_id))
        if manager_id is not None:
            conn.execute(member_managers.insert().values(user_id=user_id, manager_id=manager_id))
        if before != manager_id:
            audit.record(
                conn,
                actor,
                "access.manager_changed",
                object="user",
                record_id=str(user_id),
                details={"before": before, "after": manager_id},
            )
    return {"user_id": user_id, "manager_id": manager_id}


def member_roles(instance: Instance, binding: TenantBinding, user_id: int) -> dict:
    """The roles one member holds: ``{"user_id", "roles", "roles_from_membership"}`` (NotFound for a non-member)."""
    members = tenant_members(instance, binding)
    if user_id not in members:
        raise NotFound(f"user {user_id} is no member of this tenant")
    with binding.connect() as conn:
        provisioned, held = stored_roles(conn, user_id)
    if not provisioned:
        held = effective_roles(instance, binding, members[user_id])[0]
    return {"user_id": user_id, "roles": sorted(held), "roles_from_membership": not provisioned}


def set_member_roles(
    instance: Instance, binding: TenantBinding, user_id: int, wanted: object, actor: audit.Actor, *, editor: int
) -> list[str]:
    """Set a member's whole set of roles as ``editor`` (a user id): never
    one's own (403: another administrator must), a list of role api names
    (422), never leaving the tenant without an admin (409)."""
    if user_id == editor:
        raise Forbidden("you cannot change your own roles: another administrator must", details={"user_id": user_id})
    if not isinstance(wanted, list) or not all(isinstance(r, str) for r in wanted):
        raise ValidationFailed("roles must be a list of role api names", details={"fields": {"roles": ["a list"]}})
    return assign_roles(instance, binding, user_id, wanted, actor)
