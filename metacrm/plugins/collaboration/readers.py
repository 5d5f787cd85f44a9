"""Who else may read a record: the guard of another member of the tenant,
built like the signed-in user's (their roles now, the tenant's policy at
the store's metadata revision), and the check that they can read one
record through the record store. Mentions and follower notifications use
it so that nobody hears of a record they may not open."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from metacrm.access.guard import PolicyGuard
from metacrm.access.members import effective_roles, tenant_members
from metacrm.access.policy import policy_for
from metacrm.metadata.store import RecordStore
from metacrm.platform.errors import Forbidden, NotFound
from metacrm.platform.tables import users


@dataclass(frozen=True)
class Member:
    id: int
    email: str
    name: str
    locale: str | None
    is_admin: bool
    role: str | None

    @property
    def language(self) -> str:
        return "zh_CN" if (self.locale or "").startswith("zh") else "en"


def active_members(store: RecordStore) -> dict[int, Member]:
    """The tenant's active members by id (platform namespace)."""
    found = {row["id"]: row for row in tenant_members(store.instance, store.binding).values() if row["is_active"]}
    if not found:
        return {}
    with store.instance.db.platform_connect() as conn:
        locales = dict(conn.execute(sa.select(users.c.id, users.c.locale).where(users.c.id.in_(list(found)))).all())
    return {
        user_id: Member(
            user_id,
            row["email"],
            row["display_name"] or row["email"],
            locales.get(user_id),
            row["is_admin"],
            row["role"],
        )
        for user_id, row in found.items()
    }


def member_guard(store: RecordStore, member: Member) -> PolicyGuard:
    """The guard ``member`` would have in a request now: the tenant's
    newest policy, not the one of the store's revision (an access change
    made since must already count)."""
    row = {"id": member.id, "is_admin": member.is_admin, "role": member.role}
    held, _ = effective_roles(store.instance, store.binding, row)
    policy = policy_for(store.instance, store.binding)
    return PolicyGuard(
        policy,
        member.id,
        held,
        model=store.model,
        binding=store.binding,
        email=member.email,
        role=member.role,
        locale=member.locale,
    )


def reader_store(store: RecordStore, guard: PolicyGuard, conn) -> RecordStore:
    """``store`` acting as the holder of ``guard`` on ``conn`` (for reads)."""
    return store.nested(conn, guard=guard, depth=store.depth)


def can_read(
    store: RecordStore, guard: PolicyGuard, object_name: str, record_id: int, conn, *, deleted: bool = False
) -> bool:
    """Whether the holder of ``guard`` may read the record (its object and
    its row, through the record scope), on ``conn``; ``deleted``: in the
    recycle bin."""
    try:
        reader_store(store, guard, conn).get(object_name, record_id, fields=[], deleted=deleted)
    except (NotFound, Forbidden):
        return False
    return True


def record_name(store: RecordStore, object_name: str, record_id: int, *, deleted: bool = False) -> str:
    """The record's name as ``store``'s user may see it (``#id`` when its
    name field is hidden from them)."""
    obj = store.object(object_name)
    name_field = obj.name_field if obj.name_field in store.guard.readable_fields(obj) else None
    if name_field is None:
        return f"#{record_id}"
    record = store.get(object_name, record_id, fields=[name_field], deleted=deleted)
    value = record.get(name_field)
    return str(value) if value not in (None, "") else f"#{record_id}"
