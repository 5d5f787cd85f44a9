"""Automation rules in the save pipeline: SET before the write, CREATE and
friends after it, conditions, triggers, the run log, recursion."""

from __future__ import annotations

from datetime import date

import pytest

from metacrm.platform.clock import utcnow
from metacrm.platform.errors import ValidationFailed

SOLD_RULE = 'WHEN updated IF ISCHANGED(status) AND ISPICKVAL(status, "sold") THEN SET sold_on = TODAY()'


def test_the_sold_on_example_sets_the_date_before_the_write(crm):
    crm.rule("mark_sold", SOLD_RULE)
    store = crm.store()
    deal = store.create("deal", {"name": "Big", "status": "open"})
    assert deal["sold_on"] is None
    updated = store.update("deal", deal["id"], {"status": "sold"})
    assert updated["sold_on"] == utcnow().date().isoformat()
    assert updated["version"] == 2  # one write: the SET went into the user's save
    runs = crm.runs(rule="deal.mark_sold")
    assert [r["result"] for r in runs] == ["ok"]
    assert runs[0]["record_id"] == deal["id"] and runs[0]["trigger"] == "updated"
    assert runs[0]["actions"] == [{"action": "set", "set": {"sold_on": utcnow().date().isoformat()}}]
    # Another update that does not change status: the condition is false → skipped.
    store.update("deal", deal["id"], {"note": "x"})
    assert [r["result"] for r in crm.runs(rule="deal.mark_sold")] == ["ok", "skipped"]


def test_changed_to_trigger_create_and_notify_after_the_write(crm):
    crm.rule(
        "won",
        'WHEN status changed to "won" THEN SET probability = 100; '
        'CREATE task (name = "Thank " & name, deal = id); NOTIFY owner_id "Deal {{name}} won: {{amount}}"',
    )
    store = crm.store()
    deal = store.create("deal", {"name": "Acme", "status": "open", "amount": "1200.50"})
    assert crm.count("task") == 0
    won = store.update("deal", deal["id"], {"status": "won"})
    assert won["probability"] == 100
    tasks = store.query("task").data
    assert [(t["name"], t["deal"]["id"]) for t in tasks] == [("Thank Acme", deal["id"])]
    (note,) = crm.notifications()
    assert note["user_id"] == 7 and note["message"] == "Deal Acme won: 1200.5"
    run = crm.runs(rule="deal.won")[-1]
    assert [a["action"] for a in run["actions"]] == ["set", "create", "notify"]


def test_created_rule_with_keywords_in_any_case(crm):
    crm.rule("defaults", 'when CREATED if amount > 1000 then set note = "big", probability = 10')
    store = crm.store()
    big = store.create("deal", {"name": "A", "amount": "5000"})
    small = store.create("deal", {"name": "B", "amount": "5"})
    assert (big["note"], big["probability"]) == ("big", 10)
    assert small["note"] is None
    assert [r["result"] for r in crm.runs()] == ["ok", "skipped"]


def test_inactive_rules_do_not_run_and_order_decides(crm):
    crm.rule("second", 'WHEN created THEN SET note = note & "2"', order=20)
    crm.rule("first", 'WHEN created THEN SET note = "1"', order=10)
    crm.rule("off", 'WHEN created THEN SET note = "off"', active=False)
    deal = crm.store().create("deal", {"name": "A"})
    assert deal["note"] == "12"


def test_deleted_rule_runs_after_the_delete(crm):
    crm.rule("gone", 'WHEN deleted THEN CREATE task (name = "deleted " & name)')
    store = crm.store()
    deal = store.create("deal", {"name": "Old"})
    store.delete("deal", deal["id"])
    assert [t["name"] for t in store.query("task").data] == ["deleted Old"]
    assert crm.runs(rule="deal.gone")[0]["trigger"] == "deleted"


def test_update_related_and_parent(crm):
    crm.rule("rate", "WHEN updated IF ISCHANGED(amount) THEN UPDATE account SET rating = 5")
    crm.rule(
        "touch", 'WHEN updated IF ISCHANGED(status) THEN UPDATE RELATED task.deal SET name = "status " & TEXT(status)'
    )
    store = crm.store()
    account = store.create("account", {"name": "Acme"})
    deal = store.create("deal", {"name": "D", "account": account["id"], "amount": "1"})
    store.create("task", {"name": "t1", "deal": deal["id"]})
    store.create("task", {"name": "t2", "deal": deal["id"]})
    store.update("deal", deal["id"], {"amount": "2"})
    assert store.get("account", account["id"])["rating"] == 5
    store.update("deal", deal["id"], {"status": "won"})
    assert sorted(t["name"] for t in store.query("task").data) == ["status won", "status won"]


def test_a_failing_action_is_logged_and_the_save_goes_on(crm):
    # The task's deal lookup gets a record id that does not exist.
    crm.rule("bad", "WHEN created THEN CREATE task (name = name, deal = 999999)")
    deal = crm.store().create("deal", {"name": "Still saved"})
    assert deal["id"]
    (run,) = crm.runs(rule="deal.bad")
    assert run["result"] == "error" and "999999" in run["error"]
    assert crm.count("task") == 0


def test_a_loop_stops_and_a_rule_does_not_refire_on_its_own_save(crm):
    # deal → task → deal → …: each rule updates the other object.
    crm.rule("ping", 'WHEN updated THEN CREATE task (name = "ping", deal = id)')
    crm.rule("pong", 'WHEN created THEN UPDATE deal SET note = "pong " & name', object_name="task")
    store = crm.store()
    deal = store.create("deal", {"name": "D"})
    store.update("deal", deal["id"], {"note": "start"})
    # ping creates a task; pong updates the deal; ping does not fire again for
    # the same deal in that chain.
    assert crm.count("task") == 1
    assert store.get("deal", deal["id"])["note"] == "pong ping"
    assert all(r["result"] == "ok" for r in crm.runs())


def test_recursion_beyond_the_depth_limit_is_a_logged_error(crm):
    # Each created task creates another task: the chain stops at MAX_DEPTH.
    crm.rule("chain", 'WHEN created THEN CREATE task (name = name & "+")', object_name="task")
    store = crm.store()
    store.create("task", {"name": "t"})
    errors = [r for r in crm.runs() if r["result"] == "error"]
    assert errors and "nest more than 5 deep" in errors[0]["error"]
    assert crm.count("task") == 6


BAD_RULES = [
    ("WHEN updated THEN SET nope = 1", "unknown field 'nope'"),
    ('WHEN updated THEN SET probability = "x"', "deal.probability is NUMBER but the value is TEXT"),
    ('WHEN updated THEN SET status = "maybe"', "'maybe' is not a value of deal.status"),
    ("WHEN updated THEN CREATE ghost (a = 1)", "unknown object 'ghost'"),
    ("WHEN 3 days after note THEN SET probability = 1", "date or datetime field"),
    ('WHEN cron "61 * * * *" THEN SET probability = 1', "invalid cron expression"),
    ("WHEN updated THEN SET", "line 1, column 22"),
    ('WHEN status changed to "nope" THEN SET probability = 1', "'nope' is not a value of status"),
    ('WHEN updated THEN NOTIFY owner_id "hi {{nothing}}"', "in {{nothing}}"),
]


def test_bad_rules_are_refused_at_definition_time(crm):
    for text, message in BAD_RULES:
        with pytest.raises(ValidationFailed) as caught:
            crm.rule("bad", text)
        assert message in str(caught.value), (text, str(caught.value))


def test_deleting_a_field_a_rule_uses_is_refused(crm):
    crm.rule("mark_sold", SOLD_RULE)
    with pytest.raises(ValidationFailed) as caught, crm.service().change("drop sold_on") as tx:
        tx.delete_field("deal", "sold_on")
    assert "automation:deal.mark_sold" in str(caught.value.details)


def test_scheduled_and_cron_rules(crm):
    from datetime import UTC, datetime

    from metacrm.rules.automation.scheduled import run_time_rules

    crm.rule("follow_up", 'WHEN 3 days after close_date THEN CREATE task (name = "follow up " & name, deal = id)')
    crm.rule("morning", 'WHEN cron "0 8 * * *" IF amount > 100 THEN SET note = "checked"')
    store = crm.store()
    due = store.create("deal", {"name": "Due", "close_date": "2026-03-10", "amount": "500"})
    store.create("deal", {"name": "Later", "close_date": "2026-03-20", "amount": "50"})
    now = datetime(2026, 3, 13, 8, 0, tzinfo=UTC)
    runs = run_time_rules(crm.instance, crm.binding, now=now)
    assert [(r.rule.api_name, r.result) for r in runs] == [("follow_up", "ok"), ("morning", "ok")]
    assert [t["name"] for t in store.query("task").data] == ["follow up Due"]
    assert store.get("deal", due["id"])["note"] == "checked"
    # Run again: the scheduled run is remembered; 08:01 is not the cron minute.
    assert run_time_rules(crm.instance, crm.binding, now=now.replace(minute=1)) == []
    assert date(2026, 3, 10)
