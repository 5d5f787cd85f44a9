"""Tenant namespace: the import runs and saved import mappings
(:mod:`metacrm.data.imports.tables`).

Revision ID: di0001
"""

import sqlalchemy as sa
from alembic import op

from metacrm.platform.migrations import target_schema

revision = "di0001"
down_revision = None
branch_labels = ("data_imports",)
depends_on = None


def upgrade() -> None:
    schema = target_schema()
    tz = sa.DateTime(timezone=True)
    op.create_table(
        "imports",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("object", sa.String(63), nullable=False),
        sa.Column("file_name", sa.String(255), nullable=False),
        sa.Column("file_path", sa.String(1000), nullable=False),
        sa.Column("mapping", sa.JSON, nullable=True),
        sa.Column("mode", sa.String(10), nullable=False, server_default="insert"),
        sa.Column("key", sa.String(63), nullable=True),
        sa.Column("dry_run", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("status", sa.String(10), nullable=False, server_default="draft"),
        sa.Column("message", sa.String(2000), nullable=True),
        sa.Column("total", sa.Integer, nullable=False, server_default="0"),
        sa.Column("processed", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created", sa.Integer, nullable=False, server_default="0"),
        sa.Column("updated", sa.Integer, nullable=False, server_default="0"),
        sa.Column("failed", sa.Integer, nullable=False, server_default="0"),
        sa.Column("errors", sa.JSON, nullable=True),
        sa.Column("failed_path", sa.String(1000), nullable=True),
        sa.Column("created_by", sa.Integer, nullable=True),
        sa.Column("created_at", tz, nullable=False),
        sa.Column("started_at", tz, nullable=True),
        sa.Column("finished_at", tz, nullable=True),
        schema=schema,
    )
    op.create_index("ix_imports_created_by", "imports", ["created_by", "id"], schema=schema)
    op.create_table(
        "import_mappings",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("object", sa.String(63), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("columns", sa.JSON, nullable=False),
        sa.Column("created_by", sa.Integer, nullable=True),
        sa.Column("updated_at", tz, nullable=False),
        sa.UniqueConstraint("object", "name", name="uq_import_mappings_object_name"),
        schema=schema,
    )


def downgrade() -> None:
    schema = target_schema()
    op.drop_table("import_mappings", schema=schema)
    op.drop_table("imports", schema=schema)
