"""Tenant namespace: metadata definitions, revisions, auto-number counters.

Revision ID: m0001
"""

import sqlalchemy as sa
from alembic import op

from metacrm.platform.migrations import target_schema

revision = "m0001"
down_revision = None
branch_labels = ("metadata",)
depends_on = None


def upgrade() -> None:
    schema = target_schema()
    tz = sa.DateTime(timezone=True)
    op.create_table(
        "meta_head",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("revision", sa.Integer, nullable=False),
        schema=schema,
    )
    head = sa.table("meta_head", sa.column("id"), sa.column("revision"), schema=schema)
    op.bulk_insert(head, [{"id": 1, "revision": 0}])
    op.create_table(
        "meta_definitions",
        sa.Column("kind", sa.String(30), primary_key=True),
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("document", sa.JSON, nullable=False),
        sa.Column("deleted_at", tz, nullable=True),
        sa.Column("revision", sa.Integer, nullable=False),
        schema=schema,
    )
    op.create_table(
        "meta_revisions",
        sa.Column("revision", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("at", tz, nullable=False),
        sa.Column("actor_id", sa.Integer, nullable=True),
        sa.Column("actor_email", sa.String(254), nullable=True),
        sa.Column("summary", sa.String(500), nullable=False),
        sa.Column("changes", sa.JSON, nullable=False),
        schema=schema,
    )
    op.create_table(
        "autonumber_counters",
        sa.Column("object", sa.String(63), primary_key=True),
        sa.Column("field", sa.String(63), primary_key=True),
        sa.Column("next_value", sa.BigInteger, nullable=False),
        schema=schema,
    )
