"""Follow-up that counts (issue 13, item 3), in crm_core's metadata:

* "Next follow-up" (next_follow_up) of accounts, contacts, leads and
  opportunities: a roll-up MIN of the due dates of their open activities;
* an activity's "Overdue" marker (a formula), the home page's "My overdue
  tasks" list view, and the reminders the owner of a task gets the day
  before it is due and the day after (scheduled rules, notifications);
* completing an activity of a lead saves the lead again, so lead scoring's
  engagement part sees the new "Last activity" (and a new lead becomes
  Contacted); a nightly rule re-scores the leads whose last activity just
  turned 7 or 30 days old."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from metacrm.plugins import utcnow

from metacrm_crm_core.plugin import PACKAGE_DIR


@pytest.fixture
def crm(package_tenant):
    return package_tenant(PACKAGE_DIR, slug="crm", users=("ann",), role="sales_rep")


def _day(offset: int) -> str:
    return (utcnow().date() + timedelta(days=offset)).isoformat()


def _task(store, **values) -> dict:
    return store.create("activity", {"subject": "Follow up", "activity_type": "task", **values})


def test_next_follow_up_overdue_tasks_reminders_and_the_lead_score(crm):
    """One tenant per database for all of it (a crm_core tenant is the slow part)."""
    store = crm.store()
    account = store.create("account", {"name": "Acme"})
    lead = store.create("lead", {"full_name": "Wu Fei", "last_name": "Wu"})
    assert store.get("account", account["id"])["next_follow_up"] is None
    later = _task(store, account=account["id"], due_date=_day(9))
    soon = _task(store, account=account["id"], due_date=_day(2))
    _task(store, lead=lead["id"], due_date=_day(4))
    assert store.get("account", account["id"])["next_follow_up"] == _day(2)
    assert store.get("lead", lead["id"])["next_follow_up"] == _day(4)
    # Done, it is no longer planned: the next one counts.
    store.update("activity", soon["id"], {"status": "completed"})
    assert store.get("account", account["id"])["next_follow_up"] == _day(9)

    # Overdue: open and past its due date; the home page's list shows the owner's.
    late = _task(store, account=account["id"], due_date=_day(-3), subject="Send the offer")
    assert store.get("activity", late["id"])["overdue"] is True
    assert store.get("activity", later["id"])["overdue"] is False
    found = store.query("activity", fields=["subject"], filters=[("overdue", "eq", "true")]).data
    assert [r["subject"] for r in found] == ["Send the offer"]
    views = {v.document["api_name"]: v for v in store.model.definitions.scoped("list_view", "activity")}
    assert views["overdue_tasks"].document["home"]["mine"] is True

    # The owner is reminded the day before it is due, and told the day after.
    due = datetime.combine(utcnow().date() + timedelta(days=9), time(), tzinfo=UTC)
    crm.run_time_rules(now=due - timedelta(days=1, minutes=-5))
    crm.run_time_rules(now=due + timedelta(days=1, minutes=5))
    messages = [(n["user_id"], n["message"]) for n in crm.notifications()]
    assert (crm.users[0], "Task due tomorrow: Follow up") in messages
    assert any(text.startswith("Task overdue: Follow up") for _user, text in messages)

    # Logging a call raises the lead's score (its engagement part) and makes a new lead Contacted.
    lead = store.create("lead", {"full_name": "Li Na", "last_name": "Li", "source": "web", "employees": 20})
    before = store.get("lead", lead["id"])
    assert before["last_activity_at"] is None and before["status"] == "new"
    call = store.create(
        "activity",
        {"subject": "Intro call", "activity_type": "call", "status": "completed", "lead": lead["id"]},
    )
    after = store.get("lead", lead["id"])
    assert after["last_activity_at"] is not None
    assert after["score"] == before["score"] + 25  # engaged within the week
    assert after["status"] == "contacted"

    # A week later the engagement is worth less: the nightly rule saves the lead again.
    week_ago = (utcnow() - timedelta(days=7, hours=12)).replace(microsecond=0)
    crm.set_columns("activity", call["id"], completed_at=week_ago)
    night = datetime.combine(utcnow().date(), time(2, 30), tzinfo=UTC)
    crm.run_time_rules(now=night)
    assert store.get("lead", lead["id"])["score"] == after["score"] - 10
