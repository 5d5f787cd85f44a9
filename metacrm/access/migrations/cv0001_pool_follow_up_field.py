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
    op.add_column("pools", sa.Column("follow_up_field", sa.String(63), nullable=True), schema=target_schema())
