"""Tenant namespace: approval requests, their step decisions and history
(:mod:`metacrm.data.approvals.tables`).

Revision ID: ap0001
"""

import sqlalchemy as sa
from alembic import op

from metacrm.platform.migrations import target_schema

revision = "ap0001"
down_revision = None
branch_labels = ("data_approvals",)
depends_on = None


def upgrade() -> None:
    schema = target_schema()
    tz = sa.DateTime(timezone=True)
    big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "approval_requests",
        sa.Column("id", big_id, primary_key=True, autoincrement=True),
        sa.Column("object", sa.String(63), nullable=False),
        sa.Column("record_id", sa.BigInteger, nullable=False),
        sa.Column("process", sa.String(63), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("step", sa.Integer, nullable=False),
        sa.Column("submitted_by", sa.Integer, nullable=False),
        sa.Column("submitted_at", tz, nullable=False),
        sa.Column("comment", sa.Text, nullable=True),
        sa.Column("decided_at", tz, nullable=True),
        schema=schema,
    )
    op.create_index(
        "ix_approval_requests_record", "approval_requests", ["object", "record_id", "status"], schema=schema
    )
    op.create_table(
        "approval_tasks",
        sa.Column("id", big_id, primary_key=True, autoincrement=True),
        sa.Column("request_id", sa.BigInteger, nullable=False),
        sa.Column("step", sa.Integer, nullable=False),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("comment", sa.Text, nullable=True),
        sa.Column("created_at", tz, nullable=False),
        sa.Column("decided_at", tz, nullable=True),
        schema=schema,
    )
    op.create_index("ix_approval_tasks_user", "approval_tasks", ["user_id", "status"], schema=schema)
    op.create_index("ix_approval_tasks_request", "approval_tasks", ["request_id", "step"], schema=schema)
    op.create_table(
        "approval_history",
        sa.Column("id", big_id, primary_key=True, autoincrement=True),
        sa.Column("request_id", sa.BigInteger, nullable=False),
        sa.Column("at", tz, nullable=False),
        sa.Column("user_id", sa.Integer, nullable=True),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("step", sa.Integer, nullable=True),
        sa.Column("comment", sa.Text, nullable=True),
        schema=schema,
    )
    op.create_index("ix_approval_history_request", "approval_history", ["request_id", "id"], schema=schema)
