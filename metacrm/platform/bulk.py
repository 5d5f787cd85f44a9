"""Writing many rows of one table at once: bulk record creates and their
audit entries.

:func:`insert_rows` sends the rows with PostgreSQL's ``COPY ... FROM STDIN``
(one statement streaming every row; psycopg writes it in C), and with an
executemany elsewhere (SQLite's is a C loop already). COPY is measured at
about twice the speed of the pipelined executemany of the same rows, and a
multi-row ``INSERT ... VALUES (...), (...)`` slower than either
(bench/bulk_create.py, docs/performance.md). A table with a column whose
type converts values in Python on the way in (a plugin's ``TypeDecorator``)
is written with the executemany, so every value reaches the database as the
column type makes it; JSON columns are serialised as SQLAlchemy would.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

_PLAIN = None  # a column whose values go to the driver as they are


def insert_rows(conn: Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """INSERT ``rows`` (each with the same keys, the columns to set) into
    ``table`` in ``conn``'s transaction. A constraint violation raises
    :class:`sqlalchemy.exc.IntegrityError`, as ``conn.execute`` would."""
    if not rows:
        return
    columns = list(rows[0])
    converters = _copy_converters(conn.dialect, table, columns) if conn.dialect.name == "postgresql" else None
    if converters is None:
        conn.execute(table.insert(), rows)
        return
    preparer = conn.dialect.identifier_preparer
    translate = conn.get_execution_options().get("schema_translate_map") or {}
    schema = translate.get(table.schema, table.schema)
    name = preparer.quote(table.name)
    if schema is not None:
        name = f"{preparer.quote_schema(schema)}.{name}"
    statement = f"COPY {name} ({', '.join(preparer.quote(c) for c in columns)}) FROM STDIN"
    plain = all(convert is _PLAIN for convert in converters)
    cursor = conn.connection.driver_connection.cursor()
    try:
        with cursor.copy(statement) as copy:
            write = copy.write_row
            if plain:
                for row in rows:
                    write([row[c] for c in columns])
            else:
                pairs = list(zip(columns, converters, strict=True))
                for row in rows:
                    write([row[c] if f is _PLAIN else f(row[c]) for c, f in pairs])
    except conn.dialect.loaded_dbapi.IntegrityError as exc:
        raise sa.exc.IntegrityError(statement, None, exc) from None
    finally:
        cursor.close()


def _copy_converters(dialect, table: sa.Table, columns: list[str]) -> list[Callable[[Any], Any] | None] | None:
    """Per column: None (sent as it is) or the function making its COPY
    value; None overall when a column converts in a way COPY cannot follow."""
    cache = table.info.setdefault("_copy_converters", {})
    key = (dialect.name, tuple(columns))
    if key not in cache:
        converters: list | None = []
        for column_name in columns:
            column_type = table.c[column_name].type
            if isinstance(column_type, sa.JSON):
                converters.append(_json_converter(dialect, column_type))
            elif column_type.dialect_impl(dialect).bind_processor(dialect) is None:
                converters.append(_PLAIN)
            else:
                converters = None
                break
        cache[key] = converters
    return cache[key]


def _json_converter(dialect, column_type: sa.JSON) -> Callable[[Any], Any]:
    serialize = getattr(dialect, "_json_serializer", None) or json.dumps
    none_as_null = column_type.none_as_null

    def convert(value: Any) -> Any:
        if value is None and none_as_null:
            return None
        return serialize(value)

    return convert
