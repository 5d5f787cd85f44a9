"""Tables marketing keeps in every tenant namespace (migration ``mk0001``,
Alembic branch ``data_marketing``).

* ``marketing_form_posts`` — when each public form post arrived and from
  which address (a keyed hash, not the address), for the per-IP limit;
  rows older than a day are removed as new posts arrive.
* ``marketing_sends`` — one row per mass e-mail: who sent which template
  to which campaign, how many were queued and skipped.
"""

from __future__ import annotations

import sqlalchemy as sa

marketing_tables = sa.MetaData()
TZ = sa.DateTime(timezone=True)
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

marketing_form_posts = sa.Table(
    "marketing_form_posts",
    marketing_tables,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("form", sa.String(63), nullable=False),
    sa.Column("client", sa.String(64), nullable=False),
    sa.Column("at", TZ, nullable=False),
    sa.Column("accepted", sa.Boolean, nullable=False),
    sa.Index("ix_marketing_form_posts_client", "client", "at"),
)

marketing_sends = sa.Table(
    "marketing_sends",
    marketing_tables,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("campaign_id", sa.BigInteger, nullable=False),
    sa.Column("template", sa.String(63), nullable=False),
    sa.Column("segment", sa.String(130), nullable=True),
    sa.Column("queued", sa.Integer, nullable=False),
    sa.Column("skipped", sa.Integer, nullable=False),
    sa.Column("first_at", TZ, nullable=False),
    sa.Column("last_at", TZ, nullable=False),
    sa.Column("sent_by", sa.Integer, nullable=True),
    sa.Column("created_at", TZ, nullable=False),
)
