"""Plugin actions (register_automation_actions): CALL runs them after the
write with evaluated arguments, slow ones go through the outbox to a job."""

from __future__ import annotations

import pytest

from metacrm.platform.hooks import hookimpl
from metacrm.rules.automation import AutomationAction
from metacrm.rules.automation.actions import ACTIONS

calls: list[tuple] = []


def _stamp(call):
    calls.append(("stamp", call.object, call.record_id, call.args, call.dry_run))
    return {"stamped": call.args[0]}


def _slow(call):
    calls.append(("slow", call.object, call.record_id, call.args))


class Actions:
    @hookimpl
    def register_automation_actions(self):
        return [
            AutomationAction("stamp", _stamp, params=("TEXT",)),
            AutomationAction("vendor.slow", _slow, params=("NUMBER", "ANY"), slow=True),
        ]


@pytest.fixture
def plugged(crm):
    plugin = Actions()
    crm.instance.pm.register(plugin)
    crm.instance.caches.discard(ACTIONS)
    calls.clear()
    yield crm
    crm.instance.pm.unregister(plugin)
    crm.instance.caches.discard(ACTIONS)


def test_call_runs_a_plugin_action_after_the_write(plugged):
    plugged.rule("stamp", 'WHEN created THEN CALL stamp("hello " & name)')
    deal = plugged.store().create("deal", {"name": "D"})
    assert calls == [("stamp", "deal", deal["id"], ("hello D",), False)]
    (run,) = plugged.runs()
    assert run["actions"] == [{"action": "call", "stamped": "hello D"}]


def test_slow_actions_run_on_a_job_through_the_outbox(plugged):
    plugged.rule("slow", "WHEN created THEN CALL vendor.slow(amount * 2, name)")
    deal = plugged.store().create("deal", {"name": "S", "amount": "2.5"})
    assert calls == [("slow", "deal", deal["id"], (5, "S"))]
    (row,) = plugged.outbox()
    assert row["kind"] == "call" and row["status"] == "delivered"


def test_an_action_missing_at_run_time_is_a_logged_error(crm):
    crm.rule("gone", "WHEN created THEN CALL not_installed(1)")
    crm.store().create("deal", {"name": "kept"})
    (run,) = crm.runs()
    assert run["result"] == "error" and "not_installed" in run["error"]
