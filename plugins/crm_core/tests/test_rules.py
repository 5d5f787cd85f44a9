"""The standard CRM's rules, end to end: installed with the package and run
by the record store on every save and by the scheduled-rules job (issue
#4 item 9) — lead score and round-robin assignment, stage → probability,
opportunity validation, priority-based case escalation, and the 30-day
return of idle accounts to the public pool."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from metacrm.access import provision_member, sharing
from metacrm.access.guard import SystemGuard
from metacrm.access.tables import pool_records
from metacrm.metadata.model import model_for, record_store
from metacrm.platform import audit, tenancy
from metacrm.platform import identity as identities
from metacrm.platform.clock import utcnow
from metacrm.platform.errors import ValidationFailed
from metacrm.plugins.packages import apply_package, load_package
from metacrm.rules.automation.scheduled import run_time_rules
from metacrm.rules.automation.tables import automation_runs, notifications

from metacrm_crm_core.plugin import PACKAGE_DIR
from tests.conftest import PASSWORD, make_config


@pytest.fixture
def config(tmp_path, backend) -> dict:
    return make_config(tmp_path, backend, JOBS_IMMEDIATE=True)


class Crm:
    """A tenant with crm_core installed and two sales users."""

    def __init__(self, instance):
        self.instance = instance
        tenancy.create_tenant(instance, "crm", "CRM")
        self.binding = instance.db.bind("crm")
        apply_package(instance, self.binding, load_package(PACKAGE_DIR), audit.SYSTEM)
        self.users = []
        for name in ("ann", "bob"):
            user_id = identities.create_user(
                instance, tenant="crm", email=f"{name}@crm.test", password=PASSWORD, role="sales_rep"
            )
            provision_member(instance, self.binding, user_id, actor=audit.SYSTEM)
            self.users.append(user_id)
        self.actor = audit.Actor(user_id=self.users[0], email="ann@crm.test")

    def store(self):
        return record_store(self.instance, self.binding, SystemGuard(), self.actor)

    def sales_team(self) -> None:
        document = {"api_name": "sales", "label": "Sales", "members": self.users}
        sharing.create_team(self.instance, self.binding, document, audit.SYSTEM)

    def set_columns(self, object_name: str, record_id: int, **values) -> None:
        table = model_for(self.instance, self.binding).object(object_name).table
        with self.binding.begin() as conn:
            conn.execute(table.update().where(table.c.id == record_id).values(**values))

    def runs(self, rule: str) -> list[dict]:
        with self.binding.connect() as conn:
            query = sa.select(automation_runs).where(automation_runs.c.rule == rule).order_by(automation_runs.c.id)
            return [dict(r) for r in conn.execute(query).mappings()]


@pytest.fixture
def crm(instance) -> Crm:
    return Crm(instance)


def test_the_lead_score_follows_source_industry_size_and_engagement(crm):
    store = crm.store()
    hot = store.create(
        "lead",
        {
            "last_name": "Hot",
            "company": "Big",
            "source": "referral",
            "industry": "technology",
            "employees": 5000,
            "last_activity_at": (utcnow() - timedelta(days=2)).isoformat(),
        },
    )
    assert hot["score"] == 100  # 30 + 20 + 25 + 25
    cold = store.create("lead", {"last_name": "Cold", "company": "Small", "source": "other", "employees": 10})
    assert cold["score"] == 20  # 5 + 10 + 5 + 0
    grown = store.update("lead", cold["id"], {"employees": 300})
    assert grown["score"] == 30


def test_web_leads_go_round_robin_over_the_sales_team(crm):
    crm.sales_team()
    store = crm.store()
    web = store.bulk_create("lead", [{"last_name": f"Web {i}", "company": "W", "source": "web"} for i in range(3)])
    assert [lead["owner_id"] for lead in web] == [crm.users[0], crm.users[1], crm.users[0]]
    other = store.create("lead", {"last_name": "Phone", "company": "P", "source": "cold_call"})
    assert other["owner_id"] == crm.actor.user_id


def test_without_a_sales_team_the_lead_is_kept_and_the_rule_logs_an_error(crm):
    lead = crm.store().create("lead", {"last_name": "Web", "company": "W", "source": "web"})
    assert lead["owner_id"] == crm.actor.user_id
    [run] = crm.runs("lead.assign_web_leads")
    assert run["result"] == "error" and "sales" in run["error"]


def test_the_probability_follows_the_stage(crm):
    store = crm.store()
    tomorrow = (utcnow() + timedelta(days=1)).date().isoformat()
    deal = store.create("opportunity", {"name": "Deal", "stage": "proposal", "close_date": tomorrow, "amount": 10})
    assert deal["probability"] == 50
    assert store.update("opportunity", deal["id"], {"stage": "negotiation"})["probability"] == 75
    assert store.update("opportunity", deal["id"], {"stage": "closed_won"})["probability"] == 100


def test_opportunities_refuse_negative_amounts_and_open_past_close_dates(crm):
    store = crm.store()
    yesterday = (utcnow() - timedelta(days=1)).date().isoformat()
    tomorrow = (utcnow() + timedelta(days=1)).date().isoformat()
    with pytest.raises(ValidationFailed) as refused:
        store.bulk_create(
            "opportunity",
            [
                {"name": "Fine", "stage": "proposal", "close_date": tomorrow, "amount": 5},
                {"name": "Negative", "stage": "proposal", "close_date": tomorrow, "amount": -1},
                {"name": "Late", "stage": "proposal", "close_date": yesterday},
            ],
        )
    assert refused.value.details["rows"] == {
        "1": {"fields": {"amount": ["The amount cannot be negative"]}},
        "2": {
            "fields": {
                "close_date": [
                    "An open opportunity cannot close in the past; move the close date or close the opportunity"
                ]
            }
        },
    }
    assert crm.store().query("opportunity", count=True).total == 0  # nothing written
    won = store.create("opportunity", {"name": "Won", "stage": "closed_won", "close_date": yesterday})
    assert won["probability"] == 100
    # An open deal whose date has since passed may still be edited, as long as the date is left alone.
    late = store.create("opportunity", {"name": "Open", "stage": "proposal", "close_date": tomorrow})
    crm.set_columns("opportunity", late["id"], close_date=(utcnow() - timedelta(days=3)).date())
    assert store.update("opportunity", late["id"], {"next_step": "call"})["next_step"] == "call"
    with pytest.raises(ValidationFailed):
        store.update("opportunity", late["id"], {"stage": "negotiation"})


def test_cases_past_their_service_level_are_escalated_and_the_owner_told(crm):
    store = crm.store()
    urgent = store.create("case", {"subject": "Down", "priority": "urgent", "status": "new"})
    medium = store.create("case", {"subject": "Slow", "priority": "medium", "status": "new"})
    five_hours_ago = utcnow() - timedelta(hours=5)
    for case in (urgent, medium):
        crm.set_columns("case", case["id"], created_at=five_hours_ago)
    run_time_rules(crm.instance, crm.binding)
    escalated = crm.store().get("case", urgent["id"])
    assert escalated["escalated"] is True and escalated["status"] == "escalated"
    assert crm.store().get("case", medium["id"])["escalated"] in (False, None)  # 3 days for medium
    with crm.binding.connect() as conn:
        told = conn.execute(sa.select(notifications.c.user_id, notifications.c.message)).all()
    assert [(user, "Down" in text) for user, text in told] == [(crm.actor.user_id, True)]
    run_time_rules(crm.instance, crm.binding)  # once per case and moment
    results = {run["record_id"]: run["result"] for run in crm.runs("case.sla_urgent")}
    assert len(crm.runs("case.sla_urgent")) == 2
    assert results == {urgent["id"]: "ok", medium["id"]: "skipped"}  # the medium case is not urgent


def test_accounts_idle_for_30_days_return_to_the_pool_at_night(crm):
    store = crm.store()
    idle = store.create("account", {"name": "Idle"})
    busy = store.create("account", {"name": "Busy"})
    crm.set_columns("account", idle["id"], last_activity_at=utcnow() - timedelta(days=40))
    crm.set_columns("account", busy["id"], last_activity_at=utcnow() - timedelta(days=3))
    three_am = utcnow().replace(hour=3, minute=0, second=0, microsecond=0)
    run_time_rules(crm.instance, crm.binding, now=three_am + timedelta(hours=1))  # not the cron's minute
    assert crm.store().get("account", idle["id"])["owner_id"] == crm.actor.user_id
    run_time_rules(crm.instance, crm.binding, now=three_am)
    assert crm.store().get("account", idle["id"])["owner_id"] is None
    assert crm.store().get("account", busy["id"])["owner_id"] == crm.actor.user_id
    with crm.binding.connect() as conn:
        pooled = conn.execute(sa.select(pool_records.c.record_id, pool_records.c.pool)).all()
    assert [tuple(row) for row in pooled] == [(idle["id"], "account_pool")]


def test_probability_is_a_decimal_percent(crm):
    tomorrow = (utcnow() + timedelta(days=1)).date().isoformat()
    deal = crm.store().create("opportunity", {"name": "D", "stage": "qualification", "close_date": tomorrow})
    assert Decimal(str(deal["probability"])) == Decimal(20)
