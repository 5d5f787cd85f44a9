"""Object tables: indexes of live rows. The index on ``deleted_at`` alone
(it matches every live row, and SQLite's planner picked it) becomes a
partial index of the recycle bin; the owner, created-at and ``indexed``
field indexes become partial (``WHERE deleted_at IS NULL``), as
``metadata.ddl`` now creates them. Unique and lookup indexes keep every row.

Revision ID: m0002
"""

import sqlalchemy as sa
from alembic import op

from metacrm.metadata.physical import BINNED_ROWS, LIVE_ROWS, TABLE_PREFIX, identifier
from metacrm.platform.migrations import target_schema

revision = "m0002"
down_revision = "m0001"
branch_labels = None
depends_on = None


def _partial(where: str) -> dict:
    return {"postgresql_where": sa.text(where), "sqlite_where": sa.text(where)}


def _plain_indexed_fields(conn, schema) -> dict[str, list[str]]:
    """Per object, the fields whose index is a plain ``indexed`` one (not
    unique, not numbered, not a reference), from every field definition."""
    definitions = sa.table(
        "meta_definitions", sa.column("kind"), sa.column("key"), sa.column("document", sa.JSON), schema=schema
    )
    fields: dict[str, list[str]] = {}
    for key, document in conn.execute(
        sa.select(definitions.c.key, definitions.c.document).where(definitions.c.kind == "field")
    ):
        document = document or {}
        options = document.get("options") or {}
        if document.get("indexed") and not document.get("unique") and "target" not in options:
            fields.setdefault(key.split(".", 1)[0], []).append(key.split(".", 1)[1])
    return fields


def upgrade() -> None:
    schema = target_schema()
    conn = op.get_bind()
    inspector = sa.inspect(conn)
    indexed = _plain_indexed_fields(conn, schema)
    for table in inspector.get_table_names(schema=schema):
        if not table.startswith(TABLE_PREFIX):
            continue
        existing = {index["name"]: index for index in inspector.get_indexes(table, schema=schema)}
        old = identifier("ix_", table, "deleted_at")
        if old in existing:
            op.drop_index(old, table_name=table, schema=schema)
        binned = identifier("ix_", table, "binned")
        if binned not in existing:
            op.create_index(binned, table, ["deleted_at"], schema=schema, **_partial(BINNED_ROWS))
        live = ["owner_id", "created_at"] + indexed.get(table[len(TABLE_PREFIX) :], [])
        for column in live:
            name = identifier("ix_", table, column)
            index = existing.get(name)
            if index is None or index.get("unique") or index["column_names"] != [column]:
                continue
            op.drop_index(name, table_name=table, schema=schema)
            op.create_index(name, table, [column], schema=schema, **_partial(LIVE_ROWS))


def downgrade() -> None:
    raise NotImplementedError("live-row indexes are not reverted")
