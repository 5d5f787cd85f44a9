"""Tenant namespace: what an import does with likely duplicates, and how
many rows it skipped or flagged (:mod:`metacrm.data.imports.tables`).

Revision ID: di0002
"""

import sqlalchemy as sa
from alembic import op

from metacrm.platform.migrations import target_schema

revision = "di0002"
down_revision = "di0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    schema = target_schema()
    duplicates = sa.Column("duplicates", sa.String(10), nullable=False, server_default="allow")
    op.add_column("imports", duplicates, schema=schema)
    op.add_column("imports", sa.Column("skipped", sa.Integer, nullable=False, server_default="0"), schema=schema)
    op.add_column("imports", sa.Column("flagged", sa.Integer, nullable=False, server_default="0"), schema=schema)


def downgrade() -> None:
    schema = target_schema()
    with op.batch_alter_table("imports", schema=schema) as batch:
        batch.drop_column("flagged")
        batch.drop_column("skipped")
        batch.drop_column("duplicates")
