"""Platform namespace: per-tenant settings (the password policy).

Revision ID: p0002
"""

import sqlalchemy as sa
from alembic import op

from metacrm.platform.migrations import target_schema

revision = "p0002"
down_revision = "p0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    schema = target_schema()
    prefix = f"{schema}." if schema else ""
    op.create_table(
        "tenant_settings",
        sa.Column("tenant_id", sa.Integer, sa.ForeignKey(f"{prefix}tenants.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("key", sa.String(63), primary_key=True),
        sa.Column("value", sa.JSON, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        schema=schema,
    )


def downgrade() -> None:
    op.drop_table("tenant_settings", schema=target_schema())
