"""Tenant namespace: the field a public pool's reclaim measures "no
follow-up" by (``pools.follow_up_field``; NULL keeps ``updated_at``).

Revision ID: cv0001
"""

import sqlalchemy as sa
from alembic import op

from metacrm.platform.migrations import target_schema

revision = "cv0001"
down_revision = "a0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    schema = target_schema()
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("pools", schema=schema)}
    if "follow_up_field" not in columns:  # a0002 creates it in a namespace it seeds with today's tables
        op.add_column("pools", sa.Column("follow_up_field", sa.String(63), nullable=True), schema=schema)
