"""The automation endpoints: definitions (admins only), dry-run with nothing
written, the run log, notifications of the signed-in user, webhook secrets."""

from __future__ import annotations

import pytest

from tests.metadata.conftest import AcmeWorld
from tests.rules.automation.conftest import DEAL_FIELDS

META = "/api/v1/meta"
AUTO = "/api/v1/meta/automations"
DATA = "/api/v1/data"


@pytest.fixture
def world(instance, app):
    return AcmeWorld(instance, app)


@pytest.fixture
def admin(world, client) -> dict:
    headers = world.bearer("admin@acme.test", "acme")
    for body in (
        {
            "api_name": "account",
            "label": "Account",
            "fields": [{"api_name": "rating", "label": "R", "type": "integer"}],
        },
        {"api_name": "deal", "label": "Deal", "fields": DEAL_FIELDS},
        {
            "api_name": "task",
            "label": "Task",
            "fields": [{"api_name": "deal", "label": "Deal", "type": "lookup", "options": {"target": "deal"}}],
        },
    ):
        response = client.post(f"{META}/objects", json=body, headers=headers)
        assert response.status_code == 201, response.json
    return headers


@pytest.fixture
def user(world) -> dict:
    return world.bearer("user@acme.test", "acme")


def test_define_list_get_replace_delete(client, admin):
    rule = {
        "object": "deal",
        "api_name": "mark_sold",
        "label": "Mark sold",
        "rule": 'WHEN updated IF ISCHANGED(status) AND ISPICKVAL(status, "sold") THEN SET sold_on = TODAY()',
    }
    created = client.post(AUTO, json=rule, headers=admin)
    assert created.status_code == 201, created.json
    assert created.json == {**rule, "active": True, "order": 1000}
    assert client.post(AUTO, json=rule, headers=admin).status_code == 409
    assert [a["api_name"] for a in client.get(f"{AUTO}?object=deal", headers=admin).json["data"]] == ["mark_sold"]
    assert client.get(f"{AUTO}?object=task", headers=admin).json["data"] == []
    replaced = client.put(f"{AUTO}/deal/mark_sold", json={"rule": rule["rule"], "active": False}, headers=admin)
    assert replaced.status_code == 200 and replaced.json["active"] is False
    assert client.delete(f"{AUTO}/deal/mark_sold", headers=admin).status_code == 204
    assert client.get(f"{AUTO}/deal/mark_sold", headers=admin).status_code == 404


def test_a_bad_rule_is_a_422_with_line_and_column(client, admin):
    response = client.post(
        AUTO, json={"object": "deal", "api_name": "bad", "rule": "WHEN updated\nTHEN SET nope = 1"}, headers=admin
    )
    assert response.status_code == 422
    assert "line 2, column 10" in response.json["error"]["message"]
    unknown_call = client.post(
        AUTO,
        json={"object": "deal", "api_name": "c", "rule": "WHEN created THEN CALL no_such_action(1)"},
        headers=admin,
    )
    assert unknown_call.status_code == 422 and "unknown automation action" in unknown_call.json["error"]["message"]


def test_plain_users_may_not_touch_automations_or_the_run_log(client, admin, user):
    assert client.get(AUTO, headers=user).status_code == 403
    assert (
        client.post(
            AUTO, json={"object": "deal", "api_name": "x", "rule": "WHEN created THEN SET note = 1"}, headers=user
        ).status_code
        == 403
    )
    assert client.get("/api/v1/automation-runs", headers=user).status_code == 403


def test_dry_run_shows_what_would_happen_and_writes_nothing(client, admin):
    rule = (
        'WHEN status changed to "won" IF amount > 100 THEN SET probability = 100; '
        'CREATE task (name = "Thank " & name, deal = id); '
        'EMAIL contact_email SUBJECT "Won {{name}}" BODY "Amount {{amount}}"'
    )
    assert client.post(AUTO, json={"object": "deal", "api_name": "won", "rule": rule}, headers=admin).status_code == 201
    deal = client.post(
        f"{DATA}/deal",
        json={"name": "Big", "status": "won", "amount": "500", "contact_email": "c@x.test"},
        headers=admin,
    ).json
    before_runs = client.get("/api/v1/automation-runs?rule=deal.won", headers=admin).json["data"]
    tasks_before = client.get(f"{DATA}/task?count=true", headers=admin).json["total"]
    response = client.post(f"{AUTO}/deal/won/dry-run", json={"record_id": deal["id"]}, headers=admin)
    assert response.status_code == 200, response.json
    body = response.json
    assert body["written"] is False and body["result"] == "ok"
    assert body["trigger"]["matches"] is True
    assert body["condition"]["value"] is True
    assert [a["action"] for a in body["actions"]] == ["set", "create", "email"]
    assert body["actions"][0]["set"] == {"probability": 100}
    assert body["actions"][1]["values"] == {"name": "Thank Big", "deal": deal["id"]}
    assert body["actions"][2]["subject"] == "Won Big"
    # Nothing written: no task, no new run, the deal unchanged.
    assert client.get(f"{DATA}/task?count=true", headers=admin).json["total"] == tasks_before
    assert client.get("/api/v1/automation-runs?rule=deal.won", headers=admin).json["data"] == before_runs
    assert client.get(f"{DATA}/deal/{deal['id']}", headers=admin).json["version"] == deal["version"]
    missing = client.post(f"{AUTO}/deal/won/dry-run", json={"record_id": 999}, headers=admin)
    assert missing.status_code == 404
    assert client.post(f"{AUTO}/deal/won/dry-run", json={"record_id": "x"}, headers=admin).status_code == 422


def test_run_log_filters_and_notifications_for_the_signed_in_user(client, admin, user, world):
    user_id = world.identity("user@acme.test", "acme").user_id
    rule = f'WHEN created THEN NOTIFY {user_id} "New deal {{{{name}}}}"'
    assert (
        client.post(AUTO, json={"object": "deal", "api_name": "tell", "rule": rule}, headers=admin).status_code == 201
    )
    deal = client.post(f"{DATA}/deal", json={"name": "D1"}, headers=admin).json
    runs = client.get(f"/api/v1/automation-runs?rule=deal.tell&record={deal['id']}&object=deal", headers=admin).json
    assert [r["result"] for r in runs["data"]] == ["ok"]
    assert client.get("/api/v1/automation-runs?record=abc", headers=admin).status_code == 422
    mine = client.get("/api/v1/notifications", headers=user).json
    assert mine["unread"] == 1 and mine["data"][0]["message"] == "New deal D1"
    assert client.get("/api/v1/notifications", headers=admin).json["data"] == []  # not the admin's
    note_id = mine["data"][0]["id"]
    assert client.post(f"/api/v1/notifications/{note_id}/read", headers=admin).status_code == 404
    read = client.post(f"/api/v1/notifications/{note_id}/read", headers=user)
    assert read.status_code == 200 and read.json["read_at"]
    assert client.get("/api/v1/notifications?unread=true", headers=user).json == {
        "data": [],
        "unread": 0,
        "next_before": None,
    }


def test_webhook_secret_is_rotated_and_never_in_definitions(client, admin, world, monkeypatch):
    monkeypatch.setitem(world.instance.config, "OUTBOUND_ALLOW", ["127.0.0.1"])
    rule = {"object": "deal", "api_name": "hook", "rule": 'WHEN created THEN WEBHOOK "http://127.0.0.1:9/hook"'}
    assert client.post(AUTO, json=rule, headers=admin).status_code == 201
    first = client.post(f"{AUTO}/deal/hook/webhook-secret", headers=admin).json["secret"]
    second = client.post(f"{AUTO}/deal/hook/webhook-secret", headers=admin).json["secret"]
    assert first != second and first.startswith("whsec_")
    assert second not in str(client.get(AUTO, headers=admin).json)


def test_round_robin_team_must_exist_when_saved_through_the_api(client, admin):
    response = client.post(
        AUTO,
        json={"object": "deal", "api_name": "rr", "rule": 'WHEN created THEN ASSIGN OWNER ROUND ROBIN TEAM "ghosts"'},
        headers=admin,
    )
    assert response.status_code == 422
    assert "line 1, column 19: no team 'ghosts'" in response.json["error"]["message"]


def test_a_webhook_to_an_internal_address_is_refused_when_saved(client, admin):
    rule = {"object": "deal", "api_name": "probe", "rule": 'WHEN created THEN WEBHOOK "http://169.254.169.254/x"'}
    response = client.post(AUTO, json=rule, headers=admin)
    assert response.status_code == 422
    assert "169.254.169.254 is a link-local address and not in OUTBOUND_ALLOW" in response.json["error"]["message"]


def test_a_manual_automation_runs_on_one_record_when_its_condition_holds(client, admin, user):
    rule = {
        "object": "deal",
        "api_name": "escalate",
        "label": "Escalate",
        "rule": 'WHEN MANUAL IF ISPICKVAL(status, "open") THEN SET note = "escalated", probability = 90',
    }
    assert client.post(AUTO, json=rule, headers=admin).status_code == 201
    open_deal = client.post(f"{DATA}/deal", json={"name": "Open one", "status": "open"}, headers=admin).json
    lost_deal = client.post(f"{DATA}/deal", json={"name": "Lost one", "status": "lost"}, headers=admin).json
    listed = client.get(f"{DATA}/deal/{open_deal['id']}/automations", headers=admin).json["data"]
    assert listed == [{"api_name": "escalate", "label": "Escalate"}]

    ran = client.post(f"{DATA}/deal/{open_deal['id']}/automations/escalate", headers=admin)
    assert ran.status_code == 200, ran.json
    assert ran.json["result"] == "ok"
    stored = client.get(f"{DATA}/deal/{open_deal['id']}", headers=admin).json
    assert (stored["note"], stored["probability"]) == ("escalated", 90)

    refused = client.post(f"{DATA}/deal/{lost_deal['id']}/automations/escalate", headers=admin)
    assert refused.status_code == 422
    assert "Escalate does not apply" in refused.json["error"]["message"]
    assert client.get(f"{DATA}/deal/{lost_deal['id']}", headers=admin).json["note"] is None  # nothing written

    assert client.post(f"{DATA}/deal/{open_deal['id']}/automations/nope", headers=admin).status_code == 404
    assert client.post(f"{DATA}/deal/999999/automations/escalate", headers=admin).status_code == 404
    # Other triggers are not manual: they cannot be run by hand.
    timed = {"object": "deal", "api_name": "on_create", "rule": 'WHEN created THEN SET note = "new"'}
    assert client.post(AUTO, json=timed, headers=admin).status_code == 201
    assert client.post(f"{DATA}/deal/{open_deal['id']}/automations/on_create", headers=admin).status_code == 404


def test_a_user_who_may_not_update_the_record_cannot_run_a_manual_automation(client, admin, user):
    rule = {"object": "deal", "api_name": "escalate", "rule": 'WHEN MANUAL THEN SET note = "escalated"'}
    assert client.post(AUTO, json=rule, headers=admin).status_code == 201
    deal = client.post(f"{DATA}/deal", json={"name": "Open one", "status": "open"}, headers=admin).json
    assert client.patch(f"{DATA}/deal/{deal['id']}", json={"probability": 1}, headers=user).status_code == 403
    assert client.post(f"{DATA}/deal/{deal['id']}/automations/escalate", headers=user).status_code == 403
    assert client.get(f"{DATA}/deal/{deal['id']}/automations", headers=user).json["data"] == []
    assert client.get(f"{DATA}/deal/{deal['id']}", headers=admin).json["note"] is None
