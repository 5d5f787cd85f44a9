"""Recently viewed records: each successful GET of a record page is noted
(an ``after_request`` hook, so the record page itself knows nothing of it)
in the tenant table ``recent_views`` (migration branch ``ui``), and the
start page lists the latest ones the user can still read, their names read
through the record store.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Response, g, request

from metacrm.platform.clock import utcnow
from metacrm.plugins import context
from metacrm.plugins.records import ListRequest, list_page
from metacrm.ui.blueprint import blueprint

KEEP = 30  # rows kept per user; the start page shows fewer
RECORD_ENDPOINT = "ui.record_page"

recent_views = sa.Table(
    "recent_views",
    sa.MetaData(),
    sa.Column("user_id", sa.Integer, primary_key=True),
    sa.Column("object", sa.String(63), primary_key=True),
    sa.Column("record_id", sa.BigInteger, primary_key=True),
    sa.Column("viewed_at", sa.DateTime(timezone=True), nullable=False),
)


@blueprint.after_request
def _note_record_view(response: Response) -> Response:
    args = request.view_args or {}
    identity = g.get("identity")
    if (
        request.endpoint == RECORD_ENDPOINT
        and request.method == "GET"
        and response.status_code == 200
        and identity is not None
        and identity.user_id is not None
        and isinstance(args.get("record_id"), int)
    ):
        note_view(identity.user_id, str(args.get("object")), args["record_id"])
    return response


def note_view(user_id: int, object_name: str, record_id: int) -> None:
    """Put (user, record) on top of the user's list, keeping the newest KEEP."""
    mine = recent_views.c.user_id == user_id
    this = sa.and_(mine, recent_views.c.object == object_name, recent_views.c.record_id == record_id)
    with g.tenant.begin() as conn:
        conn.execute(recent_views.delete().where(this))
        conn.execute(
            recent_views.insert().values(user_id=user_id, object=object_name, record_id=record_id, viewed_at=utcnow())
        )
        oldest_kept = (
            sa.select(recent_views.c.viewed_at)
            .where(mine)
            .order_by(recent_views.c.viewed_at.desc())
            .offset(KEEP - 1)
            .limit(1)
            .scalar_subquery()
        )
        conn.execute(recent_views.delete().where(mine, recent_views.c.viewed_at < oldest_kept))


def recently_viewed(user_id: int, limit: int = 8) -> list[dict[str, Any]]:
    """The user's latest record views, newest first, as ``{obj, id,
    name}``: only records the user can still read (through the store), of
    objects that still exist."""
    with g.tenant.connect() as conn:
        rows = conn.execute(
            sa.select(recent_views.c.object, recent_views.c.record_id)
            .where(recent_views.c.user_id == user_id)
            .order_by(recent_views.c.viewed_at.desc())
            .limit(KEEP)
        ).all()
    wanted: dict[str, list[int]] = {}
    for object_name, record_id in rows:
        wanted.setdefault(object_name, []).append(record_id)
    store, guard, model = context.store(), context.guard(), context.model()
    found: dict[tuple[str, int], dict[str, Any]] = {}
    for object_name, ids in wanted.items():
        obj = model.object(object_name)
        if obj is None or not guard.permits("read", obj):
            continue
        name_field = obj.name_field if obj.name_field in guard.readable_fields(obj) else None
        request = ListRequest(
            filters=(("id", "in", [str(i) for i in ids]),), fields=[name_field] if name_field else [], limit=len(ids)
        )
        for record in list_page(store, object_name, request).data:
            name = record.get(name_field) if name_field else None
            found[(object_name, record["id"])] = {"obj": obj, "id": record["id"], "name": name}
    shown = [found[(o, r)] for o, r in rows if (o, r) in found]
    return shown[:limit]
