"""Tenant namespace: automation run log, outbox, notifications, round-robin
rotations, scheduled-run marks and webhook secrets
(metacrm/rules/automation/tables.py).

Revision ID: r0001
"""

import sqlalchemy as sa
from alembic import op

from metacrm.platform.migrations import target_schema

revision = "r0001"
down_revision = None
branch_labels = ("rules",)
depends_on = None


def upgrade() -> None:
    schema = target_schema()
    tz = sa.DateTime(timezone=True)
    big = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "automation_runs",
        sa.Column("id", big, primary_key=True, autoincrement=True),
        sa.Column("rule", sa.String(130), nullable=False),
        sa.Column("object", sa.String(63), nullable=False),
        sa.Column("record_id", sa.BigInteger, nullable=True),
        sa.Column("trigger", sa.String(30), nullable=False),
        sa.Column("result", sa.String(10), nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("actions", sa.JSON, nullable=False),
        sa.Column("at", tz, nullable=False),
        sa.Column("duration_ms", sa.Float, nullable=False),
        schema=schema,
    )
    op.create_index("ix_automation_runs_rule_at", "automation_runs", ["rule", "at"], schema=schema)
    op.create_index("ix_automation_runs_record", "automation_runs", ["object", "record_id"], schema=schema)
    op.create_table(
        "automation_outbox",
        sa.Column("id", big, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("rule", sa.String(130), nullable=False),
        sa.Column("object", sa.String(63), nullable=False),
        sa.Column("record_id", sa.BigInteger, nullable=True),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", tz, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("created_at", tz, nullable=False),
        sa.Column("delivered_at", tz, nullable=True),
        schema=schema,
    )
    op.create_index("ix_automation_outbox_status", "automation_outbox", ["status", "next_attempt_at"], schema=schema)
    op.create_table(
        "notifications",
        sa.Column("id", big, primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("rule", sa.String(130), nullable=True),
        sa.Column("object", sa.String(63), nullable=True),
        sa.Column("record_id", sa.BigInteger, nullable=True),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("created_at", tz, nullable=False),
        sa.Column("read_at", tz, nullable=True),
        schema=schema,
    )
    op.create_index("ix_notifications_user", "notifications", ["user_id", "read_at"], schema=schema)
    op.create_table(
        "automation_rotation",
        sa.Column("rotation", sa.String(200), primary_key=True),
        sa.Column("last_user_id", sa.Integer, nullable=True),
        sa.Column("updated_at", tz, nullable=False),
        schema=schema,
    )
    op.create_table(
        "automation_schedule",
        sa.Column("rule", sa.String(130), primary_key=True),
        sa.Column("record_id", sa.BigInteger, primary_key=True),
        sa.Column("due_at", tz, primary_key=True),
        sa.Column("ran_at", tz, nullable=False),
        schema=schema,
    )
    op.create_table(
        "automation_secrets",
        sa.Column("rule", sa.String(130), primary_key=True),
        sa.Column("secret", sa.String(100), nullable=False),
        sa.Column("created_at", tz, nullable=False),
        schema=schema,
    )


def downgrade() -> None:
    schema = target_schema()
    for table in (
        "automation_secrets",
        "automation_schedule",
        "automation_rotation",
        "notifications",
        "automation_outbox",
        "automation_runs",
    ):
        op.drop_table(table, schema=schema)
