"""Tenant namespace: the append-only audit log.

Revision ID: t0001
"""

import sqlalchemy as sa
from alembic import op

from metacrm.platform.migrations import target_schema

revision = "t0001"
down_revision = None
branch_labels = ("tenant_platform",)
depends_on = None


def upgrade() -> None:
    schema = target_schema()
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Integer, nullable=True),
        sa.Column("actor_email", sa.String(254), nullable=True),
        sa.Column("action", sa.String(60), nullable=False),
        sa.Column("object", sa.String(63), nullable=True),
        sa.Column("record_id", sa.String(64), nullable=True),
        sa.Column("details", sa.JSON, nullable=True),
        sa.Column("ip", sa.String(45), nullable=True),
        sa.Column("request_id", sa.String(36), nullable=True),
        schema=schema,
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"], schema=schema)
    op.create_index("ix_audit_log_action", "audit_log", ["action"], schema=schema)
    op.create_index("ix_audit_log_object_record", "audit_log", ["object", "record_id"], schema=schema)

    # Append-only, enforced by the database itself.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"""
            CREATE FUNCTION "{schema}".audit_log_is_append_only() RETURNS trigger AS $$
            BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$ LANGUAGE plpgsql
            """
        )
        op.execute(
            f"""
            CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON "{schema}".audit_log
            FOR EACH ROW EXECUTE FUNCTION "{schema}".audit_log_is_append_only()
            """
        )
    else:
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"""
                CREATE TRIGGER audit_log_no_{event.lower()} BEFORE {event} ON audit_log
                BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END
                """
            )
