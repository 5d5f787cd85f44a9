"""Platform namespace: TOTP two-factor authentication of users.

Revision ID: p0003
"""

import sqlalchemy as sa
from alembic import op

from metacrm.platform.migrations import target_schema

revision = "p0003"
down_revision = "p0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    schema = target_schema()
    prefix = f"{schema}." if schema else ""
    tz = sa.DateTime(timezone=True)
    op.create_table(
        "user_totp",
        sa.Column("user_id", sa.Integer, sa.ForeignKey(f"{prefix}users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("secret", sa.String(64), nullable=False),
        sa.Column("confirmed_at", tz, nullable=True),
        sa.Column("recovery_codes", sa.JSON, nullable=False),
        sa.Column("last_used_step", sa.BigInteger, nullable=True),
        sa.Column("created_at", tz, nullable=False),
        schema=schema,
    )


def downgrade() -> None:
    op.drop_table("user_totp", schema=target_schema())
