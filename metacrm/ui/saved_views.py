"""Personal list views: a user's own saved lists of an object.

A shared list view is metadata (a ``list_view`` definition an admin edits);
a personal one is a row of the tenant table ``personal_list_views``
(migration ``metacrm/ui/migrations``), because it belongs to one user and
must not move the tenant's metadata revision. It keeps the list's URL
query (view, filters, where, q, sort, fields) — URLs are the list's state
(UI.md §1.5) — so choosing it is following a link.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

import sqlalchemy as sa
from werkzeug.datastructures import MultiDict

from metacrm.platform.clock import utcnow
from metacrm.platform.database import TenantBinding
from metacrm.platform.errors import Conflict, NotFound, ValidationFailed

MAX_LABEL = 120
MAX_PER_OBJECT = 50
# What a saved view remembers of the URL (never the page: a cursor goes stale).
KEPT = ("view", "q", "where", "sort", "fields")

personal_list_views = sa.Table(
    "personal_list_views",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user_id", sa.Integer, nullable=False),
    sa.Column("object", sa.String(63), nullable=False),
    sa.Column("label", sa.String(MAX_LABEL), nullable=False),
    sa.Column("query", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True)
class PersonalView:
    id: int
    label: str
    query: str


def query_of(args: MultiDict) -> str:
    """The part of a list's query string a saved view keeps."""
    kept = [(k, v) for k, v in args.items(multi=True) if (k in KEPT or k.startswith("filter.")) and v]
    return urlencode(kept)


def views_of(binding: TenantBinding, user_id: int, object_name: str) -> list[PersonalView]:
    table = personal_list_views
    with binding.connect() as conn:
        rows = conn.execute(
            sa.select(table.c.id, table.c.label, table.c.query)
            .where(table.c.user_id == user_id, table.c.object == object_name)
            .order_by(table.c.label)
        ).all()
    return [PersonalView(row.id, row.label, row.query) for row in rows]


def save_view(binding: TenantBinding, user_id: int, object_name: str, label: str, query: str) -> PersonalView:
    """Save (or, under a label the user already has, replace) a view."""
    label = (label or "").strip()
    if not label or len(label) > MAX_LABEL:
        raise ValidationFailed(
            f"name the view (at most {MAX_LABEL} characters)", details={"fields": {"label": ["is required"]}}
        )
    table = personal_list_views
    mine = sa.and_(table.c.user_id == user_id, table.c.object == object_name)
    with binding.begin() as conn:
        existing = conn.execute(sa.select(table.c.id).where(mine, table.c.label == label)).scalar()
        if existing is not None:
            conn.execute(table.update().where(table.c.id == existing).values(query=query))
            return PersonalView(existing, label, query)
        count = conn.execute(sa.select(sa.func.count()).select_from(table).where(mine)).scalar()
        if count >= MAX_PER_OBJECT:
            raise Conflict(f"at most {MAX_PER_OBJECT} views per object; delete one first")
        new_id = conn.execute(
            table.insert().values(user_id=user_id, object=object_name, label=label, query=query, created_at=utcnow())
        ).inserted_primary_key[0]
    return PersonalView(new_id, label, query)


def delete_view(binding: TenantBinding, user_id: int, object_name: str, view_id: int) -> None:
    """Delete one of the user's own views (another user's is "not found")."""
    table = personal_list_views
    with binding.begin() as conn:
        deleted = conn.execute(
            table.delete().where(table.c.id == view_id, table.c.user_id == user_id, table.c.object == object_name)
        ).rowcount
    if not deleted:
        raise NotFound(f"no saved view {view_id}")


@dataclass(frozen=True)
class UsersView:
    """A personal view as setup lists it: whose it is, too."""

    id: int
    user_id: int
    label: str
    query: str


def views_of_everyone(binding: TenantBinding, object_name: str) -> list[UsersView]:
    """Every user's personal views of an object (for setup: promoting one to a shared view)."""
    table = personal_list_views
    with binding.connect() as conn:
        rows = conn.execute(
            sa.select(table.c.id, table.c.user_id, table.c.label, table.c.query)
            .where(table.c.object == object_name)
            .order_by(table.c.label, table.c.id)
        ).all()
    return [UsersView(row.id, row.user_id, row.label, row.query) for row in rows]


def view_by_id(binding: TenantBinding, object_name: str, view_id: int) -> UsersView:
    table = personal_list_views
    with binding.connect() as conn:
        row = conn.execute(
            sa.select(table.c.id, table.c.user_id, table.c.label, table.c.query).where(
                table.c.id == view_id, table.c.object == object_name
            )
        ).first()
    if row is None:
        raise NotFound(f"no saved view {view_id}")
    return UsersView(row.id, row.user_id, row.label, row.query)
