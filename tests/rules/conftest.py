"""Fixtures of the rule-language tests.

* ``model``: the fixed objects (tests/rules/model.py) compiled in memory.
* ``rule_db``: the same objects in a real tenant, once per backend (SQLite,
  and PostgreSQL when METACRM_TEST_DATABASE_URL is set) and per module;
  rows go in through the record store, then both compilers run over them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from metacrm.access.guard import SystemGuard
from metacrm.app import build_instance
from metacrm.metadata.changes import MetadataService
from metacrm.metadata.model import field_types, model_for
from metacrm.metadata.store import RecordStore
from metacrm.platform import audit, tenancy
from metacrm.rules import (
    CheckContext,
    RecordContext,
    SqlContext,
    UserGlobals,
    check,
    compile_python,
    compile_sql,
    parse,
    runtime,
)
from tests.conftest import BACKENDS, drop_namespaces, make_config
from tests.rules.model import ACCOUNT_FIELDS, DEAL_FIELDS, in_memory_model

NOW = datetime(2026, 3, 15, 12, 30, tzinfo=UTC)
TODAY = NOW.date()
USER = UserGlobals(id=42, role="sales", team="north", email="ann@acme.test")


@pytest.fixture(scope="session")
def model():
    return in_memory_model()


def canonical(type_name: str, value: Any) -> Any:
    """A value as both compilers should agree on it (SQL floats and Decimals
    with trailing zeros → the runtime's canonical number)."""
    value = runtime.normalise(type_name, value)
    if type_name == "NUMBER" and value is not None:
        return runtime.number(value)
    if type_name == "MULTI" and value is not None:
        return sorted(value)
    return value


class RuleDB:
    """One tenant with the account and deal objects, and helpers to load rows
    and run a rule through both compilers."""

    def __init__(self, instance, binding):
        self.instance = instance
        self.binding = binding
        self.registry = field_types(instance)
        self.model = model_for(instance, binding)
        self.deal = self.model.object("deal").table
        self.account = self.model.object("account").table
        self.rows: list[dict] = []
        self.accounts: dict[int, dict] = {}

    @property
    def dialect(self) -> str:
        return self.binding.dialect

    def store(self) -> RecordStore:
        return RecordStore(self.binding, self.model, SystemGuard(), audit.SYSTEM, self.registry)

    def load(self, accounts: list[dict], deals: list[dict], parents: dict[int, int] | None = None) -> list[int]:
        """Replace every row: ``accounts`` first; a deal's ``account`` and the
        ``parents`` map ({account index: parent index}) name accounts by index."""
        with self.binding.begin() as conn:
            conn.execute(self.deal.delete())
            conn.execute(self.account.delete())
        store = self.store()
        account_ids = [r["id"] for r in store.bulk_create("account", accounts)] if accounts else []
        if parents:
            with self.binding.begin() as conn:
                for child, parent in parents.items():
                    conn.execute(
                        self.account.update()
                        .where(self.account.c.id == account_ids[child])
                        .values(parent=account_ids[parent])
                    )
        rows = []
        for deal in deals:
            row = dict(deal)
            if row.get("account") is not None:
                row["account"] = account_ids[row["account"]]
            rows.append(row)
        ids = [r["id"] for r in store.bulk_create("deal", rows, owner_ids=[USER.id] * len(rows))] if rows else []
        self.refresh()
        return ids

    def refresh(self) -> None:
        with self.binding.connect() as conn:
            self.rows = [dict(r._mapping) for r in conn.execute(sa.select(self.deal).order_by(self.deal.c.id))]
            accounts = conn.execute(sa.select(self.account).where(self.account.c.deleted_at.is_(None)))
            self.accounts = {r.id: dict(r._mapping) for r in accounts}

    def related(self, row: dict):
        def resolve(path: tuple[str, ...]) -> Any:
            current = self.accounts.get(row.get(path[0]))
            for name in path[1:-1]:
                if current is None:
                    return None
                current = self.accounts.get(current.get(name))
            return None if current is None else current.get(path[-1])

        return resolve

    def typed(self, text: str, **flags):
        return check(parse(text), CheckContext(self.model, "deal", **flags))

    def sql_context(self) -> SqlContext:
        return SqlContext(self.model, "deal", user=USER, now=NOW, today=TODAY)

    def record(self, row: dict) -> RecordContext:
        return RecordContext(row, related=self.related(row), user=USER, now=NOW, today=TODAY)

    def python_ids(self, text: str) -> list[int]:
        evaluate = compile_python(self.typed(text))
        return [row["id"] for row in self.rows if row["deleted_at"] is None and evaluate(self.record(row)) is True]

    def sql_ids(self, text: str) -> list[int]:
        condition = compile_sql(self.typed(text, sql=True), self.sql_context())
        query = sa.select(self.deal.c.id).where(self.deal.c.deleted_at.is_(None), condition).order_by(self.deal.c.id)
        with self.binding.connect() as conn:
            return list(conn.execute(query).scalars())

    def python_values(self, text: str) -> dict[int, Any]:
        typed = self.typed(text)
        evaluate = compile_python(typed)
        name = typed.type.name
        return {row["id"]: canonical(name, evaluate(self.record(row))) for row in self.rows}

    def differences(self, sql: dict[int, Any], python: dict[int, Any]) -> dict[int, tuple]:
        """Rows whose values differ. SQLite computes with 64-bit floats, so
        there numbers need only agree to about 15 significant digits of the
        values they come from — 9 decimals near 1 (docs/rules.md, "Numbers")."""
        keys = sql.keys() | python.keys()
        return {k: (sql.get(k), python.get(k)) for k in keys if not self.same(sql.get(k), python.get(k))}

    def same(self, a: Any, b: Any) -> bool:
        if a == b:
            return True
        numbers = isinstance(a, int | Decimal) and isinstance(b, int | Decimal)
        return numbers and self.dialect == "sqlite" and abs(a - b) <= Decimal("1e-9") * max(1, abs(b))

    def sql_values(self, text: str) -> dict[int, Any]:
        typed = self.typed(text, sql=True)
        expression = compile_sql(typed, self.sql_context())
        query = sa.select(self.deal.c.id, expression.label("value")).order_by(self.deal.c.id)
        with self.binding.connect() as conn:
            rows = conn.execute(query).all()
        return {row.id: canonical(typed.type.name, row.value) for row in rows}


@pytest.fixture(scope="module", params=BACKENDS)
def rule_db(request, tmp_path_factory):
    config = make_config(tmp_path_factory.mktemp("rules"), request.param)
    instance = build_instance(config, load_entry_points=False)
    instance.upgrade_platform()
    try:
        binding = tenancy.create_tenant(instance, "acme", "Acme")
        service = MetadataService(binding, field_types(instance), audit.SYSTEM)
        with service.change("rule test objects") as tx:
            tx.create_object({"api_name": "account", "label": "Account"}, ACCOUNT_FIELDS[:-1])
        with service.change("account parent") as tx:
            tx.add_field("account", ACCOUNT_FIELDS[-1])
        with service.change("deal") as tx:
            tx.create_object({"api_name": "deal", "label": "Deal"}, DEAL_FIELDS)
        yield RuleDB(instance, binding)
    finally:
        drop_namespaces(instance)
        instance.dispose()
