"""Tables the metadata engine keeps in every tenant namespace.

All definitions (objects, fields, layouts, list views, and later rules and
policies) are JSON documents in one table keyed by (kind, key): one storage
path, so revisions, rollback, packages and export treat every kind alike.
Object data lives in real tables named ``o_<object>`` (see
:mod:`metacrm.metadata.physical`), created by :mod:`metacrm.metadata.ddl`.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata_tables = sa.MetaData()

# One row; its revision is what every worker compares its cached model with.
# Metadata changes lock it, so they are serialised per tenant.
meta_head = sa.Table(
    "meta_head",
    metadata_tables,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("revision", sa.Integer, nullable=False),
)

meta_definitions = sa.Table(
    "meta_definitions",
    metadata_tables,
    sa.Column("kind", sa.String(30), primary_key=True),
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("document", sa.JSON, nullable=False),
    # In the recycle bin since then (data kept); None while live.
    sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("revision", sa.Integer, nullable=False),
)

# Each revision keeps the before/after of every definition it touched, so
# any earlier state can be reconstructed (rollback) and diffs shown.
meta_revisions = sa.Table(
    "meta_revisions",
    metadata_tables,
    sa.Column("revision", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("actor_id", sa.Integer, nullable=True),
    sa.Column("actor_email", sa.String(254), nullable=True),
    sa.Column("summary", sa.String(500), nullable=False),
    sa.Column("changes", sa.JSON, nullable=False),
)

# Auto-number counters: incremented inside the inserting transaction, whose
# row lock makes numbers gap-free under concurrency.
autonumber_counters = sa.Table(
    "autonumber_counters",
    metadata_tables,
    sa.Column("object", sa.String(63), primary_key=True),
    sa.Column("field", sa.String(63), primary_key=True),
    sa.Column("next_value", sa.BigInteger, nullable=False),
)
