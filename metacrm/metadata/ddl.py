"""Runtime DDL through Alembic's operations API, on the caller's connection.

The change pipeline (:mod:`metacrm.metadata.changes`) calls these inside the
transaction that also writes the definitions and the revision, so on both
databases a change commits whole or not at all (PostgreSQL DDL is
transactional; on SQLite we open the transaction ourselves, see
``platform.database``). SQLite alters tables in Alembic's batch mode.

A change that creates objects (a package install) asks for ``defer=True``: a
new object's table is then created once, with its fields' columns, when the
editor is flushed (by the change, before anything else reads the schema),
instead of as an empty table altered once per field; on PostgreSQL the
CREATE TABLEs and their indexes and foreign keys go to the server as one
script (rendered by Alembic, identifiers quoted by SQLAlchemy's compiler),
one round trip instead of one per statement.

Foreign keys for lookups are declared on PostgreSQL only: on SQLite a batch
table rebuild drops and re-creates the table, and with foreign keys enforced
that DROP would run the ON DELETE actions of every referencing table. The
record store checks references itself on both databases.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection

from metacrm.metadata.fieldtypes.base import FieldType
from metacrm.metadata.physical import (
    LIVE_ROWS,
    bare_table,
    field_indexes,
    identifier,
    system_columns,
    system_indexes,
    table_name,
)
from metacrm.metadata.tables import autonumber_counters
from metacrm.platform.errors import Conflict

ANALYZE_AFTER_ROWS = 500  # a bulk create this big refreshes its table's planner statistics

ON_DELETE_SQL = {"restrict": "RESTRICT", "set_null": "SET NULL", "cascade": "CASCADE"}


class SchemaEditor:
    def __init__(self, conn: Connection, schema: str | None, *, defer: bool = False):
        """``defer``: new objects' tables wait for :meth:`flush` (see the module's docstring)."""
        self.conn = conn
        self.schema = schema
        self.dialect = conn.dialect.name
        self.ops = Operations(MigrationContext.configure(conn))
        self.defer = defer
        # Deferred: the tables to create (name -> columns), then what follows
        # them (indexes, foreign keys), each a step given the Operations to use.
        self._tables: dict[str, list[sa.Column]] = {}
        self._then: list[Callable[[Operations], None]] = []

    def flush(self) -> None:
        """Create what is deferred: every new table with its columns, then
        their indexes and foreign keys (on PostgreSQL in one round trip)."""
        if not self._tables and not self._then:
            return
        tables, then = self._tables, self._then
        self._tables, self._then = {}, []
        script = io.StringIO() if self.dialect == "postgresql" else None
        ops = self.ops
        if script is not None:
            ops = Operations(
                MigrationContext.configure(dialect=self.conn.dialect, opts={"as_sql": True, "output_buffer": script})
            )
        for table, columns in tables.items():
            ops.create_table(table, *columns, schema=self.schema)
        for step in then:
            step(ops)
        if script is not None:
            self.conn.exec_driver_sql(script.getvalue())

    # -- objects -------------------------------------------------------------

    def create_object(self, object_api_name: str) -> None:
        table = table_name(object_api_name)
        if self.defer:
            self._tables[table] = system_columns()
        else:
            self.ops.create_table(table, *system_columns(), schema=self.schema)
        for name, columns, where in system_indexes(object_api_name):
            self._run(
                lambda ops, name=name, columns=columns, where=where: ops.create_index(
                    name, table, columns, schema=self.schema, **partial(where)
                )
            )

    def _run(self, step: Callable[[Operations], None]) -> None:
        """Run ``step`` now, or after the deferred tables when there are any."""
        if self._tables:
            self._then.append(step)
        else:
            step(self.ops)

    def drop_object(self, object_api_name: str, fields: list[FieldType]) -> None:
        self.flush()
        for field_type in fields:
            if field_type.stores_links:
                self.ops.drop_table(field_type.junction_table_name(object_api_name), schema=self.schema)
        self.ops.drop_table(table_name(object_api_name), schema=self.schema)
        self.conn.execute(autonumber_counters.delete().where(autonumber_counters.c.object == object_api_name))

    # -- fields --------------------------------------------------------------

    def add_field(self, object_api_name: str, field_type: FieldType) -> None:
        table = table_name(object_api_name)
        if field_type.stores_links:
            self._run(lambda ops: self._create_junction(object_api_name, field_type, ops))
            return
        new = table in self._tables
        for column in field_type.columns():
            if new:
                self._tables[table].append(column)
            else:
                self.ops.add_column(table, column, schema=self.schema)
        self._run(lambda ops: self._add_foreign_key(object_api_name, field_type, ops))
        self._run(lambda ops: self._create_indexes(object_api_name, field_type, ops))
        if field_type.numbers_itself:
            self._start_counter(object_api_name, field_type, new_table=new)

    def drop_field(self, object_api_name: str, field_type: FieldType) -> None:
        """Physically remove a field (purge from the recycle bin)."""
        self.flush()
        table = table_name(object_api_name)
        if field_type.stores_links:
            self.ops.drop_table(field_type.junction_table_name(object_api_name), schema=self.schema)
            return
        for name, _columns, _unique in field_indexes(object_api_name, field_type):
            self.ops.drop_index(name, table_name=table, schema=self.schema)
        if self.dialect == "postgresql" and _target(field_type):
            self.ops.drop_constraint(
                _fk_name(object_api_name, field_type), table, type_="foreignkey", schema=self.schema
            )
        with self.ops.batch_alter_table(table, schema=self.schema) as batch:
            for column in field_type.columns():
                batch.drop_column(column.name)
        if field_type.numbers_itself:
            self.conn.execute(
                autonumber_counters.delete().where(
                    autonumber_counters.c.object == object_api_name, autonumber_counters.c.field == field_type.api_name
                )
            )

    def change_indexes(self, object_api_name: str, old: FieldType, new: FieldType) -> None:
        """Apply a change of ``unique``/``indexed``; refuses (Conflict) to make a
        field unique while stored values repeat."""
        self.flush()
        table = table_name(object_api_name)
        before, after = field_indexes(object_api_name, old), field_indexes(object_api_name, new)
        if before == after:
            return
        for name, _columns, _unique in before:
            self.ops.drop_index(name, table_name=table, schema=self.schema)
        for name, columns, unique in after:
            if unique:
                self._refuse_duplicates(object_api_name, new.api_name)
            self._create_index(name, table, columns, unique, new)

    def _refuse_duplicates(self, object_api_name: str, column_name: str) -> None:
        table = bare_table(object_api_name, column_name)
        column = table.c[column_name]
        duplicate = self.conn.execute(
            sa.select(column, sa.func.count())
            .where(column.is_not(None))
            .group_by(column)
            .having(sa.func.count() > 1)
            .limit(3)
        ).all()
        if duplicate:
            examples = ", ".join(repr(row[0]) for row in duplicate)
            raise Conflict(
                f"{object_api_name}.{column_name} cannot be unique: stored values repeat (e.g. {examples})",
                details={"fields": {"unique": [f"stored values repeat: {examples}"]}},
            )

    def alter_type(self, object_api_name: str, old: FieldType, new: FieldType, using: str | None = None) -> None:
        """Change the column type in place; the caller has converted or checked
        the values. ``using`` is a PostgreSQL USING expression over the column."""
        self.flush()
        table = table_name(object_api_name)
        old_column, new_column = old.columns()[0], new.columns()[0]
        for name, _columns, _unique in field_indexes(object_api_name, old):
            self.ops.drop_index(name, table_name=table, schema=self.schema)
        if self.dialect == "postgresql":
            self.ops.alter_column(
                table,
                new.api_name,
                type_=new_column.type,
                existing_type=old_column.type,
                postgresql_using=using,
                schema=self.schema,
            )
        else:
            with self.ops.batch_alter_table(table, schema=self.schema) as batch:
                batch.alter_column(new.api_name, type_=new_column.type, existing_type=old_column.type)
        for name, columns, unique in field_indexes(object_api_name, new):
            self._create_index(name, table, columns, unique, new)

    def change_encryption(self, object_api_name: str, old: FieldType, new: FieldType, rewrite) -> None:
        """Turn a field's encryption on or off: its indexes go, the column
        becomes text wide enough for ciphertexts (or its type again) around
        ``rewrite()``, which seals or opens the stored values, the blind-index
        column comes (or goes), and the new indexes are built."""
        self.flush()
        table = table_name(object_api_name)
        for name, _columns, _unique in field_indexes(object_api_name, old):
            self.ops.drop_index(name, table_name=table, schema=self.schema)
        old_column, new_column = old.columns()[0], new.columns()[0]
        if new.encrypted:
            self.ops.add_column(table, new.columns()[1], schema=self.schema)
            self._retype(table, new.api_name, old_column.type, new_column.type)
            rewrite()
        else:
            rewrite()
            self._retype(table, new.api_name, old_column.type, new_column.type)
            with self.ops.batch_alter_table(table, schema=self.schema) as batch:
                batch.drop_column(old.blind_index_column)
        for name, columns, unique in field_indexes(object_api_name, new):
            if unique:
                self._refuse_duplicates(object_api_name, columns[0])
            self.ops.create_index(name, table, columns, unique=unique, schema=self.schema)

    def _retype(self, table: str, column: str, old_type, new_type) -> None:
        if self.dialect == "postgresql":
            self.ops.alter_column(table, column, type_=new_type, existing_type=old_type, schema=self.schema)
        else:
            with self.ops.batch_alter_table(table, schema=self.schema) as batch:
                batch.alter_column(column, type_=new_type, existing_type=old_type)

    # -- pieces ----------------------------------------------------------------

    def _create_indexes(self, object_api_name: str, field_type: FieldType, ops: Operations) -> None:
        for name, columns, unique in field_indexes(object_api_name, field_type):
            self._create_index(name, table_name(object_api_name), columns, unique, field_type, ops)

    def _create_index(
        self,
        name: str,
        table: str,
        columns: list[str],
        unique: bool,
        field_type: FieldType,
        ops: Operations | None = None,
    ) -> None:
        where = None if unique or field_type.is_lookup else LIVE_ROWS
        (ops or self.ops).create_index(name, table, columns, unique=unique, schema=self.schema, **partial(where))

    # -- planner statistics ------------------------------------------------------

    def analyze(self, object_api_names: list[str]) -> None:
        """Fresh planner statistics for the objects' tables: after a bulk
        load, and nightly. Without them SQLite picks the index that matches
        every row and PostgreSQL misjudges a fresh table until autovacuum
        comes by. SQLite samples (``analysis_limit``), so a big table costs
        milliseconds."""
        self.flush()
        if self.dialect == "sqlite":
            self.conn.exec_driver_sql("PRAGMA analysis_limit=2000")
        for name in object_api_names:
            self.conn.exec_driver_sql(f'ANALYZE {_schema_prefix(self.schema)}"{table_name(name)}"')

    def _add_foreign_key(self, object_api_name: str, field_type: FieldType, ops: Operations) -> None:
        target = _target(field_type)
        if self.dialect != "postgresql" or not target:
            return
        on_delete = field_type.on_delete
        ops.create_foreign_key(
            _fk_name(object_api_name, field_type),
            table_name(object_api_name),
            table_name(target),
            [field_type.api_name],
            ["id"],
            ondelete=ON_DELETE_SQL[on_delete],
            source_schema=self.schema,
            referent_schema=self.schema,
        )

    def _create_junction(self, object_api_name: str, field_type: FieldType, ops: Operations) -> None:
        name = field_type.junction_table_name(object_api_name)
        extra: list[Any] = []
        if self.dialect == "postgresql":
            prefix = f"{self.schema}." if self.schema else ""
            target = field_type.reference_target
            extra = [
                sa.ForeignKeyConstraint(
                    ["source_id"],
                    [f"{prefix}{table_name(object_api_name)}.id"],
                    ondelete="CASCADE",
                    name=identifier("fk_", name, "source"),
                ),
                sa.ForeignKeyConstraint(
                    ["target_id"],
                    [f"{prefix}{table_name(target)}.id"],
                    ondelete="CASCADE",
                    name=identifier("fk_", name, "target"),
                ),
            ]
        ops.create_table(name, *field_type.junction_columns(), *extra, schema=self.schema)
        ops.create_index(identifier("ix_", name, "target_id"), name, ["target_id"], schema=self.schema)

    def _start_counter(self, object_api_name: str, field_type: FieldType, *, new_table: bool = False) -> None:
        """Number the records that already exist (in id order; a table still
        to be created has none), then keep the next number in the counter row."""
        start = field_type.starting_number
        table = bare_table(object_api_name, field_type.api_name)
        ids = [] if new_table else self.conn.execute(sa.select(table.c.id).order_by(table.c.id)).scalars().all()
        if ids:
            self.conn.execute(
                table.update()
                .where(table.c.id == sa.bindparam("_id"))
                .values({field_type.api_name: sa.bindparam("_v")}),
                [{"_id": record_id, "_v": field_type.render(start + i)} for i, record_id in enumerate(ids)],
            )
        self.conn.execute(
            autonumber_counters.insert().values(
                object=object_api_name, field=field_type.api_name, next_value=start + len(ids)
            )
        )


def fresh_statistics(binding, object_api_names: list[str], *, added: int | None = None) -> dict[str, float]:
    """ANALYZE the objects' tables of ``binding``'s tenant, in a transaction of its own.

    With ``added`` (the rows a bulk create just wrote), a PostgreSQL table
    is analysed only when they are at least a tenth of the rows its
    statistics know (``pg_class.reltuples``; never analysed: always) —
    autovacuum's own threshold. A load into a table that was empty or small
    gets fresh statistics at once; a big table is not re-sampled after
    every thousand rows (an ANALYZE costs more than writing them).

    Returns the rows the statistics know of each table it left as it was
    (a caller adding fewer than a tenth of that may skip asking again)."""
    known_rows: dict[str, float] = {}
    with binding.begin() as conn:
        if added is not None and conn.dialect.name == "postgresql":
            stale = []
            for name in object_api_names:
                known = _known_rows(conn, binding.schema, name)
                if known is None or known < 0 or added * 10 >= known:
                    stale.append(name)
                else:
                    known_rows[name] = known
            object_api_names = stale
        if object_api_names:
            SchemaEditor(conn, binding.schema).analyze(object_api_names)
    return known_rows


def _known_rows(conn: Connection, schema: str | None, object_api_name: str) -> float | None:
    name = f'{_schema_prefix(schema)}"{table_name(object_api_name)}"'
    return conn.execute(
        sa.text("SELECT reltuples FROM pg_class WHERE oid = to_regclass(:name)"), {"name": name}
    ).scalar()


def partial(where: str | None) -> dict:
    """create_index keywords of a partial index on both databases."""
    if where is None:
        return {}
    return {"postgresql_where": sa.text(where), "sqlite_where": sa.text(where)}


def _schema_prefix(schema: str | None) -> str:
    return f'"{schema}".' if schema else ""


def _target(field_type: FieldType) -> str | None:
    """The object a lookup's foreign key points at (None for other types)."""
    return field_type.reference_target if field_type.is_lookup else None


def _fk_name(object_api_name: str, field_type: FieldType) -> str:
    return identifier("fk_", table_name(object_api_name), field_type.api_name)
