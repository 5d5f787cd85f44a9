"""Tenant namespace: comments on records and record followers
(:mod:`metacrm.plugins.collaboration.tables`).

Revision ID: co0001
"""

import sqlalchemy as sa
from alembic import op

from metacrm.platform.migrations import target_schema

revision = "co0001"
down_revision = None
branch_labels = ("collaboration",)
depends_on = None


def upgrade() -> None:
    schema = target_schema()
    tz = sa.DateTime(timezone=True)
    op.create_table(
        "record_comments",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("object", sa.String(63), nullable=False),
        sa.Column("record_id", sa.BigInteger, nullable=False),
        sa.Column("author_id", sa.Integer, nullable=False),
        sa.Column("author_email", sa.String(320), nullable=True),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("mentions", sa.JSON, nullable=False),
        sa.Column("created_at", tz, nullable=False),
        sa.Column("edited_at", tz, nullable=True),
        schema=schema,
    )
    op.create_index(
        "ix_record_comments_record", "record_comments", ["object", "record_id", "created_at"], schema=schema
    )
    op.create_table(
        "record_followers",
        sa.Column("object", sa.String(63), primary_key=True),
        sa.Column("record_id", sa.BigInteger, primary_key=True),
        sa.Column("user_id", sa.Integer, primary_key=True),
        sa.Column("created_at", tz, nullable=False),
        schema=schema,
    )
