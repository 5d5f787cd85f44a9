"""Tables collaboration keeps in every tenant namespace (Alembic branch
``collaboration``, ``metacrm/plugins/collaboration/migrations``).

* ``record_comments`` — a comment on one record of any object; ``mentions``
  holds the ids of the members it notified.
* ``record_followers`` — who follows which record.
"""

from __future__ import annotations

import sqlalchemy as sa

collaboration_tables = sa.MetaData()
TZ = sa.DateTime(timezone=True)
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

record_comments = sa.Table(
    "record_comments",
    collaboration_tables,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("object", sa.String(63), nullable=False),
    sa.Column("record_id", sa.BigInteger, nullable=False),
    sa.Column("author_id", sa.Integer, nullable=False),
    sa.Column("author_email", sa.String(320), nullable=True),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("mentions", sa.JSON, nullable=False),
    sa.Column("created_at", TZ, nullable=False),
    sa.Column("edited_at", TZ, nullable=True),
    sa.Index("ix_record_comments_record", "object", "record_id", "created_at"),
)

record_followers = sa.Table(
    "record_followers",
    collaboration_tables,
    sa.Column("object", sa.String(63), primary_key=True),
    sa.Column("record_id", sa.BigInteger, primary_key=True),
    sa.Column("user_id", sa.Integer, primary_key=True),
    sa.Column("created_at", TZ, nullable=False),
)
