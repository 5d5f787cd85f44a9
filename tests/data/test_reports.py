"""Reports (metacrm/data/reports): the numbers a report gives equal the same
aggregate written by hand in SQL, for a sales rep (their own records) and a
sales manager (their team's); hidden fields are refused wherever a report
names them; dates group by day, week, month, quarter and (fiscal) year;
matrices. On SQLite and, when configured, PostgreSQL."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import sqlalchemy as sa
from metacrm_crm_core.plugin import PACKAGE_DIR

from metacrm.access.changes import AccessChanges
from metacrm.access.guard import PolicyGuard
from metacrm.access.members import provision_member
from metacrm.access.policy import policy_for
from metacrm.app import build_instance
from metacrm.data.reports import RunOptions, run_report
from metacrm.metadata.guard import SystemGuard
from metacrm.metadata.model import definition_kinds, model_for, record_store
from metacrm.platform import audit, tenancy
from metacrm.platform import identity as identities
from metacrm.plugins.packages import apply_package, load_package
from tests.conftest import BACKENDS, PASSWORD, drop_namespaces, make_config

STAGES = ["prospecting", "qualification", "proposal", "closed_won", "closed_lost"]


class Crm:
    def __init__(self, instance):
        self.instance = instance
        tenancy.create_tenant(instance, "crm", "Crm")
        self.binding = instance.db.bind("crm")
        apply_package(instance, self.binding, load_package(PACKAGE_DIR), audit.SYSTEM)
        self.users: dict[str, int] = {}
        for name, role in (("rep", "sales_rep"), ("other", "sales_rep"), ("boss", "sales_manager")):
            user_id = identities.create_user(
                instance,
                tenant="crm",
                email=f"{name}@crm.test",
                password=PASSWORD,
                role=role,
                display_name=name.title(),
            )
            provision_member(instance, self.binding, user_id, actor=audit.SYSTEM)
            self.users[name] = user_id

    def system(self):
        return record_store(self.instance, self.binding, SystemGuard(), audit.SYSTEM)

    def store(self, name: str):
        identity = identities.identity_for(self.instance, self.users[name], "crm")
        model = model_for(self.instance, self.binding)
        guard = PolicyGuard.for_identity(self.instance, self.binding, identity, model)
        return record_store(self.instance, self.binding, guard, audit.Actor(user_id=identity.user_id))

    def hide(self, role: str, object_name: str, field: str) -> None:
        changes = AccessChanges(
            self.instance,
            self.binding,
            audit.SYSTEM,
            held=frozenset({"admin"}),
            policy=policy_for(self.instance, self.binding),
        )
        entry = {"create": True, "read": "own", "update": "own", "delete": "own", "fields": {field: "hidden"}}
        with changes.change(f"hide {field}") as change:
            change.put_object_access(role, object_name, entry)

    def table(self, object_name: str):
        return model_for(self.instance, self.binding).object(object_name).table

    def sql(self, query) -> list:
        with self.binding.connect() as conn:
            return conn.execute(query).all()


@pytest.fixture(scope="module", params=BACKENDS)
def crm(request, tmp_path_factory):
    instance = build_instance(make_config(tmp_path_factory.mktemp("reports"), request.param), load_entry_points=False)
    instance.upgrade_platform()
    try:
        crm = Crm(instance)
        store = crm.system()
        accounts = [
            store.create("account", {"name": f"Account {i}"}, owner_id=crm.users["rep"])["id"] for i in range(3)
        ]
        n = 0
        for owner in ("rep", "other", "boss"):
            for i in range(12):
                n += 1
                store.create(
                    "opportunity",
                    {
                        "name": f"Deal {n}",
                        "stage": STAGES[(i + n) % len(STAGES)],
                        "amount": str(Decimal(1000 + 250 * ((i * 7 + n) % 11)) + Decimal("0.50")),
                        "probability": (i * 13) % 100,
                        "close_date": (dt.date.today() + dt.timedelta(days=1 + 23 * i + n)).isoformat(),
                        "account": accounts[i % 3] if i % 4 else None,
                    },
                    owner_id=crm.users[owner],
                )
        yield crm
    finally:
        drop_namespaces(instance)
        instance.dispose()


def by_stage(**extra) -> dict:
    return {
        "api_name": "t",
        "label": "T",
        "object": "opportunity",
        "type": "summary",
        "groupings": [{"field": "stage"}],
        "aggregates": [{"op": "count"}, {"op": "sum", "field": "amount"}, {"op": "avg", "field": "amount"}],
        **extra,
    }


def values_of(result) -> dict:
    return {tuple(k["value"] for k in g["keys"]): g["values"] for g in result["groups"]}


@pytest.mark.parametrize("user, owners", [("rep", ["rep"]), ("boss", ["rep", "other", "boss"])])
def test_summary_equals_hand_written_sql_within_scope(crm, user, owners):
    t = crm.table("opportunity")
    ids = [crm.users[o] for o in owners]
    expected = {
        (stage,): {"count": count, "sum_amount": float(total), "avg_amount": round(float(avg), 6)}
        for stage, count, total, avg in crm.sql(
            sa.select(t.c.stage, sa.func.count(), sa.func.sum(t.c.amount), sa.func.avg(t.c.amount))
            .where(t.c.owner_id.in_(ids), t.c.deleted_at.is_(None))
            .group_by(t.c.stage)
        )
    }
    result = run_report(crm.store(user), by_stage())
    got = values_of(result)
    assert got.keys() == expected.keys()
    for key, values in expected.items():
        assert got[key]["count"] == values["count"]
        assert got[key]["sum_amount"] == pytest.approx(values["sum_amount"])
        assert got[key]["avg_amount"] == pytest.approx(values["avg_amount"])
    assert result["total"]["count"] == sum(v["count"] for v in expected.values())
    label = {g["keys"][0]["value"]: g["keys"][0]["label"] for g in result["groups"]}
    assert label["closed_won"] == "Closed won"
    assert run_report(crm.store(user), by_stage(), RunOptions(locale="zh_CN"))["groups"][0]["keys"][0]["label"]


def test_tabular_lists_the_users_records_with_columns_sort_and_limit(crm):
    definition = {
        "api_name": "t",
        "label": "T",
        "object": "opportunity",
        "type": "tabular",
        "columns": ["name", "stage", "amount", "account"],
        "sort": "-amount,id",
        "limit": 5,
        "filter": 'stage != "closed_lost"',
    }
    result = run_report(crm.store("rep"), definition)
    t = crm.table("opportunity")
    expected = crm.sql(
        sa.select(t.c.id)
        .where(t.c.owner_id == crm.users["rep"], t.c.stage != "closed_lost", t.c.deleted_at.is_(None))
        .order_by(t.c.amount.desc(), t.c.id)
    )
    assert [r["id"] for r in result["records"]] == [row.id for row in expected[:5]]
    assert result["total"] == len(expected)
    assert result["truncated"] is True
    assert [c["key"] for c in result["columns"]] == ["name", "stage", "amount", "account"]


def test_the_report_kind_is_registered(crm):
    kinds = definition_kinds(crm.instance)
    assert "report" in kinds
    assert kinds.get("report").collection == "reports"
