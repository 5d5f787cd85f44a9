"""Tenant namespace: a public pool's label in other languages
(``pools.translations``, as metadata labels: {"zh_CN": {"label": "线索公海"}}).

Revision ID: a0003
"""

import sqlalchemy as sa
from alembic import op

from metacrm.platform.migrations import target_schema

revision = "a0003"
down_revision = "a0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    schema = target_schema()
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("pools", schema=schema)}
    if "translations" not in columns:  # a namespace migrated by a0002 before it created the column
        op.add_column("pools", sa.Column("translations", sa.JSON, nullable=True), schema=schema)
