"""Automation conditions read a record the way validation rules do: stored
roll-ups, formulas and lookup paths (one reader for every rule on a save)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def roll_ups(crm_world):
    """Account roll-ups of its deals: how many, and their total amount."""
    with crm_world.service().change("roll-ups") as tx:
        for api_name, function in (("deals", "count"), ("total", "sum")):
            options = {"object": "deal", "relation": "account", "function": function}
            if function == "sum":
                options["field"] = "amount"
            tx.add_field(
                "account", {"api_name": api_name, "label": api_name.title(), "type": "roll_up", "options": options}
            )


@pytest.fixture
def deals_of_account(roll_ups, crm):
    return crm


def test_an_automation_condition_reads_a_stored_roll_up(deals_of_account):
    crm = deals_of_account
    crm.rule("busy", "WHEN updated IF deals > 1 AND total >= 100 THEN SET rating = 5", object_name="account")
    store = crm.store()
    account = store.create("account", {"name": "A"})
    store.create("deal", {"name": "one", "account": account["id"], "amount": "60"})
    assert store.update("account", account["id"], {"name": "B"})["rating"] is None
    store.create("deal", {"name": "two", "account": account["id"], "amount": "40"})
    assert store.update("account", account["id"], {"name": "C"})["rating"] == 5
    assert [r["result"] for r in crm.runs(rule="account.busy")] == ["skipped", "ok"]


def test_an_automation_condition_reads_a_roll_up_through_a_lookup(deals_of_account):
    crm = deals_of_account
    crm.rule("big_account", 'WHEN created IF account.deals >= 1 THEN SET note = "repeat"')
    store = crm.store()
    account = store.create("account", {"name": "A"})
    assert store.create("deal", {"name": "first", "account": account["id"]})["note"] is None
    assert store.create("deal", {"name": "second", "account": account["id"]})["note"] == "repeat"
