"""Tenant namespace: the records each user opened last (metacrm/ui/recent.py),
for the start page's "recently viewed".

Revision ID: u0001
"""

import sqlalchemy as sa
from alembic import op

from metacrm.platform.migrations import target_schema

revision = "u0001"
down_revision = None
branch_labels = ("ui",)
depends_on = None


def upgrade() -> None:
    schema = target_schema()
    op.create_table(
        "recent_views",
        sa.Column("user_id", sa.Integer, primary_key=True),
        sa.Column("object", sa.String(63), primary_key=True),
        sa.Column("record_id", sa.BigInteger, primary_key=True),
        sa.Column("viewed_at", sa.DateTime(timezone=True), nullable=False),
        schema=schema,
    )
    op.create_index("ix_recent_views_user_at", "recent_views", ["user_id", "viewed_at"], schema=schema)


def downgrade() -> None:
    op.drop_table("recent_views", schema=target_schema())
