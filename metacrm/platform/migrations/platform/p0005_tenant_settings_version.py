"""Platform namespace: a version of each tenant's settings, read with the
identity, so a request finds the settings in a cache instead of a query.

Revision ID: p0005
"""

import sqlalchemy as sa
from alembic import op

from metacrm.platform.migrations import target_schema

revision = "p0005"
down_revision = "p0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "tenants",
        sa.Column("settings_version", sa.Integer, nullable=False, server_default="0"),
        schema=target_schema(),
    )


def downgrade() -> None:
    with op.batch_alter_table("tenants", schema=target_schema()) as batch:
        batch.drop_column("settings_version")
