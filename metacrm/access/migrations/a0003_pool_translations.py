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
    op.add_column("pools", sa.Column("translations", sa.JSON, nullable=True), schema=target_schema())
