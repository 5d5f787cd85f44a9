"""The access layer's automation actions: round-robin and least-busy owner
assignment over a team's members, and return to pool."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from metacrm.access.changes import AccessChanges
from metacrm.access.tables import pool_records, team_members, teams
from metacrm.platform import audit
from metacrm.platform.errors import ValidationFailed


@pytest.fixture
def north(crm):
    with crm.binding.begin() as conn:
        conn.execute(teams.insert().values(api_name="north", label="North"))
        conn.execute(team_members.insert(), [{"team": "north", "user_id": u} for u in (11, 12, 13)])
    return [11, 12, 13]


def test_round_robin_hands_out_turns_in_order(crm, north):
    crm.rule("assign", 'WHEN created THEN ASSIGN OWNER ROUND ROBIN TEAM "north"')
    store = crm.store()
    owners = [store.create("deal", {"name": f"D{i}"})["owner_id"] for i in range(5)]
    assert owners == [11, 12, 13, 11, 12]
    assert crm.runs()[0]["actions"][0]["owner_id"] == 11


def test_round_robin_is_safe_under_concurrent_saves(crm, north):
    crm.rule("assign", 'WHEN created THEN ASSIGN OWNER ROUND ROBIN TEAM "north"')
    owners, errors = [], []

    def create(i):
        try:
            owners.append(crm.store().create("deal", {"name": f"C{i}"})["owner_id"])
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=create, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(owners) == [11, 11, 12, 12, 13, 13]


def test_least_busy_picks_the_member_owning_fewest_records(crm, north):
    store = crm.store()
    for owner in (11, 11, 12):
        store.create("deal", {"name": "x"}, owner_id=owner)
    crm.rule("balance", 'WHEN created IF amount > 0 THEN ASSIGN OWNER LEAST BUSY TEAM "north"')
    store = crm.store()  # on the new model revision
    first = store.create("deal", {"name": "n1", "amount": "1"})
    assert first["owner_id"] == 13, crm.runs()
    assert store.create("deal", {"name": "n2", "amount": "1"})["owner_id"] == 12  # 12 and 13 own one; 12 < 13


def test_an_unknown_team_is_a_logged_error_and_the_record_is_saved(crm):
    crm.rule("assign", 'WHEN created THEN ASSIGN OWNER ROUND ROBIN TEAM "ghosts"')
    deal = crm.store().create("deal", {"name": "kept"})
    assert deal["owner_id"] == 7
    (run,) = crm.runs()
    assert run["result"] == "error" and "no team 'ghosts'" in run["error"]


def test_assign_owner_to_an_expression(crm):
    crm.rule("mine", "WHEN created THEN ASSIGN OWNER TO 99")
    assert crm.store().create("deal", {"name": "x"})["owner_id"] == 99


def test_return_to_pool_after_30_days_without_follow_up(crm):
    from datetime import UTC, datetime, timedelta

    from metacrm.rules.automation.scheduled import run_time_rules

    with AccessChanges(crm.instance, crm.binding, audit.SYSTEM).change("pool") as change:
        change.put_pool(
            {"api_name": "deal_pool", "object": "deal", "label": "Deals", "members": {"roles": ["sales_rep"]}}
        )
    crm.rule("reclaim", 'WHEN 30 days after updated_at IF ISBLANK(note) THEN RETURN TO POOL "no follow-up"')
    store = crm.store()
    idle = store.create("deal", {"name": "idle"})
    busy = store.create("deal", {"name": "busy", "note": "called"})
    later = datetime.now(UTC) + timedelta(days=31)
    runs = run_time_rules(crm.instance, crm.binding, now=later)
    assert sorted((r.rule.api_name, r.result) for r in runs) == [("reclaim", "ok"), ("reclaim", "skipped")]
    assert store.get("deal", idle["id"])["owner_id"] is None
    assert store.get("deal", busy["id"])["owner_id"] == 7
    with crm.binding.connect() as conn:
        rows = conn.execute(sa.select(pool_records.c.record_id, pool_records.c.reason)).all()
    assert [tuple(r) for r in rows] == [(idle["id"], "no follow-up")]


def test_return_to_pool_on_delete_is_refused(crm):
    with pytest.raises(ValidationFailed, match="cannot go back to a pool"):
        crm.rule("x", "WHEN deleted THEN RETURN TO POOL")
