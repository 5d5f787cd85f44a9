"""Tenant namespace: the list views a user saved for themself.

Revision ID: uv0001
"""

import sqlalchemy as sa
from alembic import op

from metacrm.platform.migrations import target_schema

revision = "uv0001"
down_revision = None
branch_labels = ("ui_personal_views",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "personal_list_views",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("object", sa.String(63), nullable=False),
        sa.Column("label", sa.String(120), nullable=False),
        sa.Column("query", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("user_id", "object", "label", name="uq_personal_list_views_label"),
        schema=target_schema(),
    )


def downgrade() -> None:
    op.drop_table("personal_list_views", schema=target_schema())
