"""Comments on any record, with @mentions.

A comment is plain text (the screens escape it and autolink its URLs).
``@`` followed by a member's e-mail address mentions them: the mentioned
member is notified — only when they can read the record. Otherwise the
whole comment is refused with a 422 naming the address, and nothing is
written or sent; an address that is no member gets the same answer, so a
comment reveals nothing about who exists. Followers of the record hear of
the comment too (:mod:`.follows`).

Reading and writing comments needs read access to the record (a 404
otherwise, as for the record itself); editing is the author's, deleting
the author's or a tenant admin's.
"""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa

from metacrm.metadata.store import RecordStore
from metacrm.platform.clock import as_utc, utcnow
from metacrm.platform.errors import Forbidden, NotFound, ValidationFailed
from metacrm.plugins.collaboration import notify
from metacrm.plugins.collaboration.follows import followers_of
from metacrm.plugins.collaboration.readers import (
    Member,
    active_members,
    can_read,
    member_guard,
    reader_store,
    record_name,
)
from metacrm.plugins.collaboration.tables import record_comments

MAX_BODY = 10_000
DEFAULT_LIMIT = 50
MAX_LIMIT = 200
# "@" + an e-mail address, not inside a word or an address ("a@b.com" mentions nobody).
MENTION = re.compile(r"(?<![\w.@+-])@([A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)")
SUGGESTIONS = 8


def mentioned_addresses(body: str) -> list[str]:
    """The e-mail addresses ``body`` mentions, lower-cased, first mention first."""
    return list(dict.fromkeys(match.rstrip(".").lower() for match in MENTION.findall(body)))


def _clean_body(body: Any) -> str:
    text = body.strip() if isinstance(body, str) else ""
    if not text:
        raise ValidationFailed("body is required", details={"fields": {"body": ["write something"]}})
    if len(text) > MAX_BODY:
        raise ValidationFailed(
            f"body is longer than {MAX_BODY} characters",
            details={"fields": {"body": [f"at most {MAX_BODY} characters"]}},
        )
    return text


def _as_json(row, members: dict[int, Member], me: int | None) -> dict[str, Any]:
    author = members.get(row["author_id"])
    return {
        "id": row["id"],
        "object": row["object"],
        "record_id": row["record_id"],
        "author": {
            "id": row["author_id"],
            "email": author.email if author else row["author_email"],
            "name": author.name if author else row["author_email"],
        },
        "body": row["body"],
        "mentions": [
            {"id": m.id, "email": m.email, "name": m.name} for m in (members.get(i) for i in row["mentions"] or []) if m
        ],
        "created_at": as_utc(row["created_at"]).isoformat(),
        "edited_at": as_utc(row["edited_at"]).isoformat() if row["edited_at"] else None,
        "mine": row["author_id"] == me,
    }


def comments(
    store: RecordStore, object_name: str, record_id: int, *, before: int | None = None, limit: int = DEFAULT_LIMIT
) -> dict[str, Any]:
    """A page of the record's comments, newest first (``before``: a comment id)."""
    record = store.get(object_name, record_id, fields=[])
    limit = max(1, min(int(limit), MAX_LIMIT))
    query = sa.select(record_comments).where(
        record_comments.c.object == object_name, record_comments.c.record_id == record["id"]
    )
    if before is not None:
        query = query.where(record_comments.c.id < before)
    with store.binding.connect() as conn:
        rows = conn.execute(query.order_by(record_comments.c.id.desc()).limit(limit + 1)).mappings().all()
    members = active_members(store)
    more = len(rows) > limit
    rows = rows[:limit]
    return {
        "data": [_as_json(row, members, store.actor.user_id) for row in rows],
        "next_before": rows[-1]["id"] if more and rows else None,
    }


def _resolve_mentions(store: RecordStore, object_name: str, record_id: int, body: str, conn) -> dict[int, Member]:
    """The members ``body`` mentions; a 422 naming every address that is
    not a member who can read the record (the same words for both)."""
    addresses = mentioned_addresses(body)
    if not addresses:
        return {}
    by_email = {m.email.lower(): m for m in active_members(store).values()}
    found: dict[int, Member] = {}
    refused = []
    for address in addresses:
        member = by_email.get(address)
        if member is None or not can_read(store, member_guard(store, member), object_name, record_id, conn):
            refused.append(address)
        else:
            found[member.id] = member
    if refused:
        names = ", ".join(refused)
        raise ValidationFailed(
            f"cannot mention {names}: not a member who can read this record",
            details={"fields": {"body": [f"{a} cannot read this record" for a in refused]}, "mentions": refused},
        )
    return found


def add_comment(store: RecordStore, object_name: str, record_id: int, body: Any) -> dict[str, Any]:
    """Write a comment as the store's user and notify the mentioned members
    and the record's followers (all in one transaction)."""
    text = _clean_body(body)
    obj = store.object(object_name)
    record = store.get(object_name, record_id, fields=[])
    with store.binding.begin() as conn:
        mentioned = _resolve_mentions(store, object_name, record["id"], text, conn)
        now = utcnow()
        comment_id = conn.execute(
            record_comments.insert()
            .values(
                object=obj.api_name,
                record_id=record["id"],
                author_id=store.actor.user_id,
                author_email=store.actor.email,
                body=text,
                mentions=list(mentioned),
                created_at=now,
            )
            .returning(record_comments.c.id)
        ).scalar_one()
        _notify(store, obj, record["id"], text, mentioned, conn)
        row = conn.execute(sa.select(record_comments).where(record_comments.c.id == comment_id)).mappings().one()
    return _as_json(row, active_members(store), store.actor.user_id)


def _notify(store: RecordStore, obj, record_id: int, text: str, mentioned: dict[int, Member], conn) -> None:
    """Mentioned members (already checked) and the followers who can read
    the record hear of the comment; never its author."""
    me = store.actor.user_id
    members = active_members(store)
    who = members[me].name if me in members else (store.actor.email or "")
    recipients = {user_id: notify.MENTION for user_id in mentioned}
    for user_id in followers_of(conn, obj.api_name, record_id):
        recipients.setdefault(user_id, notify.COMMENT)
    for user_id, kind in recipients.items():
        member = members.get(user_id)
        if user_id == me or member is None:
            continue
        guard = member_guard(store, member)
        if kind == notify.COMMENT and not can_read(store, guard, obj.api_name, record_id, conn):
            continue
        name = record_name(reader_store(store, guard, conn), obj.api_name, record_id)
        message = notify.message(kind, member.language, who=who, obj=obj, name=name, text=notify.excerpt(text))
        notify.insert(conn, user_id, kind, obj, record_id, message)


def _own_comment(store: RecordStore, object_name: str, record_id: int, comment_id: int, conn, *, moderate: bool):
    record = store.get(object_name, record_id, fields=[])
    row = (
        conn.execute(
            sa.select(record_comments).where(
                record_comments.c.id == comment_id,
                record_comments.c.object == object_name,
                record_comments.c.record_id == record["id"],
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"no comment {comment_id} on this record")
    if row["author_id"] != store.actor.user_id and not (moderate and store.guard.may("manage_access")):
        raise Forbidden("only its author can change a comment")
    return row


def edit_comment(store: RecordStore, object_name: str, record_id: int, comment_id: int, body: Any) -> dict[str, Any]:
    """The author changes their comment; members it newly mentions are
    checked and notified like on a new comment."""
    text = _clean_body(body)
    obj = store.object(object_name)
    with store.binding.begin() as conn:
        row = _own_comment(store, object_name, record_id, comment_id, conn, moderate=False)
        mentioned = _resolve_mentions(store, object_name, row["record_id"], text, conn)
        new = {user_id: m for user_id, m in mentioned.items() if user_id not in (row["mentions"] or [])}
        where = record_comments.c.id == comment_id
        conn.execute(
            record_comments.update()
            .where(where)
            .values(body=text, mentions=sorted({*(row["mentions"] or []), *mentioned}), edited_at=utcnow())
        )
        members = active_members(store)
        me = store.actor.user_id
        who = members[me].name if me in members else (store.actor.email or "")
        for user_id, member in new.items():
            if user_id == me:
                continue
            name = record_name(reader_store(store, member_guard(store, member), conn), obj.api_name, row["record_id"])
            message = notify.message(
                notify.MENTION, member.language, who=who, obj=obj, name=name, text=notify.excerpt(text)
            )
            notify.insert(conn, user_id, notify.MENTION, obj, row["record_id"], message)
        updated = conn.execute(sa.select(record_comments).where(where)).mappings().one()
    return _as_json(updated, members, me)


def delete_comment(store: RecordStore, object_name: str, record_id: int, comment_id: int) -> None:
    """The author (or a tenant admin, moderating) deletes a comment."""
    with store.binding.begin() as conn:
        _own_comment(store, object_name, record_id, comment_id, conn, moderate=True)
        conn.execute(record_comments.delete().where(record_comments.c.id == comment_id))


def mention_suggestions(store: RecordStore, object_name: str, record_id: int, text: str) -> list[dict[str, str]]:
    """Members who can read the record whose name or e-mail starts with
    ``text`` (the comment box's @ typeahead); at most :data:`SUGGESTIONS`."""
    record = store.get(object_name, record_id, fields=[])
    wanted = (text or "").strip().lower()
    found = []
    with store.binding.connect() as conn:
        for member in sorted(active_members(store).values(), key=lambda m: m.email):
            words = [member.email.lower(), *member.name.lower().split()]
            if wanted and not any(word.startswith(wanted) for word in words):
                continue
            if can_read(store, member_guard(store, member), object_name, record["id"], conn):
                found.append({"email": member.email, "name": member.name})
            if len(found) == SUGGESTIONS:
                break
    return found
