"""platform.bulk.insert_rows: what a COPY (PostgreSQL) writes is what an
executemany of the same rows writes — texts with the characters COPY
escapes, JSON documents and JSON null, booleans, decimals, dates and time
stamps, NULLs — and a constraint violation is an IntegrityError, which the
record store reports as a 409 naming the field."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import sqlalchemy as sa

from metacrm.platform import tenancy
from metacrm.platform.bulk import insert_rows
from metacrm.platform.errors import Conflict
from metacrm.platform.tables import audit_log
from tests.metadata.conftest import create_object, store

AT = dt.datetime(2026, 12, 3, 9, 30, tzinfo=dt.UTC)
AWKWARD = ["tab\there", "line\nbreak", "back\\slash", 'quote\'s "x"', "中文 ✓", "\\N", ""]


def _entries(tag: str) -> list[dict]:
    rows = []
    for i, text in enumerate(AWKWARD):
        rows.append(
            {
                "at": AT + dt.timedelta(seconds=i),
                "actor_id": None if i % 2 else i,
                "actor_email": text,
                "action": tag,
                "object": None,
                "record_id": str(i),
                "details": None if i == 3 else {"values": {"name": text, "n": i, "ok": i % 2 == 0, "list": [text]}},
                "ip": None,
                "request_id": None,
            }
        )
    return rows


def _read(conn, tag: str) -> list[dict]:
    query = sa.select(audit_log).where(audit_log.c.action == tag).order_by(audit_log.c.record_id)
    return [{k: v for k, v in row._mapping.items() if k != "id"} for row in conn.execute(query)]


def test_insert_rows_writes_what_an_executemany_writes(instance):
    tenancy.create_tenant(instance, "acme", "Acme")
    binding = instance.db.bind("acme")
    with binding.begin() as conn:
        insert_rows(conn, audit_log, _entries("by.copy"))
        conn.execute(audit_log.insert(), _entries("by.executemany"))
        insert_rows(conn, audit_log, [])  # nothing to do
    with binding.connect() as conn:
        copied, executed = _read(conn, "by.copy"), _read(conn, "by.executemany")
    assert len(copied) == len(AWKWARD)
    for a, b in zip(copied, executed, strict=True):
        assert {**a, "action": None} == {**b, "action": None}
    assert copied[0]["actor_email"] == "tab\there" and copied[5]["actor_email"] == "\\N"


def test_bulk_create_writes_every_type_and_reports_a_duplicate_naming_the_field(instance):
    tenancy.create_tenant(instance, "acme", "Acme")
    fields = [
        {"api_name": "code", "label": "Code", "type": "text", "unique": True},
        {"api_name": "amount", "label": "Amount", "type": "currency"},
        {"api_name": "done", "label": "Done", "type": "boolean"},
        {"api_name": "due", "label": "Due", "type": "date"},
        {"api_name": "at", "label": "At", "type": "datetime"},
        {"api_name": "tags", "label": "Tags", "type": "tags"},
    ]
    create_object(instance, "item", fields)
    rows = [
        {
            "name": f"n{i}\t{i}",
            "code": f"C{i}",
            "amount": "12.345" if i % 2 else None,
            "done": i % 3 == 0,
            "due": "2026-01-02",
            "at": "2026-01-02T03:04:05+08:00",
            "tags": ["a", "B"] if i % 2 else None,
        }
        for i in range(5)
    ]
    ids = [r["id"] for r in store(instance).bulk_create("item", rows)]
    first, second = store(instance).get("item", ids[0]), store(instance).get("item", ids[1])
    assert (first["name"], first["amount"], first["done"], first["tags"]) == ("n0\t0", None, True, [])
    assert (second["amount"], second["done"], second["due"], second["tags"]) == (
        Decimal("12.35"),
        False,
        "2026-01-02",
        ["a", "B"],
    )
    assert second["at"] == "2026-01-01T19:04:05+00:00"
    with pytest.raises(Conflict) as refused:
        store(instance).bulk_create("item", [{"name": "x", "code": "D"}, {"name": "y", "code": "C3"}])
    assert refused.value.details == {"fields": {"code": ["must be unique"]}}
    assert store(instance).query("item", count=True).total == 5
