"""Tenant namespace: condition scopes, public pools and the transfer right.

* ``scope_conditions``: the text of each rule-language record scope;
* ``pools``, ``pool_access``, ``pool_records``, ``pool_claims``: public
  pools, who works and administers them, the records in them and the
  records claimed from them;
* the ``transfer`` action (change a record's owner) for the standard roles
  that have it (admin, sales_manager) in a tenant seeded before it existed;
  the standard roles for a tenant older than the access layer. The
  ``access`` definition is rewritten in place (no revision), as the seed
  writes it.

Revision ID: a0002
"""

import sqlalchemy as sa
from alembic import op

from metacrm.platform.migrations import target_schema

revision = "a0002"
down_revision = "a0001"
branch_labels = None
# The seeding of existing tenants writes the audit log and a metadata definition.
depends_on = ("t0001", "m0001")


def upgrade() -> None:
    schema = target_schema()
    tz = sa.DateTime(timezone=True)
    name = sa.String(63)
    record_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "scope_conditions",
        sa.Column("role", name, primary_key=True),
        sa.Column("object", name, primary_key=True),
        sa.Column("action", sa.String(10), primary_key=True),
        sa.Column("condition", sa.Text, nullable=False),
        schema=schema,
    )
    op.create_table(
        "pools",
        sa.Column("api_name", name, primary_key=True),
        sa.Column("object", name, nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("claim_quota", sa.Integer, nullable=False),
        sa.Column("cooldown_days", sa.Integer, nullable=False),
        sa.Column("reclaim_days", sa.Integer, nullable=True),
        # Created here as well as by a0003: this migration's seeding reads the
        # pools through today's table definition (a0003 adds it where a0002 ran before it existed).
        sa.Column("translations", sa.JSON, nullable=True),
        sa.Column("follow_up_field", sa.String(63), nullable=True),  # likewise cv0001's
        schema=schema,
    )
    op.create_table(
        "pool_access",
        sa.Column("pool", name, primary_key=True),
        sa.Column("kind", sa.String(10), primary_key=True),
        sa.Column("name", name, primary_key=True),
        schema=schema,
    )
    op.create_table(
        "pool_records",
        sa.Column("object", name, primary_key=True),
        sa.Column("record_id", record_id, primary_key=True),
        sa.Column("pool", name, nullable=False),
        sa.Column("since", tz, nullable=False),
        sa.Column("returned_by", sa.Integer, nullable=True),
        sa.Column("reason", sa.String(500), nullable=True),
        schema=schema,
    )
    op.create_index("ix_pool_records_pool", "pool_records", ["pool"], schema=schema)
    op.create_table(
        "pool_claims",
        sa.Column("object", name, primary_key=True),
        sa.Column("record_id", record_id, primary_key=True),
        sa.Column("pool", name, nullable=False),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("how", sa.String(10), nullable=False),
        sa.Column("at", tz, nullable=False),
        schema=schema,
    )
    op.create_index("ix_pool_claims_pool_user", "pool_claims", ["pool", "user_id"], schema=schema)

    # The seeding below reads the policy through today's table definitions (a0004's too).
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("a0004", Path(__file__).with_name("a0004_sharing_rules_managers.py"))
    a0004 = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(a0004)
    a0004.create_a0004(op, schema)

    # The connection translates schema-less tables to this namespace (TenantBinding).
    bind = op.get_bind()
    from metacrm.access.seed import add_transfer_right, seed_standard_roles

    audit_log = sa.Table("audit_log", sa.MetaData(), sa.Column("id", sa.Integer))
    older_tenant = bind.execute(sa.select(audit_log.c.id).limit(1)).first() is not None
    # A tenant older than the access layer (no roles yet) or than a0002.
    if older_tenant and not seed_standard_roles(bind):
        add_transfer_right(bind)
