""" "Last activity" (last_activity_at) of accounts, contacts, leads and
opportunities: a roll-up MAX of the completion time of their completed
activities, which an automation of the activity stamps (completed_at) when
it is done. Computed on read, so it stays right when an activity is
deleted, restored, reopened or moved to another record."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from metacrm.plugins import utcnow

from metacrm_crm_core.plugin import PACKAGE_DIR


@pytest.fixture
def crm(package_tenant):
    return package_tenant(PACKAGE_DIR, slug="crm", users=("ann",), role="sales_rep")


def _at(value) -> datetime:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def _close(value, expected: datetime) -> bool:
    return value is not None and abs((_at(value) - expected).total_seconds()) < 60


def _activity(store, **values) -> dict:
    return store.create("activity", {"subject": "Touch", "activity_type": "call", **values})


def test_logging_completing_deleting_and_restoring_activities_keeps_the_last_activity_right(crm):
    store = crm.store()
    account = store.create("account", {"name": "Acme"})
    assert store.get("account", account["id"])["last_activity_at"] is None
    last_week = (utcnow() - timedelta(days=7)).replace(microsecond=0)
    _activity(store, status="completed", completed_at=last_week.isoformat(), account=account["id"])
    assert _close(store.get("account", account["id"])["last_activity_at"], last_week)

    # An open task is not an activity done; completing it is, now.
    task = _activity(store, activity_type="task", status="open", account=account["id"])
    assert task["completed_at"] is None
    assert _close(store.get("account", account["id"])["last_activity_at"], last_week)
    done = store.update("activity", task["id"], {"status": "completed"})
    assert _close(done["completed_at"], utcnow())
    assert _close(store.get("account", account["id"])["last_activity_at"], utcnow())

    # Deleted, it no longer counts; restored, it does again.
    store.delete("activity", task["id"])
    assert _close(store.get("account", account["id"])["last_activity_at"], last_week)
    store.restore("activity", task["id"])
    assert _close(store.get("account", account["id"])["last_activity_at"], utcnow())
    # Opened again, it loses its completion time.
    assert store.update("activity", task["id"], {"status": "open"})["completed_at"] is None
    assert _close(store.get("account", account["id"])["last_activity_at"], last_week)
    # Filters and sorts work on it as on any field.
    idle = store.create("account", {"name": "Idle"})
    found = store.query(
        "account", fields=["name"], filters=[("last_activity_at", "gt", (utcnow() - timedelta(days=30)).isoformat())]
    )
    assert [r["id"] for r in found.data] == [account["id"]] and idle["id"] != account["id"]


def test_contacts_leads_and_opportunities_follow_their_own_activities(crm):
    store = crm.store()
    account = store.create("account", {"name": "Acme"})
    contact = store.create("contact", {"full_name": "Li Na", "last_name": "Li", "account": account["id"]})
    lead = store.create("lead", {"full_name": "Wu Fei", "last_name": "Wu", "company": "Wu Ltd"})
    close = (utcnow() + timedelta(days=30)).date().isoformat()
    deal = store.create("opportunity", {"name": "Deal", "account": account["id"], "close_date": close})
    for name, record in (("contact", contact), ("lead", lead), ("opportunity", deal)):
        assert store.get(name, record["id"])["last_activity_at"] is None
        _activity(store, activity_type="note", status="completed", **{name: record["id"]})
        assert _close(store.get(name, record["id"])["last_activity_at"], utcnow()), name
    # Each record counts its own activities only.
    assert store.get("account", account["id"])["last_activity_at"] is None


def test_the_last_activity_cannot_be_written(crm):
    store = crm.store()
    with pytest.raises(Exception) as refused:
        store.create("account", {"name": "Acme", "last_activity_at": utcnow().isoformat()})
    assert "last_activity_at" in str(getattr(refused.value, "details", "")) or "read-only" in str(refused.value)
