"""The standard CRM's rules, end to end: installed with the package and run
by the record store on every save and by the scheduled-rules job (issue
#4 item 9) — lead score and round-robin assignment, stage → probability,
opportunity validation, priority-based case escalation, and the 30-day
return of idle accounts to the public pool."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from metacrm.plugins import ValidationFailed, utcnow

from metacrm_crm_core.plugin import PACKAGE_DIR


@pytest.fixture
def config(config) -> dict:
    return {**config, "JOBS_IMMEDIATE": True}


@pytest.fixture
def crm(package_tenant):
    """A tenant with crm_core installed and two sales users."""
    return package_tenant(PACKAGE_DIR, slug="crm", users=("ann", "bob"), role="sales_rep")


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
        },
    )
    assert hot["score"] == 75  # 30 + 20 + 25 + 0: nobody worked it yet
    # A call two days ago makes it engaged (last_activity_at rolls its activities up); the next save scores it.
    two_days_ago = (utcnow() - timedelta(days=2)).isoformat()
    store.create(
        "activity",
        {
            "subject": "Call",
            "activity_type": "call",
            "status": "completed",
            "completed_at": two_days_ago,
            "lead": hot["id"],
        },
    )
    hot = store.update("lead", hot["id"], {"rating": "hot"})
    assert hot["score"] == 100  # 30 + 20 + 25 + 25
    cold = store.create("lead", {"last_name": "Cold", "company": "Small", "source": "other", "employees": 10})
    assert cold["score"] == 20  # 5 + 10 + 5 + 0
    grown = store.update("lead", cold["id"], {"employees": 300})
    assert grown["score"] == 30


def test_web_leads_go_round_robin_over_the_sales_team(crm):
    crm.team("sales", "Sales", crm.users)
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
    crm.run_time_rules()
    escalated = crm.store().get("case", urgent["id"])
    assert escalated["escalated"] is True and escalated["status"] == "escalated"
    assert crm.store().get("case", medium["id"])["escalated"] in (False, None)  # 3 days for medium
    told = [(row["user_id"], row["message"]) for row in crm.notifications()]
    # the urgent case had no response within 1 hour, and is open past 4: two notes, both about it
    assert [(user, "Down" in text) for user, text in told] == [(crm.actor.user_id, True)] * 2
    crm.run_time_rules()  # once per case and moment
    results = {run["record_id"]: run["result"] for run in crm.runs("case.sla_urgent")}
    assert len(crm.runs("case.sla_urgent")) == 2
    assert results == {urgent["id"]: "ok", medium["id"]: "skipped"}  # the medium case is not urgent


def test_accounts_idle_for_30_days_return_to_the_pool_at_night(crm):
    store = crm.store()
    idle = store.create("account", {"name": "Idle"})
    busy = store.create("account", {"name": "Busy"})
    for account, days in ((idle, 40), (busy, 3)):  # their last activities, as logged then
        when = (utcnow() - timedelta(days=days)).isoformat()
        store.create(
            "activity",
            {
                "subject": "Visit",
                "activity_type": "meeting",
                "status": "completed",
                "completed_at": when,
                "account": account["id"],
            },
        )
    assert crm.store().get("account", busy["id"])["last_activity_at"] is not None
    three_am = utcnow().replace(hour=3, minute=0, second=0, microsecond=0)
    crm.run_time_rules(now=three_am + timedelta(hours=1))  # not the cron's minute
    assert crm.store().get("account", idle["id"])["owner_id"] == crm.actor.user_id
    crm.run_time_rules(now=three_am)
    assert crm.store().get("account", idle["id"])["owner_id"] is None
    assert crm.store().get("account", busy["id"])["owner_id"] == crm.actor.user_id
    pooled = [(row["record_id"], row["pool"]) for row in crm.pooled()]
    assert pooled == [(idle["id"], "account_pool")]


def test_probability_is_a_decimal_percent(crm):
    tomorrow = (utcnow() + timedelta(days=1)).date().isoformat()
    deal = crm.store().create("opportunity", {"name": "D", "stage": "qualification", "close_date": tomorrow})
    assert Decimal(str(deal["probability"])) == Decimal(20)
