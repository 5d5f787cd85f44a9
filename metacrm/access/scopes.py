"""Record scopes compiled to SQL.

Each scope is a SQLAlchemy Core clause over the object's table and the
access tables (never a string, never a row loaded and filtered in Python):

* ``own``: ``owner_id = :me``
* ``team``: own, or the owner shares a team with me
* ``subordinates``: own, or the owner holds a role below one of mine
* ``all``: no clause
* a condition: the rule language's SQL of it (:mod:`metacrm.access.guard`
  compiles it; one that no longer compiles grants nothing)

A user's clause for an action is the OR of the scopes of their roles, of the
object's org-wide default (``public_read`` opens reading,
``public_read_write`` reading and updating), of the records shared with
them or their teams, of the sharing rules that name them (their role, a role
above which they sit, or their team) and, for reading, of the records in the public pools
they are members of. Lists, counts and single-record reads and writes all run
the same clause, so what a list shows is exactly what a GET by id returns.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from metacrm.access.tables import pool_access, pool_records, record_shares, team_members, user_roles

# The share access that opens each action (a share never grants delete).
SHARE_OPENS = {"read": ("read", "edit"), "update": ("edit",)}
# Which actions each org-wide default opens to everyone permitted the action.
ORG_WIDE_OPENS = {"public_read": ("read",), "public_read_write": ("read", "update")}
_SHARED_CREATED_AT = "metacrm.access.shared_created_at"  # key in sa.Table.info


def my_teams(user_id: int):
    return sa.select(team_members.c.team).where(team_members.c.user_id == user_id)


def own(table: sa.Table, user_id: int) -> ColumnElement:
    return table.c.owner_id == user_id


def team(table: sa.Table, user_id: int) -> ColumnElement:
    mates = sa.select(team_members.c.user_id).where(team_members.c.team.in_(my_teams(user_id)))
    return sa.or_(table.c.owner_id == user_id, table.c.owner_id.in_(mates))


def subordinates(table: sa.Table, user_id: int, below: Iterable[str]) -> ColumnElement:
    below = sorted(below)
    if not below:
        return own(table, user_id)
    holders = sa.select(user_roles.c.user_id).where(user_roles.c.role.in_(below))
    return sa.or_(table.c.owner_id == user_id, table.c.owner_id.in_(holders))


def shared(table: sa.Table, object_name: str, user_id: int, accesses: Iterable[str]) -> ColumnElement:
    """The record is shared with me or one of my teams with one of ``accesses``.
    A share older than the record cannot be for it (on SQLite a purged id can
    be handed out again).

    Written as an uncorrelated ``id IN (my shares)``, which the database
    computes once (PostgreSQL hashes it), not as an EXISTS probe of the
    shares for every row: the age check reads the shared record's
    ``created_at`` by id inside the subquery (the row with that id is the
    row being tested). A correlated subquery in the filter is also costed as
    if run for every row, which on a big table makes PostgreSQL JIT-compile
    the query (~0.7 s) before it runs in milliseconds."""
    return table.c.id.in_(
        sa.select(record_shares.c.record_id).where(
            record_shares.c.object == object_name,
            record_shares.c.access.in_(sorted(accesses)),
            sa.or_(record_shares.c.user_id == user_id, record_shares.c.team.in_(my_teams(user_id))),
            record_shares.c.at >= _created_at_of_shared(table),
        )
    )


def _created_at_of_shared(table: sa.Table) -> ColumnElement:
    """``created_at`` of the record a share names (by ``record_shares.record_id``).
    It names no user, so it is built once per table and kept in ``table.info``
    (aliasing the table on every request costs more than the rest of the clause)."""
    created = table.info.get(_SHARED_CREATED_AT)
    if created is None:
        record = table.alias("shared_record")
        created = (
            sa.select(record.c.created_at)
            .where(record.c.id == record_shares.c.record_id)
            .correlate(record_shares)
            .scalar_subquery()
        )
        table.info[_SHARED_CREATED_AT] = created
    return created


# The access a sharing rule gives that opens each action (never delete).
RULE_OPENS = {"read": ("read", "edit"), "update": ("edit",)}


def owned_by_roles(table: sa.Table, roles: Iterable[str]) -> ColumnElement:
    """The record's owner holds one of ``roles`` (an owner-based sharing rule)."""
    holders = sa.select(user_roles.c.user_id).where(user_roles.c.role.in_(sorted(roles)))
    return table.c.owner_id.in_(holders)


def owned_by_team(table: sa.Table, team_name: str) -> ColumnElement:
    """The record's owner is a member of the team (an owner-based sharing rule)."""
    members = sa.select(team_members.c.user_id).where(team_members.c.team == team_name)
    return table.c.owner_id.in_(members)


def member_of_team(user_id: int, team_name: str) -> ColumnElement:
    """I am a member of the team (the recipients of a sharing rule), as SQL:
    a membership takes effect on the next query, like the ``team`` scope."""
    return sa.exists(
        sa.select(team_members.c.user_id).where(team_members.c.team == team_name, team_members.c.user_id == user_id)
    )


def in_pool(table: sa.Table, object_name: str, user_id: int, role_pools: Iterable[str]) -> ColumnElement:
    """The record is in a pool I am a member of: through a role (``role_pools``,
    resolved from the policy) or through one of my teams. An uncorrelated
    ``id IN (…)``, computed once per query (see :func:`shared`)."""
    through_team = sa.select(pool_access.c.pool).where(
        pool_access.c.kind == "team", pool_access.c.name.in_(my_teams(user_id))
    )
    return table.c.id.in_(
        sa.select(pool_records.c.record_id).where(
            pool_records.c.object == object_name,
            sa.or_(pool_records.c.pool.in_(sorted(role_pools)), pool_records.c.pool.in_(through_team)),
        )
    )


@dataclass(frozen=True)
class Grant:
    """One reason a record may be in scope, and its clause (None: every record).
    ``error`` says why a condition grants nothing (its clause is then false)."""

    kind: str  # "scope", "condition", "org_wide_default", "share", "sharing_rule", "pool"
    value: str
    clause: ColumnElement | None
    error: str | None = None


def grants(
    table: sa.Table,
    object_name: str,
    action: str,
    user_id: int,
    scopes: Iterable[str],
    org_wide_default: str,
    below: Iterable[str],
) -> list[Grant]:
    """Every reason (with its clause) that puts records in the scope of
    ``action`` for a user holding ``scopes`` (already known to be permitted)."""
    out = []
    for scope in sorted(set(scopes)):
        if scope == "all":
            out.append(Grant("scope", scope, None))
        elif scope == "own":
            out.append(Grant("scope", scope, own(table, user_id)))
        elif scope == "team":
            out.append(Grant("scope", scope, team(table, user_id)))
        elif scope == "subordinates":
            out.append(Grant("scope", scope, subordinates(table, user_id, below)))
    if action in ORG_WIDE_OPENS.get(org_wide_default, ()):
        out.append(Grant("org_wide_default", org_wide_default, None))
    if action in SHARE_OPENS:
        out.append(
            Grant("share", "/".join(SHARE_OPENS[action]), shared(table, object_name, user_id, SHARE_OPENS[action]))
        )
    return out


def combine(found: list[Grant]) -> ColumnElement | None:
    """One clause: None if any grant opens every record, false if there is none."""
    if any(g.clause is None for g in found):
        return None
    if not found:
        return sa.false()
    return sa.or_(*[g.clause for g in found])
