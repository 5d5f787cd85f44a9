"""Automation actions that need the access layer, registered through the
``register_automation_actions`` hook (``metacrm.rules`` cannot import
``metacrm.access``):

* ``owner.round_robin`` (``ASSIGN OWNER ROUND ROBIN TEAM "north"``): the
  team's members in turn, by user id; where the rotation stands is a row of
  ``automation_rotation`` locked for the transaction, so concurrent saves
  never hand out the same turn twice;
* ``owner.least_busy`` (``ASSIGN OWNER LEAST BUSY TEAM "north"``): the
  member owning the fewest live records of the object (ties: lowest id),
  under the same lock;
* ``pool.return`` (``RETURN TO POOL "reason"``): the record goes back to its
  object's pool (:func:`metacrm.access.pools.return_to_pool`).

Both assignments run before the write and return the owner to set.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from metacrm.access.pools import return_to_pool
from metacrm.access.tables import team_members, teams
from metacrm.platform.clock import utcnow
from metacrm.platform.errors import NotFound
from metacrm.rules.automation import ActionCall, AutomationAction
from metacrm.rules.automation.actions import LEAST_BUSY, RETURN_TO_POOL, ROUND_ROBIN
from metacrm.rules.automation.tables import automation_rotation


def team_member_ids(conn: Connection, team: str) -> list[int]:
    """The team's members by user id; NotFound for an unknown or empty team."""
    if conn.execute(sa.select(teams.c.api_name).where(teams.c.api_name == team)).first() is None:
        raise NotFound(f"no team {team!r}")
    members = list(
        conn.execute(
            sa.select(team_members.c.user_id).where(team_members.c.team == team).order_by(team_members.c.user_id)
        ).scalars()
    )
    if not members:
        raise NotFound(f"team {team!r} has no members to assign to")
    return members


def _lock_rotation(conn: Connection, key: str) -> int | None:
    """Lock (creating if needed) the rotation row ``key``; its last user id."""
    query = sa.select(automation_rotation.c.last_user_id).where(automation_rotation.c.rotation == key)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is not None:
        return row.last_user_id
    savepoint = conn.begin_nested()
    try:
        conn.execute(automation_rotation.insert().values(rotation=key, last_user_id=None, updated_at=utcnow()))
        savepoint.commit()
    except sa.exc.IntegrityError:  # another transaction made it first: wait for its lock
        savepoint.rollback()
    return conn.execute(query).first().last_user_id


def _remember(call: ActionCall, key: str, user_id: int) -> None:
    if not call.dry_run:
        call.conn.execute(
            automation_rotation.update()
            .where(automation_rotation.c.rotation == key)
            .values(last_user_id=user_id, updated_at=utcnow())
        )


def round_robin(call: ActionCall) -> dict:
    (team,) = call.args
    members = team_member_ids(call.conn, team)
    key = f"{call.rule}:{team}"
    last = _lock_rotation(call.conn, key)
    chosen = next((m for m in members if last is None or m > last), members[0])
    _remember(call, key, chosen)
    return {"set": {"owner_id": chosen}, "team": team, "owner_id": chosen}


def least_busy(call: ActionCall) -> dict:
    (team,) = call.args
    members = team_member_ids(call.conn, team)
    key = f"least:{call.rule}:{team}"
    _lock_rotation(call.conn, key)  # serialises concurrent picks for this rule and team
    table = call.model.object(call.object).table
    counts = dict(
        call.conn.execute(
            sa.select(table.c.owner_id, sa.func.count())
            .where(table.c.owner_id.in_(members), table.c.deleted_at.is_(None))
            .group_by(table.c.owner_id)
        ).all()
    )
    chosen = min(members, key=lambda m: (counts.get(m, 0), m))
    _remember(call, key, chosen)
    return {"set": {"owner_id": chosen}, "team": team, "owner_id": chosen, "owned": counts.get(chosen, 0)}


def back_to_pool(call: ActionCall) -> dict:
    (reason,) = call.args
    moved = return_to_pool(
        call.conn,
        call.model,
        call.object,
        [call.record_id],
        reason=reason or "returned by automation",
        actor=call.actor,
    )
    return {"returned": moved, "reason": reason}


def check_team(conn: Connection, args: tuple) -> str | None:
    try:
        team_member_ids(conn, args[0])
    except NotFound as exc:
        return exc.message
    return None


AUTOMATION_ACTIONS = [
    AutomationAction(
        ROUND_ROBIN, round_robin, params=("TEXT",), phase="before", doc="the team's members in turn", check=check_team
    ),
    AutomationAction(
        LEAST_BUSY,
        least_busy,
        params=("TEXT",),
        phase="before",
        doc="the member owning fewest records",
        check=check_team,
    ),
    AutomationAction(RETURN_TO_POOL, back_to_pool, params=("TEXT",), phase="after", doc="back to the object's pool"),
]
