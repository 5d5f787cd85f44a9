"""Platform namespace: each user's language and time zone for the screens.

Revision ID: p0004
"""

import sqlalchemy as sa
from alembic import op

from metacrm.platform.migrations import target_schema

revision = "p0004"
down_revision = "p0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    schema = target_schema()
    op.add_column("users", sa.Column("locale", sa.String(16), nullable=True), schema=schema)
    op.add_column("users", sa.Column("time_zone", sa.String(64), nullable=True), schema=schema)


def downgrade() -> None:
    schema = target_schema()
    with op.batch_alter_table("users", schema=schema) as batch:
        batch.drop_column("time_zone")
        batch.drop_column("locale")
