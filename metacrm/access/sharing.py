"""Teams and record shares: the data the ``team`` scope and sharing read.

They are read by SQL at query time (:mod:`metacrm.access.scopes`), so a
change takes effect on the next query everywhere; each change is audited in
the tenant's log but makes no metadata revision (it is data, not policy).
Every reference is checked: a team member or share recipient must be a
member of the tenant, a shared record must exist (422 naming the member).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from metacrm.access.members import tenant_members
from metacrm.access.permissions import SHARE_ACCESS, check_name
from metacrm.access.tables import pool_access, record_shares, sharing_rules, team_members, teams
from metacrm.metadata.physical import CompiledModel
from metacrm.platform import audit
from metacrm.platform.clock import as_utc, utcnow
from metacrm.platform.database import INT32_MAX, TenantBinding
from metacrm.platform.errors import Conflict, NotFound, ValidationFailed
from metacrm.platform.instance import Instance


def _invalid(message: str, errors: dict[str, list[str]]) -> ValidationFailed:
    return ValidationFailed(message, details={"fields": errors})


def _user_ids(value: Any, path: str) -> list[int]:
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise _invalid(f"{path} must be a list of user ids", {path: ["must be a list of user ids"]})
    return list(dict.fromkeys(value))


def _check_members(instance: Instance, binding: TenantBinding, user_ids: list[int], path: str) -> None:
    members = tenant_members(instance, binding)
    strangers = [u for u in user_ids if u not in members]
    if strangers:
        raise _invalid(
            f"not members of this tenant: {', '.join(map(str, strangers))}",
            {path: [f"user {u} is no member of this tenant" for u in strangers]},
        )


# -- teams ---------------------------------------------------------------------------------


def list_teams(conn: Connection) -> list[dict]:
    members: dict[str, list[int]] = {}
    for team, user_id in conn.execute(
        sa.select(team_members.c.team, team_members.c.user_id).order_by(team_members.c.user_id)
    ):
        members.setdefault(team, []).append(user_id)
    return [
        {"api_name": row.api_name, "label": row.label, "members": members.get(row.api_name, [])}
        for row in conn.execute(sa.select(teams).order_by(teams.c.api_name))
    ]


def get_team(conn: Connection, name: str) -> dict:
    for team in list_teams(conn):
        if team["api_name"] == name:
            return team
    raise NotFound(f"no team {name!r}")


def create_team(instance: Instance, binding: TenantBinding, body: Any, actor: audit.Actor) -> dict:
    if not isinstance(body, dict):
        raise _invalid("send a JSON object", {"$": ["must be an object"]})
    errors: dict[str, list[str]] = {}
    check_name(body.get("api_name"), "team", errors)
    if not isinstance(body.get("label"), str) or not body["label"].strip() or len(body["label"]) > 200:
        errors.setdefault("label", []).append("is required: 1 to 200 characters")
    for key in body:
        if key not in ("api_name", "label", "members"):
            errors.setdefault(key, []).append("unknown member; use api_name, label, members")
    if errors:
        raise _invalid("the team is not valid", errors)
    user_ids = _user_ids(body.get("members", []), "members")
    _check_members(instance, binding, user_ids, "members")
    with binding.begin() as conn:
        if conn.execute(sa.select(teams.c.api_name).where(teams.c.api_name == body["api_name"])).first():
            raise Conflict(f"team {body['api_name']!r} already exists", details={"fields": {"api_name": ["exists"]}})
        conn.execute(teams.insert().values(api_name=body["api_name"], label=body["label"].strip()))
        if user_ids:
            conn.execute(team_members.insert(), [{"team": body["api_name"], "user_id": u} for u in user_ids])
        audit.record(
            conn, actor, "access.team_created", object="team", record_id=body["api_name"], details={"members": user_ids}
        )
        return get_team(conn, body["api_name"])


def update_team(instance: Instance, binding: TenantBinding, name: str, body: Any, actor: audit.Actor) -> dict:
    """``label`` and/or ``members`` (the whole list)."""
    if not isinstance(body, dict):
        raise _invalid("send a JSON object", {"$": ["must be an object"]})
    errors: dict[str, list[str]] = {}
    for key in body:
        if key not in ("label", "members", "api_name") or (key == "api_name" and body[key] != name):
            errors.setdefault(key, []).append("unknown or immutable member; change label or members")
    if "label" in body and (not isinstance(body["label"], str) or not body["label"].strip()):
        errors.setdefault("label", []).append("is required: 1 to 200 characters")
    if errors:
        raise _invalid("the team is not valid", errors)
    user_ids = _user_ids(body["members"], "members") if "members" in body else None
    if user_ids is not None:
        _check_members(instance, binding, user_ids, "members")
    with binding.begin() as conn:
        before = get_team(conn, name)
        if "label" in body:
            conn.execute(teams.update().where(teams.c.api_name == name).values(label=body["label"].strip()))
        if user_ids is not None:
            conn.execute(team_members.delete().where(team_members.c.team == name))
            if user_ids:
                conn.execute(team_members.insert(), [{"team": name, "user_id": u} for u in user_ids])
        after = get_team(conn, name)
        audit.record(
            conn,
            actor,
            "access.team_changed",
            object="team",
            record_id=name,
            details={"before": before, "after": after},
        )
        return after


def delete_team(binding: TenantBinding, name: str, actor: audit.Actor) -> None:
    """The team, its memberships and the shares made to it (409 while a pool or a sharing rule names it)."""
    with binding.begin() as conn:
        before = get_team(conn, name)
        named = sorted(
            conn.execute(
                sa.select(pool_access.c.pool).where(pool_access.c.kind == "team", pool_access.c.name == name)
            ).scalars()
        )
        if named:
            raise Conflict(
                f"team {name} works the pools {', '.join(named)}: take it out of them first", details={"pools": named}
            )
        rules = sorted(
            conn.execute(
                sa.select(sharing_rules.c.api_name).where(
                    sa.or_(
                        sa.and_(sharing_rules.c.owner_kind == "team", sharing_rules.c.owner_name == name),
                        sa.and_(sharing_rules.c.share_kind == "team", sharing_rules.c.share_name == name),
                    )
                )
            ).scalars()
        )
        if rules:
            raise Conflict(
                f"the sharing rules {', '.join(rules)} name team {name}: change or delete them first",
                details={"sharing_rules": rules},
            )
        shares = conn.execute(record_shares.delete().where(record_shares.c.team == name)).rowcount
        conn.execute(team_members.delete().where(team_members.c.team == name))
        conn.execute(teams.delete().where(teams.c.api_name == name))
        audit.record(
            conn,
            actor,
            "access.team_deleted",
            object="team",
            record_id=name,
            details={"members": before["members"], "shares_removed": shares},
        )


# -- record shares -------------------------------------------------------------------------------


def _share_json(row) -> dict:
    return {
        "id": row["id"],
        "object": row["object"],
        "record_id": row["record_id"],
        "user_id": row["user_id"],
        "team": row["team"],
        "access": row["access"],
        "granted_by": row["granted_by"],
        "at": as_utc(row["at"]).isoformat(),
    }


def list_shares(conn: Connection, *, object_name: str | None = None, record_id: int | None = None) -> list[dict]:
    query = sa.select(record_shares).order_by(record_shares.c.id)
    if object_name:
        query = query.where(record_shares.c.object == object_name)
    if record_id is not None:
        query = query.where(record_shares.c.record_id == record_id)
    return [_share_json(row) for row in conn.execute(query.limit(1000)).mappings()]


def create_share(
    instance: Instance, binding: TenantBinding, model: CompiledModel, body: Any, actor: audit.Actor
) -> tuple[dict, bool]:
    """Share one record with a user or a team. Sharing the same record with
    the same recipient again changes its access. Returns (share, created)."""
    if not isinstance(body, dict):
        raise _invalid("send a JSON object", {"$": ["must be an object"]})
    errors: dict[str, list[str]] = {}
    for key in body:
        if key not in ("object", "record_id", "user_id", "team", "access"):
            errors.setdefault(key, []).append("unknown member; use object, record_id, user_id or team, access")
    obj = model.object(body.get("object")) if isinstance(body.get("object"), str) else None
    if obj is None:
        errors.setdefault("object", []).append(f"no object {body.get('object')!r}")
    record_id = body.get("record_id")
    if not isinstance(record_id, int) or isinstance(record_id, bool) or record_id < 1:
        errors.setdefault("record_id", []).append("must be a record id")
    if body.get("access") not in SHARE_ACCESS:
        errors.setdefault("access", []).append(f"must be one of {', '.join(SHARE_ACCESS)}")
    user_id, team = body.get("user_id"), body.get("team")
    if (user_id is None) == (team is None):
        errors.setdefault("user_id", []).append("name exactly one recipient: user_id or team")
    elif user_id is not None and (not isinstance(user_id, int) or isinstance(user_id, bool)):
        errors.setdefault("user_id", []).append("must be a user id")
    elif team is not None and not isinstance(team, str):
        errors.setdefault("team", []).append("must be a team api name")
    if errors:
        raise _invalid("the share is not valid", errors)
    if user_id is not None:
        _check_members(instance, binding, [user_id], "user_id")
    with binding.begin() as conn:
        if team is not None and not conn.execute(sa.select(teams.c.api_name).where(teams.c.api_name == team)).first():
            raise _invalid(f"no team {team!r}", {"team": [f"no team {team!r}"]})
        table = obj.table
        exists = conn.execute(
            sa.select(table.c.id).where(table.c.id == record_id, table.c.deleted_at.is_(None))
        ).first()
        if exists is None:
            raise _invalid(f"no {obj.api_name} {record_id}", {"record_id": [f"no {obj.api_name} {record_id}"]})
        recipient = record_shares.c.user_id == user_id if user_id is not None else record_shares.c.team == team
        where = sa.and_(record_shares.c.object == obj.api_name, record_shares.c.record_id == record_id, recipient)
        current = conn.execute(sa.select(record_shares.c.id).where(where)).first()
        values = {"access": body["access"], "granted_by": actor.user_id, "at": utcnow()}
        if current is None:
            share_id = conn.execute(
                record_shares.insert().values(
                    object=obj.api_name, record_id=record_id, user_id=user_id, team=team, **values
                )
            ).inserted_primary_key[0]
        else:
            share_id = current.id
            conn.execute(record_shares.update().where(record_shares.c.id == share_id).values(**values))
        row = conn.execute(sa.select(record_shares).where(record_shares.c.id == share_id)).mappings().one()
        share = _share_json(row)
        audit.record(
            conn, actor, "access.record_shared", object=obj.api_name, record_id=record_id, details={"share": share}
        )
    return share, current is None


def delete_share(binding: TenantBinding, share_id: int, actor: audit.Actor) -> None:
    if share_id > INT32_MAX:  # beyond the 32-bit id column: PostgreSQL would refuse the parameter
        raise NotFound(f"no share {share_id}")
    with binding.begin() as conn:
        row = conn.execute(sa.select(record_shares).where(record_shares.c.id == share_id)).mappings().first()
        if row is None:
            raise NotFound(f"no share {share_id}")
        conn.execute(record_shares.delete().where(record_shares.c.id == share_id))
        audit.record(
            conn,
            actor,
            "access.share_removed",
            object=row["object"],
            record_id=row["record_id"],
            details={"share": _share_json(row)},
        )
