"""Tenant namespace: marketing's form-post log and mass e-mail sends
(:mod:`metacrm.data.marketing.tables`).

Revision ID: mk0001
"""

import sqlalchemy as sa
from alembic import op

from metacrm.platform.migrations import target_schema

revision = "mk0001"
down_revision = None
branch_labels = ("data_marketing",)
depends_on = None


def upgrade() -> None:
    schema = target_schema()
    tz = sa.DateTime(timezone=True)
    big = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "marketing_form_posts",
        sa.Column("id", big, primary_key=True, autoincrement=True),
        sa.Column("form", sa.String(63), nullable=False),
        sa.Column("client", sa.String(64), nullable=False),
        sa.Column("at", tz, nullable=False),
        sa.Column("accepted", sa.Boolean, nullable=False),
        schema=schema,
    )
    op.create_index("ix_marketing_form_posts_client", "marketing_form_posts", ["client", "at"], schema=schema)
    op.create_table(
        "marketing_sends",
        sa.Column("id", big, primary_key=True, autoincrement=True),
        sa.Column("campaign_id", sa.BigInteger, nullable=False),
        sa.Column("template", sa.String(63), nullable=False),
        sa.Column("segment", sa.String(130), nullable=True),
        sa.Column("queued", sa.Integer, nullable=False),
        sa.Column("skipped", sa.Integer, nullable=False),
        sa.Column("first_at", tz, nullable=False),
        sa.Column("last_at", tz, nullable=False),
        sa.Column("sent_by", sa.Integer, nullable=True),
        sa.Column("created_at", tz, nullable=False),
        schema=schema,
    )
