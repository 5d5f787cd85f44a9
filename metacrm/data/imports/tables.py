"""The tenant tables of imports (migration ``di0001``, Alembic branch
``data_imports``).

* ``imports``: one row per import run: the object, the uploaded file (kept
  under ``DATA_DIR/imports/<tenant>/``), the mapping, mode and key, whether
  it is a dry run, its status (``draft`` → ``queued`` → ``running`` →
  ``done`` | ``failed``), its counts, the first :data:`MAX_STORED_ERRORS`
  row errors (row number, field, reason) and the failed-rows file.
* ``import_mappings``: saved column → field mappings, reusable by name per
  object (a tenant table rather than a definition kind: a mapping is a
  user's working data, not metadata that packages ship or revisions track).
"""

from __future__ import annotations

import sqlalchemy as sa

import_tables = sa.MetaData()
tz = sa.DateTime(timezone=True)

MAX_STORED_ERRORS = 1000

imports = sa.Table(
    "imports",
    import_tables,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("object", sa.String(63), nullable=False),
    sa.Column("file_name", sa.String(255), nullable=False),
    sa.Column("file_path", sa.String(1000), nullable=False),
    sa.Column("mapping", sa.JSON, nullable=True),
    sa.Column("mode", sa.String(10), nullable=False, server_default="insert"),
    sa.Column("key", sa.String(63), nullable=True),
    sa.Column("dry_run", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("status", sa.String(10), nullable=False, server_default="draft"),
    sa.Column("message", sa.String(2000), nullable=True),
    sa.Column("total", sa.Integer, nullable=False, server_default="0"),
    sa.Column("processed", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created", sa.Integer, nullable=False, server_default="0"),
    sa.Column("updated", sa.Integer, nullable=False, server_default="0"),
    sa.Column("failed", sa.Integer, nullable=False, server_default="0"),
    # Likely duplicates: what to do with them (engine.DUPLICATE_ACTIONS), and how many were skipped or flagged.
    sa.Column("duplicates", sa.String(10), nullable=False, server_default="allow"),
    sa.Column("skipped", sa.Integer, nullable=False, server_default="0"),
    sa.Column("flagged", sa.Integer, nullable=False, server_default="0"),
    sa.Column("errors", sa.JSON, nullable=True),
    sa.Column("failed_path", sa.String(1000), nullable=True),
    sa.Column("created_by", sa.Integer, nullable=True),
    sa.Column("created_at", tz, nullable=False),
    sa.Column("started_at", tz, nullable=True),
    sa.Column("finished_at", tz, nullable=True),
)

import_mappings = sa.Table(
    "import_mappings",
    import_tables,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("object", sa.String(63), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("columns", sa.JSON, nullable=False),
    sa.Column("created_by", sa.Integer, nullable=True),
    sa.Column("updated_at", tz, nullable=False),
    sa.UniqueConstraint("object", "name", name="uq_import_mappings_object_name"),
)
