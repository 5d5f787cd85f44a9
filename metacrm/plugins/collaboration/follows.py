"""Following a record, and the save step that tells its followers about
its changes.

A follower hears (an in-app notification) of every update or deletion of
the record made by someone else, naming only the changed fields they may
read — a save that changed nothing they may read tells them nothing — and
of new comments (:mod:`.comments`). A follower who can no longer read the
record hears nothing.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from metacrm.metadata.saving import PendingSave, SaveContext
from metacrm.metadata.store import RecordStore
from metacrm.platform.clock import utcnow
from metacrm.plugins.collaboration import notify
from metacrm.plugins.collaboration.readers import active_members, can_read, member_guard, reader_store, record_name
from metacrm.plugins.collaboration.tables import record_followers

# Columns every save touches; a change of these alone is no news.
SYSTEM_COLUMNS = frozenset({"updated_at", "updated_by", "version", "deleted_at"})


def followers_of(conn, object_name: str, record_id: int) -> list[int]:
    query = sa.select(record_followers.c.user_id).where(
        record_followers.c.object == object_name, record_followers.c.record_id == record_id
    )
    return list(conn.execute(query).scalars())


def follow_state(store: RecordStore, object_name: str, record_id: int) -> dict[str, Any]:
    """Whether the store's user follows the record, and how many do (404
    when the user may not read the record)."""
    record = store.get(object_name, record_id, fields=[])
    with store.binding.connect() as conn:
        followers = followers_of(conn, store.object(object_name).api_name, record["id"])
    return {"following": store.actor.user_id in followers, "followers": len(followers)}


def set_following(store: RecordStore, object_name: str, record_id: int, following: bool) -> dict[str, Any]:
    """Follow (or stop following) a record the store's user may read; doing
    it twice is the same as once."""
    obj = store.object(object_name)
    record = store.get(object_name, record_id, fields=[])
    key = sa.and_(
        record_followers.c.object == obj.api_name,
        record_followers.c.record_id == record["id"],
        record_followers.c.user_id == store.actor.user_id,
    )
    with store.binding.begin() as conn:
        exists = conn.execute(sa.select(sa.literal(1)).where(key)).first() is not None
        if following and not exists:
            conn.execute(
                record_followers.insert().values(
                    object=obj.api_name, record_id=record["id"], user_id=store.actor.user_id, created_at=utcnow()
                )
            )
        elif not following and exists:
            conn.execute(record_followers.delete().where(key))
    return follow_state(store, object_name, record_id)


class FollowerNotifications:
    """After the write, in the save's transaction: a notification to each
    follower of an updated or deleted record (not the one who saved it),
    when they can still read the record and a field they may read changed."""

    order = 700  # after the after-save automations (600): their changes are part of the save

    def after_write(self, ctx: SaveContext, saves: list[PendingSave]) -> None:
        if ctx.action not in ("update", "delete"):
            return
        by_record = {save.record_id: save for save in saves if save.record_id is not None and not save.errors}
        if not by_record:
            return
        query = sa.select(record_followers.c.record_id, record_followers.c.user_id).where(
            record_followers.c.object == ctx.obj.api_name, record_followers.c.record_id.in_(list(by_record))
        )
        rows = [row for row in ctx.conn.execute(query).all() if row.user_id != ctx.actor.user_id]
        if not rows:
            return
        members = active_members(ctx.store)
        me = ctx.actor.user_id
        who = members[me].name if me in members else (ctx.actor.email or "")
        guards: dict[int, Any] = {}
        deleted = ctx.action == "delete"
        for record_id, user_id in rows:
            member = members.get(user_id)
            if member is None:
                continue
            guard = guards.get(user_id) or guards.setdefault(user_id, member_guard(ctx.store, member))
            if deleted:
                # The record is in the recycle bin now: they hear of it if they could read it.
                if not can_read(ctx.store, guard, ctx.obj.api_name, record_id, ctx.conn, deleted=True):
                    continue
                name = record_name(reader_store(ctx.store, guard, ctx.conn), ctx.obj.api_name, record_id, deleted=True)
                text = notify.message("deleted", member.language, who=who, obj=ctx.obj, name=name)
            else:
                if not can_read(ctx.store, guard, ctx.obj.api_name, record_id, ctx.conn):
                    continue
                changed = (by_record[record_id].changed() - SYSTEM_COLUMNS) & guard.readable_fields(ctx.obj)
                if not changed:
                    continue
                name = record_name(reader_store(ctx.store, guard, ctx.conn), ctx.obj.api_name, record_id)
                fields = notify.field_list(ctx.obj, changed, member.language)
                text = notify.message(notify.CHANGE, member.language, who=who, obj=ctx.obj, name=name, text=fields)
            notify.insert(ctx.conn, user_id, notify.CHANGE, ctx.obj, record_id, text)


SAVE_STEPS = (FollowerNotifications(),)
