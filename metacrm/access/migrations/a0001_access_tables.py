"""Tenant namespace: the access layer's tables (policy rules, roles, teams,
assignments, field permissions, org-wide defaults, record shares).

A namespace that already holds a tenant (one created before the access layer
existed: its audit log is not empty) gets the standard roles in ``a0002``; a
new one gets them from the ``tenant_created`` hook, and an imported one from
its export file.

Revision ID: a0001
"""

import sqlalchemy as sa
from alembic import op

from metacrm.platform.migrations import target_schema

revision = "a0001"
down_revision = None
branch_labels = ("access",)
# The seeding of existing tenants writes the audit log and a metadata definition.
depends_on = ("t0001", "m0001")


def upgrade() -> None:
    schema = target_schema()
    tz = sa.DateTime(timezone=True)
    name = sa.String(63)
    op.create_table(
        "casbin_rule",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("ptype", sa.String(255)),
        sa.Column("v0", sa.String(255)),
        sa.Column("v1", sa.String(255)),
        sa.Column("v2", sa.String(255)),
        sa.Column("v3", sa.String(255)),
        sa.Column("v4", sa.String(255)),
        sa.Column("v5", sa.String(255)),
        schema=schema,
    )
    op.create_index("ix_casbin_rule_ptype_v0", "casbin_rule", ["ptype", "v0"], schema=schema)
    op.create_table(
        "roles",
        sa.Column("api_name", name, primary_key=True),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("description", sa.String(1000), nullable=False, server_default=""),
        sa.Column("parent_role", name, nullable=True),
        schema=schema,
    )
    op.create_table(
        "access_members",
        sa.Column("user_id", sa.Integer, primary_key=True),
        sa.Column("provisioned_at", tz, nullable=False),
        schema=schema,
    )
    op.create_table(
        "user_roles",
        sa.Column("user_id", sa.Integer, primary_key=True),
        sa.Column("role", name, primary_key=True),
        schema=schema,
    )
    op.create_index("ix_user_roles_role", "user_roles", ["role"], schema=schema)
    op.create_table(
        "teams",
        sa.Column("api_name", name, primary_key=True),
        sa.Column("label", sa.String(200), nullable=False),
        schema=schema,
    )
    op.create_table(
        "team_members",
        sa.Column("team", name, primary_key=True),
        sa.Column("user_id", sa.Integer, primary_key=True),
        schema=schema,
    )
    op.create_index("ix_team_members_user_id", "team_members", ["user_id"], schema=schema)
    op.create_table(
        "field_permissions",
        sa.Column("role", name, primary_key=True),
        sa.Column("object", name, primary_key=True),
        sa.Column("field", name, primary_key=True),
        sa.Column("access", sa.String(10), nullable=False),
        schema=schema,
    )
    op.create_table(
        "object_settings",
        sa.Column("object", name, primary_key=True),
        sa.Column("org_wide_default", sa.String(20), nullable=False),
        schema=schema,
    )
    op.create_table(
        "record_shares",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("object", name, nullable=False),
        sa.Column("record_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("user_id", sa.Integer, nullable=True),
        sa.Column("team", name, nullable=True),
        sa.Column("access", sa.String(10), nullable=False),
        sa.Column("granted_by", sa.Integer, nullable=True),
        sa.Column("at", tz, nullable=False),
        schema=schema,
    )
    op.create_index("ix_record_shares_record", "record_shares", ["object", "record_id"], schema=schema)
    op.create_index("ix_record_shares_user", "record_shares", ["user_id"], schema=schema)
    op.create_index("ix_record_shares_team", "record_shares", ["team"], schema=schema)

    # A namespace that already holds a tenant gets the standard roles from
    # a0002, once every table the compiled policy reads exists.
