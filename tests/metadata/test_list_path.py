"""The list path (issue 16, item 1): the SELECT carries the record's columns,
the requested fields and each sort key once; deep offsets use the deferred
join (same pages); object tables index live rows only (partial indexes, and a
migration converting existing tables); planner statistics after a bulk load
and from a nightly job; ``where=`` checked once per shape, literals bound."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from metacrm.metadata.model import model_for
from metacrm.metadata.physical import identifier
from metacrm.metadata.store import query as query_module
from metacrm.platform import tenancy
from metacrm.platform.errors import ValidationFailed
from metacrm.platform.jobs import job_queue
from metacrm.plugins.where import normalised, where_clause
from metacrm.rules import RuleError
from tests.metadata.conftest import create_object, store

FIELDS = [
    {
        "api_name": "industry",
        "label": "Industry",
        "type": "picklist",
        "indexed": True,
        "options": {"values": [{"value": v} for v in ("tech", "retail", "energy")]},
    },
    {"api_name": "rating", "label": "Rating", "type": "integer", "indexed": True},
    {"api_name": "code", "label": "Code", "type": "text", "unique": True},
    {"api_name": "notes", "label": "Notes", "type": "long_text"},
]


def _row(i: int) -> dict:
    return {
        "name": f"Account {i:04d}",
        "industry": [None, "tech", "retail", "energy"][i % 4],
        "rating": None if i % 5 == 0 else i % 7,
        "code": f"C{i}",
        "notes": "x" * 50,
    }


@pytest.fixture
def accounts(instance, tenant) -> int:
    create_object(instance, "account", FIELDS)
    store(instance).bulk_create("account", [_row(i) for i in range(120)], read_back=False)
    return 120


def statements(instance):
    """The SQL text of every statement the tenant's engine runs, while the block runs."""
    seen: list[str] = []
    engine = instance.db.tenant_engine("acme")

    def record(_conn, _cursor, statement, *_args):
        seen.append(statement)

    sa.event.listen(engine, "before_cursor_execute", record)
    return seen, lambda: sa.event.remove(engine, "before_cursor_execute", record)


def select_list(sql: str) -> str:
    return re.split(r"\bFROM\b", sql, maxsplit=1)[0]


def test_the_select_carries_the_requested_fields_and_each_sort_key_once(instance, accounts):
    seen, stop = statements(instance)
    try:
        page = store(instance).query("account", fields=["name", "rating"], sort="-rating", limit=5)
    finally:
        stop()
    head = select_list(next(s for s in seen if "o_account" in s and "ORDER BY" in s))
    assert head.count("rating") == 1, head  # the sort key is the selected column, not a second copy
    assert "__key" not in head and "deleted_at" not in head and "notes" not in head and "industry" not in head
    assert set(page.data[0]) == {"id", "name", "rating", "owner_id", "version", "created_at", "updated_at"} | {
        "created_by",
        "updated_by",
    }
    # The cursor still walks every row exactly once.
    walked, cursor = [], None
    while True:
        page = store(instance).query("account", fields=["name"], sort="-rating,name", limit=13, cursor=cursor)
        walked += [r["id"] for r in page.data]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert len(walked) == len(set(walked)) == accounts


def test_deep_offsets_use_the_deferred_join_and_return_the_same_pages(instance, accounts, monkeypatch):
    def pages(**query):
        return [
            [r["id"] for r in store(instance).query("account", limit=17, offset=offset, **query).data]
            for offset in range(0, accounts + 17, 17)
        ]

    for query in ({"sort": "-rating"}, {"sort": "industry,-name"}, {"filters": [("industry", "eq", "tech")]}, {}):
        plain = pages(**query)
        monkeypatch.setattr(query_module, "DEFERRED_OFFSET", 1)
        seen, stop = statements(instance)
        try:
            deferred = pages(**query)
        finally:
            stop()
            monkeypatch.undo()
        assert deferred == plain, query
        assert any(" page" in s for s in seen)  # the ids-first subquery ran
    binned = store(instance)
    binned.delete("account", 3)
    monkeypatch.setattr(query_module, "DEFERRED_OFFSET", 1)
    assert [r["id"] for r in store(instance).query("account", deleted=True, offset=0).data] == [3]
    page = store(instance).query("account", deleted=True, offset=1)
    assert page.data == [] and page.next_cursor is None


def _index_definitions(instance, table: str) -> dict[str, str]:
    binding = instance.db.bind("acme")
    with binding.connect() as conn:
        if binding.dialect == "sqlite":
            rows = conn.execute(
                sa.text(
                    "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = :t AND sql IS NOT NULL"
                ),
                {"t": table},
            )
        else:
            rows = conn.execute(
                sa.text("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = :s AND tablename = :t"),
                {"s": binding.schema, "t": table},
            )
        return {name: re.sub(r"[()\"]", "", sql) for name, sql in rows}


def _assert_live_row_indexes(indexes: dict[str, str], table: str) -> None:
    def where(column):
        return indexes[identifier("ix_", table, column)]

    for column in ("owner_id", "created_at", "industry", "rating"):
        assert "WHERE deleted_at IS NULL" in where(column), column
    assert "WHERE deleted_at IS NOT NULL" in where("binned")
    assert identifier("ix_", table, "deleted_at") not in indexes
    assert "WHERE" not in indexes[identifier("ux_", table, "code")]  # unique over every row


def test_object_tables_index_live_rows_only(instance, accounts):
    _assert_live_row_indexes(_index_definitions(instance, "o_account"), "o_account")


def test_the_migration_converts_tables_made_with_the_old_indexes(instance, accounts):
    binding = instance.db.bind("acme")
    table = "o_account"
    with binding.begin() as conn:  # the layout before migration m0002
        for column in ("owner_id", "created_at", "industry", "rating", "binned"):
            conn.execute(sa.text(f"DROP INDEX {_qualified(binding, identifier('ix_', table, column))}"))
        for column in ("owner_id", "created_at", "industry", "rating", "deleted_at"):
            name = identifier("ix_", table, column)
            conn.execute(sa.text(f"CREATE INDEX {name} ON {_qualified(binding, table)} ({column})"))
        conn.execute(sa.text(f"DELETE FROM {_qualified(binding, 'alembic_version')} WHERE version_num = 'm0002'"))
    assert "WHERE" not in _index_definitions(instance, table)[identifier("ix_", table, "rating")]
    assert tenancy.upgrade_tenants(instance) == 1
    _assert_live_row_indexes(_index_definitions(instance, table), table)
    assert store(instance).query("account", count=True, limit=1).total == accounts


def _qualified(binding, name: str) -> str:
    return f'"{binding.schema}"."{name}"' if binding.schema else f'"{name}"'


def _has_statistics(instance, table: str) -> bool:
    binding = instance.db.bind("acme")
    with binding.connect() as conn:
        if binding.dialect == "sqlite":
            exists = conn.execute(sa.text("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'")).first()
            return bool(exists) and bool(
                conn.execute(sa.text("SELECT 1 FROM sqlite_stat1 WHERE tbl = :t"), {"t": table}).first()
            )
        return bool(
            conn.execute(
                sa.text("SELECT 1 FROM pg_stats WHERE schemaname = :s AND tablename = :t"),
                {"s": binding.schema, "t": table},
            ).first()
        )


def test_planner_statistics_after_a_bulk_load_and_from_the_nightly_job(instance, tenant):
    create_object(instance, "small", FIELDS)
    create_object(instance, "big", FIELDS)
    store(instance).bulk_create("small", [_row(i) for i in range(20)], read_back=False)
    assert not _has_statistics(instance, "o_small")  # a small write does not analyse
    store(instance).bulk_create("big", [_row(i) for i in range(500)], read_back=False)
    assert _has_statistics(instance, "o_big")
    queue = job_queue(instance)
    assert "statistics.refresh" in queue.names()
    queue.run_now("statistics.refresh")
    assert _has_statistics(instance, "o_small")


def test_where_filters_are_checked_once_per_shape_with_the_literals_bound(instance, accounts, monkeypatch):
    from metacrm.plugins import where

    full_checks = []
    full_check = where._check
    monkeypatch.setattr(where, "_check", lambda *args: full_checks.append(args[2]) or full_check(*args))
    model = model_for(instance, instance.db.bind("acme"))
    readable = set(model.object("account").fields)

    def ids(expression: str) -> list[int]:
        clause = where_clause(model, "account", expression, readable, lambda: None)
        return [r["id"] for r in store(instance).query("account", extra_where=clause, limit=200, sort="id").data]

    everything = store(instance).query("account", limit=200, sort="id").data
    for bound in (2, 5, 3):
        assert ids(f"rating > {bound} AND name != 'nobody'") == [
            r["id"] for r in everything if r["rating"] is not None and r["rating"] > bound
        ]
    assert len(model.memo(("where shapes",), dict)) == 1  # three texts, one shape
    assert len(full_checks) == 2  # the first text and its probe; the others only type-checked
    assert normalised("rating > 5 AND name != 'x'") == normalised('rating > 70 AND name != "y z"')
    # A literal the SQL transforms (a LIKE pattern) is checked and compiled per text.
    assert ids('BEGINS(name, "Account 001")') == [r["id"] for r in everything if r["name"].startswith("Account 001")]
    assert ids('BEGINS(name, "Account 01")') == [r["id"] for r in everything if r["name"].startswith("Account 01")]
    # The literals are still checked when the shape is known.
    assert ids('industry = "tech"') == [r["id"] for r in everything if r["industry"] == "tech"]
    with pytest.raises((RuleError, ValidationFailed)):
        ids('industry = "nope"')
    with pytest.raises((RuleError, ValidationFailed)):
        ids("rating > 99999999999999999999999999999")
