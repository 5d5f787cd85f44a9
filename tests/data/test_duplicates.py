"""Duplicate rules (metacrm.data.duplicates): found exactly, by normalised
phone and e-mail and by fuzzy name; warn or block on create and edit; and
merged with nothing lost (related records moved, the loser in the recycle bin)."""

import pytest
import sqlalchemy as sa

from metacrm.data.duplicates import find_duplicates, merge
from metacrm.data.duplicates.checks import WARN, duplicate_mode, reset_mode
from metacrm.data.duplicates.matching import name_score, normalise_phone
from metacrm.platform.audit import audit_log
from metacrm.platform.errors import ValidationFailed
from tests.ui.record_support import Crm

DATA = "/api/v1/data"
PERSON_FIELDS = [
    {"api_name": "email", "label": "E-mail", "type": "email"},
    {"api_name": "phone", "label": "Phone", "type": "phone"},
    {"api_name": "code", "label": "Code", "type": "text"},
    {"api_name": "secret", "label": "Secret", "type": "text"},
]
RULES = [
    {"api_name": "same_email", "action": "block", "conditions": [{"field": "email", "method": "email"}]},
    {"api_name": "same_phone", "action": "warn", "conditions": [{"field": "phone", "method": "phone"}]},
    {"api_name": "same_code", "action": "warn", "conditions": [{"field": "code", "method": "exact"}]},
    {"api_name": "like_name", "conditions": [{"field": "name", "method": "fuzzy", "threshold": 85}]},
    {"api_name": "same_secret", "action": "block", "conditions": [{"field": "secret", "method": "exact"}]},
]


@pytest.fixture
def people(world, client):
    admin = world.bearer("admin@acme.test", "acme")
    created = client.post(
        "/api/v1/meta/objects", json={"api_name": "person", "label": "Person", "fields": PERSON_FIELDS}, headers=admin
    )
    assert created.status_code == 201, created.json
    for rule in RULES:
        response = client.put(
            f"/api/v1/meta/objects/person/duplicate_rules/{rule['api_name']}", json=rule, headers=admin
        )
        assert response.status_code in (200, 201), response.json
    rows = [
        {"name": "Acme Incorporated", "email": "Ann@Example.com", "phone": "+1 (555) 123-4567", "code": "A-1"},
        {"name": "Globex", "email": "bob@example.com", "phone": "0086 138 0013 8000", "secret": "s3"},
    ]
    response = client.post(f"{DATA}/person/bulk", json={"records": rows}, headers=admin)
    assert response.status_code == 201, response.json
    return admin, [r["id"] for r in response.json["data"]]


def test_normalisers():
    assert normalise_phone("+1 (555) 123-4567") == normalise_phone("555.123.4567") == "5551234567"
    assert normalise_phone("12") == ""
    assert name_score("ACME, Inc.", "Acme Incorporated") == 100
    assert name_score("北京字节跳动科技有限公司", "北京字节跳动科技") == 100
    assert name_score("Initech", "Globex") < 50


def test_a_rule_names_existing_text_fields(client, people):
    admin, _ = people
    bad = {"api_name": "bad", "conditions": [{"field": "nope", "method": "exact"}]}
    response = client.put("/api/v1/meta/objects/person/duplicate_rules/bad", json=bad, headers=admin)
    assert response.status_code == 422 and "nope" in str(response.json)
    wrong = {"api_name": "bad", "conditions": [{"field": "email", "method": "soundex"}]}
    assert client.put("/api/v1/meta/objects/person/duplicate_rules/bad", json=wrong, headers=admin).status_code == 422


def test_duplicates_found_exact_phone_email_and_fuzzy(client, people):
    admin, (acme, globex) = people

    def found(**values):
        response = client.post(f"{DATA}/person/duplicates", json={"values": values}, headers=admin)
        assert response.status_code == 200, response.json
        return [(m["id"], m["rule"], m["action"]) for m in response.json["data"]]

    assert found(email="  ann@EXAMPLE.com ") == [(acme, "same_email", "block")]
    assert found(phone="555-123-4567") == [(acme, "same_phone", "warn")]
    assert found(phone="13800138000") == [(globex, "same_phone", "warn")]
    assert found(code="a-1") == [(acme, "same_code", "warn")]
    assert found(name="ACME Inc.") == [(acme, "like_name", "warn")]
    assert found(name="Acme Industries") == []
    assert found(name="Someone", email="x@y.z", phone="999") == []


def test_block_refuses_and_warn_asks_then_saves_anyway(client, people):
    admin, (acme, _) = people
    blocked = client.post(f"{DATA}/person", json={"name": "Ann again", "email": "ann@example.com"}, headers=admin)
    assert blocked.status_code == 422
    details = blocked.json["error"]["details"]
    assert details["duplicate_action"] == "block" and details["duplicates"][0]["id"] == acme
    assert "Acme Incorporated" in details["fields"]["email"][0]
    # save anyway does not pass a block rule
    again = client.post(
        f"{DATA}/person",
        json={"name": "Ann again", "email": "ann@example.com"},
        headers={**admin, "X-Allow-Duplicates": "true"},
    )
    assert again.status_code == 422
    warned = client.post(f"{DATA}/person", json={"name": "Acme Inc"}, headers=admin)
    assert warned.status_code == 422 and warned.json["error"]["details"]["duplicate_action"] == "warn"
    saved = client.post(f"{DATA}/person", json={"name": "Acme Inc"}, headers={**admin, "X-Allow-Duplicates": "true"})
    assert saved.status_code == 201
    # edits are checked when they change a compared field, not otherwise
    other = client.post(f"{DATA}/person", json={"name": "Zed"}, headers=admin).json
    assert (
        client.patch(f"{DATA}/person/{other['id']}", json={"phone": "(555) 123 4567"}, headers=admin).status_code == 422
    )
    assert client.patch(f"{DATA}/person/{acme}", json={"code": "A-1 "}, headers=admin).status_code == 200
    # a bulk create reports the duplicate on its row
    bulk = client.post(
        f"{DATA}/person/bulk",
        json={"records": [{"name": "New"}, {"name": "X", "email": "bob@example.com"}]},
        headers=admin,
    )
    assert bulk.status_code == 422 and "1" in str(bulk.json["error"]["details"])


def test_a_hidden_field_is_not_compared_and_a_record_out_of_scope_is_not_named(client, world, people):
    admin, _ = people
    put = client.put(
        "/api/v1/access/roles/sales_rep/objects/person",
        json={"create": True, "read": "own", "update": "own", "delete": "own", "fields": {"secret": "hidden"}},
        headers=admin,
    )
    assert put.status_code == 200, put.json
    user_id = world.identity("user@acme.test", "acme").user_id
    assert (
        client.put(f"/api/v1/access/users/{user_id}/roles", json={"roles": ["sales_rep"]}, headers=admin).status_code
        == 200
    )
    user = world.bearer("user@acme.test", "acme")
    response = client.post(f"{DATA}/person/duplicates", json={"values": {"email": "ann@example.com"}}, headers=user)
    assert response.json["data"] == []
    created = client.post(
        f"{DATA}/person", json={"name": "Acme Incorporated", "email": "ann@example.com"}, headers=user
    )
    assert created.status_code == 201, created.json


@pytest.fixture
def crm(app, package_tenant):
    return Crm.make(app, package_tenant)


def test_crm_core_ships_rules_and_merge_keeps_everything(crm, instance):
    store = crm.tenant.store()
    survivor = crm.create("account", name="Initech Ltd", phone="555-0100")
    token = duplicate_mode(WARN)  # as in a person's request
    with pytest.raises(ValidationFailed) as refused:
        crm.create("account", name="INITECH", website="https://initech.example")
    assert refused.value.details["duplicates"][0]["id"] == survivor["id"]
    reset_mode(token)
    loser = crm.create("account", name="INITECH", website="https://initech.example")
    assert [m.id for m in find_duplicates(store, "account", {"name": "Initech, Inc."})] == [
        loser["id"],
        survivor["id"],
    ] or {m.id for m in find_duplicates(store, "account", {"name": "Initech, Inc."})} == {loser["id"], survivor["id"]}
    contact = crm.create(
        "contact", last_name="Lumbergh", full_name="Bill Lumbergh", account=loser["id"], email="bill@initech.example"
    )
    activity = crm.create(
        "activity", subject="Call Bill", activity_type="call", account=loser["id"], contact=contact["id"]
    )
    assert [m.id for m in find_duplicates(store, "contact", {"email": "BILL@initech.example"})] == [contact["id"]]

    merged = merge(store, "account", survivor["id"], [loser["id"]], {"website": "https://initech.example"})
    assert merged["website"] == "https://initech.example" and merged["phone"] == "555-0100"
    assert merged["moved"] == {"activity.account": 1, "contact.account": 1}
    assert store.get("contact", contact["id"])["account"]["id"] == survivor["id"]
    assert store.get("activity", activity["id"])["account"]["id"] == survivor["id"]
    bin_ids = [r["id"] for r in store.query("account", deleted=True, fields=[]).data]
    assert loser["id"] in bin_ids
    with crm.tenant.binding.connect() as conn:
        entry = conn.execute(sa.select(audit_log).where(audit_log.c.action == "record.merged")).mappings().one()
    assert str(entry["record_id"]) == str(survivor["id"])


def test_merge_through_the_api_checks_rights_and_input(client, world, people):
    admin, (acme, globex) = people
    meeting = {"api_name": "meeting", "label": "Meeting", "fields": [
        {"api_name": "attendees", "label": "Attendees", "type": "many_to_many", "options": {"target": "person"}},
        {"api_name": "host", "label": "Host", "type": "lookup", "options": {"target": "person"}},
    ]}  # fmt: skip
    assert client.post("/api/v1/meta/objects", json=meeting, headers=admin).status_code == 201
    both = client.post(
        f"{DATA}/meeting", json={"name": "Both", "attendees": [acme, globex], "host": globex}, headers=admin
    )
    assert both.status_code == 201, both.json
    loser_only = client.post(f"{DATA}/meeting", json={"name": "Loser", "attendees": [globex]}, headers=admin).json
    assert (
        client.post(f"{DATA}/person/merge", json={"survivor": acme, "losers": [acme]}, headers=admin).status_code == 422
    )
    assert client.post(f"{DATA}/person/merge", json={"survivor": acme, "losers": "x"}, headers=admin).status_code == 422
    response = client.post(
        f"{DATA}/person/merge", json={"survivor": acme, "losers": [globex], "values": {"secret": "s3"}}, headers=admin
    )
    assert response.status_code == 200, response.json
    assert response.json["merged"] == [globex] and response.json["secret"] == "s3"
    assert response.json["moved"] == {"meeting.host": 1, "meeting.attendees": 2}
    attendees = client.get(f"{DATA}/meeting/{both.json['id']}", headers=admin).json["attendees"]
    assert [a["id"] for a in attendees] == [acme]
    assert [a["id"] for a in client.get(f"{DATA}/meeting/{loser_only['id']}", headers=admin).json["attendees"]] == [
        acme
    ]
    assert client.get(f"{DATA}/person/{globex}", headers=admin).status_code == 404
    assert client.get(f"{DATA}/person/{globex}", query_string={"deleted": "true"}, headers=admin).status_code == 200
    user = world.bearer("user@acme.test", "acme")
    assert client.post(
        f"{DATA}/person/merge", json={"survivor": acme, "losers": [globex]}, headers=user
    ).status_code in (403, 404)


def test_the_form_warns_saves_anyway_and_the_merge_screen_merges(crm):
    crm.create("account", name="Initech Ltd", phone="555-0100")
    client = crm.client("admin")
    page = client.get("/o/account/new").get_data(as_text=True)
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    form = {"csrf_token": token, "name": "INITECH"}
    warned = client.post("/o/account/new", data=form)
    html = warned.get_data(as_text=True)
    assert warned.status_code == 422 and 'data-duplicates="warn"' in html and "Initech Ltd" in html
    assert 'name="_allow_duplicates"' in html
    saved = client.post("/o/account/new", data={**form, "_allow_duplicates": "1"})
    assert saved.status_code == 302, saved.get_data(as_text=True)[:300]
    loser_id = int(saved.headers["Location"].rsplit("/", 1)[1])
    contact = crm.create("contact", last_name="Smykowski", full_name="Tom Smykowski", account=loser_id)
    survivor_id = loser_id - 1
    screen = client.get(f"/o/account/merge?ids={survivor_id},{loser_id}")
    assert screen.status_code == 200 and 'data-merge-field="name"' in screen.get_data(as_text=True)
    merged = client.post(
        "/o/account/merge",
        data={
            "csrf_token": token,
            "ids": f"{survivor_id},{loser_id}",
            "survivor": str(survivor_id),
            "field.name": str(loser_id),
        },
    )
    assert merged.status_code == 302 and merged.headers["Location"] == f"/o/account/{survivor_id}"
    store = crm.tenant.store()
    assert store.get("account", survivor_id)["name"] == "INITECH"
    assert store.get("contact", contact["id"])["account"]["id"] == survivor_id
    assert client.get(f"/o/account/merge?ids={survivor_id}").status_code == 422
    # a list's bulk action goes to the merge screen with 2-3 records
    bulk = client.post("/o/account/bulk", data={"csrf_token": token, "bulk_action": "merge", "ids": ["1", "2"]})
    assert bulk.status_code == 302 and "/o/account/merge?ids=1,2" in bulk.headers["Location"]
