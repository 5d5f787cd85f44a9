"""Tenant namespace: sharing rules, who reports to whom, role translations.

* ``sharing_rules``: owner-based ("records owned by role R / team T are
  shared with role R2 / team T2") and criteria-based ("records of O matching
  a rule-language condition are shared with …") rules, at read or edit;
* ``member_managers``: each member's manager (one row per member who has one);
* ``roles.translations``: a role's label in other languages ({"zh_CN": "销售代表"});
* ``invitations``: e-mailed one-time links with which an invited user sets their password.

Revision ID: a0004
"""

import sqlalchemy as sa
from alembic import op

from metacrm.platform.migrations import target_schema

revision = "a0004"
down_revision = "a0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_a0004(op, target_schema())


def create_a0004(op, schema) -> None:
    """What a0004 creates, where it is missing (a0002 calls it too: its seeding
    of an older tenant reads the policy through today's table definitions)."""
    inspector = sa.inspect(op.get_bind())
    present = set(inspector.get_table_names(schema=schema))
    name = sa.String(63)
    if "sharing_rules" not in present:
        op.create_table(
            "sharing_rules",
            sa.Column("api_name", name, primary_key=True),
            sa.Column("object", name, nullable=False),
            sa.Column("label", sa.String(200), nullable=False),
            sa.Column("kind", sa.String(10), nullable=False),
            sa.Column("owner_kind", sa.String(30), nullable=True),
            sa.Column("owner_name", name, nullable=True),
            sa.Column("condition", sa.Text, nullable=True),
            sa.Column("share_kind", sa.String(30), nullable=False),
            sa.Column("share_name", name, nullable=False),
            sa.Column("access", sa.String(10), nullable=False),
            schema=schema,
        )
    if "member_managers" not in present:
        op.create_table(
            "member_managers",
            sa.Column("user_id", sa.Integer, primary_key=True),
            sa.Column("manager_id", sa.Integer, nullable=False),
            schema=schema,
        )
    if "invitations" not in present:
        op.create_table(
            "invitations",
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("user_id", sa.Integer, nullable=False),
            sa.Column("email", sa.String(320), nullable=False),
            sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
            sa.Column("invited_by", sa.Integer, nullable=True),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
            schema=schema,
        )
    columns = {c["name"] for c in inspector.get_columns("roles", schema=schema)}
    if "translations" not in columns:
        op.add_column("roles", sa.Column("translations", sa.JSON, nullable=True), schema=schema)
