"""Writing many rows of one table at once: bulk record creates and their
audit entries.

:func:`insert_rows` sends the rows with PostgreSQL's ``COPY ... FROM STDIN``
(one statement streaming every row; psycopg writes it in C), and with an
executemany elsewhere (SQLite's is a C loop already). COPY is measured at
about twice the speed of the pipelined executemany of the same rows, and a
multi-row ``INSERT ... VALUES (...), (...)`` slower than either
(bench/bulk_create.py, docs/performance.md). A column whose type converts
values in Python on the way in (JSON, booleans, a plugin's ``TypeDecorator``)
converts each value with the type's own bind processor, as an executemany
would; a type that wraps its parameter in SQL (a ``bind_expression``) is
written with the executemany.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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
    if conn.dialect.name != "postgresql":
        conn.execute(table.insert(), rows)
        return
    insert_values(conn, table, columns, [[row[c] for c in columns] for row in rows])


def insert_values(conn: Connection, table: sa.Table, columns: list[str], rows: list[Sequence[Any]]) -> None:
    """:func:`insert_rows` for rows given as values in the order of
    ``columns`` (no dictionary per row for callers that build thousands)."""
    if not rows:
        return
    converters = _copy_converters(conn.dialect, table, columns) if conn.dialect.name == "postgresql" else None
    if converters is None:
        conn.execute(table.insert(), [dict(zip(columns, row, strict=True)) for row in rows])
        return
    preparer = conn.dialect.identifier_preparer
    translate = conn.get_execution_options().get("schema_translate_map") or {}
    schema = translate.get(table.schema, table.schema)
    name = preparer.quote(table.name)
    if schema is not None:
        name = f"{preparer.quote_schema(schema)}.{name}"
    statement = f"COPY {name} ({', '.join(preparer.quote(c) for c in columns)}) FROM STDIN"
    cursor = conn.connection.driver_connection.cursor()
    try:
        with cursor.copy(statement) as copy:
            write = copy.write_row
            if all(convert is _PLAIN for convert in converters):
                for row in rows:
                    write(row)
            else:
                converting = [(i, f) for i, f in enumerate(converters) if f is not _PLAIN]
                for row in rows:
                    row = list(row)
                    for i, convert in converting:
                        row[i] = convert(row[i])
                    write(row)
    except conn.dialect.loaded_dbapi.IntegrityError as exc:
        raise sa.exc.IntegrityError(statement, None, exc) from None
    finally:
        cursor.close()


def _copy_converters(dialect, table: sa.Table, columns: list[str]) -> list[Callable[[Any], Any] | None] | None:
    """Per column: None (the value goes to the driver as it is) or the
    column type's bind processor, exactly what an executemany would apply
    (booleans checked, JSON serialised, a plugin type's conversion); None
    overall when a type also wraps its parameter in SQL, which COPY cannot."""
    cache = table.info.setdefault("_copy_converters", {})
    key = (dialect.name, tuple(columns))
    if key not in cache:
        converters: list | None = []
        for column_name in columns:
            column_type = table.c[column_name].type
            if getattr(column_type, "_has_bind_expression", True):
                converters = None
                break
            converters.append(column_type._cached_bind_processor(dialect))
        cache[key] = converters
    return cache[key]
