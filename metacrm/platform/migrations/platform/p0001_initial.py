"""Platform namespace: tenant directory, users, memberships, API tokens,
sign-in attempts.

Revision ID: p0001
"""

import sqlalchemy as sa
from alembic import op

from metacrm.platform.migrations import target_schema

revision = "p0001"
down_revision = None
branch_labels = ("platform",)
depends_on = None


def upgrade() -> None:
    schema = target_schema()
    tz = sa.DateTime(timezone=True)
    op.create_table(
        "tenants",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("slug", sa.String(40), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("status", sa.String(20), nullable=False, server_default="active"),
        sa.Column("created_at", tz, nullable=False),
        schema=schema,
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.String(254), nullable=False, unique=True),
        sa.Column("display_name", sa.String(200), nullable=False, server_default=""),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("is_active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("session_epoch", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", tz, nullable=False),
        schema=schema,
    )
    prefix = f"{schema}." if schema else ""
    op.create_table(
        "memberships",
        sa.Column("user_id", sa.Integer, sa.ForeignKey(f"{prefix}users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("tenant_id", sa.Integer, sa.ForeignKey(f"{prefix}tenants.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("is_admin", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("role", sa.String(63), nullable=True),
        sa.Column("created_at", tz, nullable=False),
        schema=schema,
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey(f"{prefix}users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("tenant_id", sa.Integer, sa.ForeignKey(f"{prefix}tenants.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(100), nullable=False, server_default=""),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", tz, nullable=False),
        sa.Column("last_used_at", tz, nullable=True),
        sa.Column("revoked_at", tz, nullable=True),
        schema=schema,
    )
    op.create_table(
        "login_attempts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("ip", sa.String(45), nullable=False),
        sa.Column("succeeded", sa.Boolean, nullable=False),
        sa.Column("at", tz, nullable=False),
        schema=schema,
    )
    for column in ("email", "ip", "at"):
        op.create_index(f"ix_login_attempts_{column}", "login_attempts", [column], schema=schema)
