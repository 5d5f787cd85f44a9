"""Derived visibility (issue 15, item 3): whatever reads a field a user may
not read — a formula, a roll-up, a layout condition, a validation rule, a
filter, a count, the OpenAPI document — tells that user nothing about it,
unless an admin gave the derived field its own access (``own_access``).

Sales reps may not read ``deal.secret`` nor ``ticket.score`` here."""

from __future__ import annotations

import pytest

from metacrm.metadata.changes import MetadataService
from metacrm.metadata.model import field_types
from tests.access.conftest import ACTOR


def _number(api_name: str, expression: str, **extra) -> dict:
    options = {"expression": expression, "return_type": "number", "scale": 0}
    return {"api_name": api_name, "label": api_name, "type": "formula", "options": options, **extra}


@pytest.fixture
def world(acl):
    binding = acl.binding
    with MetadataService(binding, field_types(acl.instance), ACTOR).change("derived fields") as tx:
        tx.add_field("ticket", {"api_name": "score", "label": "Score", "type": "integer"})
        tx.add_field("ticket", {"api_name": "deal", "label": "Deal", "type": "lookup", "options": {"target": "deal"}})
        tx.add_field("deal", _number("secret_len", "LEN(secret)"))
        tx.add_field("deal", _number("open_len", "LEN(secret)", own_access=True))
        tx.add_field("deal", _number("twice_secret", "secret_len * 2"))
        tx.add_field("deal", _number("double", "amount * 2"))
        tx.add_field("ticket", _number("deal_secret", "LEN(deal.secret)"))
        for name, function, field in (("tickets", "count", None), ("score_sum", "sum", "score")):
            options = {"object": "ticket", "relation": "deal", "function": function}
            if field:
                options["field"] = field
            tx.add_field("deal", {"api_name": name, "label": name, "type": "roll_up", "options": options})
    client = acl.client()
    for obj, fields in (("deal", {"secret": "hidden", "amount": "read"}), ("ticket", {"score": "hidden"})):
        response = client.put(
            f"/api/v1/access/roles/sales_rep/objects/{obj}",
            json={"create": True, "read": "own", "update": "own", "delete": "own", "fields": fields},
            headers=acl.headers("admin"),
        )
        assert response.status_code == 200, response.json
    deal = acl.record("deal-rep_a-1")
    store = acl.system_store()
    store.bulk_create("ticket", [{"name": "t1", "deal": deal.id, "score": 7}, {"name": "t2", "deal": deal.id}])
    return acl


HIDDEN = {"secret", "secret_len", "twice_secret", "score_sum"}
SHOWN = {"open_len", "double", "tickets"}


def test_a_formula_or_roll_up_over_a_hidden_field_is_hidden_unless_it_has_its_own_access(world):
    client = world.client()
    deal = world.record("deal-rep_a-1")
    mine = client.get(f"/api/v1/data/deal/{deal.id}", headers=world.headers("rep_a")).json
    assert not HIDDEN & set(mine) and set(mine) >= SHOWN
    assert mine["open_len"] == len(deal.secret) and mine["tickets"] == 2 and mine["double"] == 200
    everything = client.get(f"/api/v1/data/deal/{deal.id}", headers=world.headers("admin")).json
    assert everything["secret_len"] == len(deal.secret) and everything["twice_secret"] == 2 * len(deal.secret)
    assert everything["score_sum"] == 7
    # Through a lookup: ticket.deal_secret reads deal.secret.
    tickets = client.get("/api/v1/data/ticket", headers=world.headers("rep_a")).json["data"]
    assert tickets == [] or all("deal_secret" not in t for t in tickets)
    assert "deal_secret" in client.get("/api/v1/data/ticket", headers=world.headers("admin")).json["data"][0]


@pytest.mark.parametrize(
    "query",
    [
        "secret_len[gt]=0",
        "sort=-twice_secret",
        "fields=score_sum",
        "where=secret_len > 3",
        "count=true&secret_len=13",
    ],
)
def test_a_hidden_derived_field_cannot_be_filtered_sorted_or_counted_on(world, query):
    client = world.client()
    hidden = client.get(f"/api/v1/data/deal?{query}", headers=world.headers("rep_a"))
    missing = client.get(
        f"/api/v1/data/deal?{query.replace('secret_len', 'nothing_here')}", headers=world.headers("rep_a")
    )
    assert hidden.status_code in (400, 422), hidden.json
    if "secret_len" in query and "where" not in query:  # exactly like a field that does not exist
        assert hidden.status_code == missing.status_code
        assert hidden.json["error"]["message"].replace("secret_len", "X") == missing.json["error"]["message"].replace(
            "nothing_here", "X"
        )
    assert client.get(f"/api/v1/data/deal?{query}", headers=world.headers("admin")).status_code == 200
    if "where" in query:  # exactly like a field the rep may not read
        plain = client.get("/api/v1/data/deal?where=LEN(secret) > 3", headers=world.headers("rep_a"))
        assert plain.status_code == hidden.status_code


def test_explain_says_why_a_derived_field_is_hidden(world):
    response = world.client().get(
        "/api/v1/access/explain?user=rep_a@acme.test&object=deal&action=read", headers=world.headers("admin")
    )
    assert response.status_code == 200, response.json
    fields = response.json["fields"]
    assert set(fields["hidden"]) >= HIDDEN and not SHOWN & set(fields["hidden"])
    derived = fields["derived_hidden"]
    assert derived["secret_len"] == "it reads deal.secret, which is hidden from you"
    assert derived["twice_secret"] == "it reads deal.secret_len, which reads deal.secret, which is hidden from you"
    assert derived["score_sum"] == "it reads ticket.score, which is hidden from you"
    assert "open_len" not in derived


def _layout_and_rule(world) -> None:
    with MetadataService(world.binding, field_types(world.instance), ACTOR).change("rules") as tx:
        tx.put_layout(
            "deal",
            {
                "api_name": "default",
                "label": "Default",
                "sections": [{"label": "Deal", "fields": ["name", "amount", "note", "secret"]}],
                "field_rules": {"note": {"required": "LEN(secret) > 3"}},
            },
        )
        tx.put_validation_rule(
            "deal",
            {"api_name": "no_big_secret", "condition": "LEN(secret) > 50", "message": "the secret is over 50 long"},
        )


def test_a_layout_condition_on_a_hidden_field_gives_its_strict_answer_whatever_the_value(world):
    _layout_and_rule(world)
    client = world.client()
    # The rep cannot tell a short secret from a long one: note is required either way.
    for deal in (world.record("deal-rep_a-0"), world.record("deal-rep_a-1")):
        world.system_store().update("deal", deal.id, {"secret": "ab" if deal.name.endswith("0") else "abcdef"})
        response = client.patch(f"/api/v1/data/deal/{deal.id}", json={"note": None}, headers=world.headers("rep_a"))
        assert response.status_code == 422, response.json
        assert response.json["error"]["details"]["fields"] == {
            "note": ["is required by a layout rule that reads fields you cannot see"]
        }
    # Whoever may read the secret gets the condition's real answer.
    short = world.record("deal-rep_a-0")
    assert (
        client.patch(f"/api/v1/data/deal/{short.id}", json={"note": None}, headers=world.headers("admin")).status_code
        == 200
    )
    created = client.post("/api/v1/data/deal", json={"name": "new"}, headers=world.headers("rep_a"))
    assert created.status_code == 422 and "note" in created.json["error"]["details"]["fields"]


def test_a_validation_message_that_reads_a_hidden_field_is_generic(world):
    _layout_and_rule(world)
    deal = world.record("deal-rep_a-1")
    world.system_store().update("deal", deal.id, {"secret": "x" * 60})
    client = world.client()
    response = client.patch(f"/api/v1/data/deal/{deal.id}", json={"note": "n2"}, headers=world.headers("rep_a"))
    assert response.status_code == 422, response.json
    text = str(response.json)
    assert "secret" not in text.replace("reads fields you cannot see", "") and "50" not in text
    assert response.json["error"]["details"]["fields"]["$"] == [
        "the record is not valid by a validation rule that reads fields you cannot see"
    ]
    admin = client.patch(f"/api/v1/data/deal/{deal.id}", json={"note": "n2"}, headers=world.headers("admin"))
    assert admin.json["error"]["details"]["fields"]["$"] == ["the secret is over 50 long"]


def test_the_openapi_document_shows_only_what_the_caller_may_read(world):
    client = world.client()
    rep = client.get("/api/v1/openapi.json", headers=world.headers("rep_a")).json
    admin = client.get("/api/v1/openapi.json", headers=world.headers("admin")).json
    deal = rep["components"]["schemas"]["Deal"]["properties"]
    assert not HIDDEN & set(deal) and set(deal) >= SHOWN
    assert set(admin["components"]["schemas"]["Deal"]["properties"]) >= HIDDEN
    rep_text, admin_text = str(rep), str(admin)
    assert "secret_len" not in rep_text and "score_sum" not in rep_text and "deal_secret" not in rep_text
    assert "secret_len" in admin_text
    assert "secret" not in rep["components"]["schemas"]["DealInput"]["properties"]
    # Nobody (no role) sees no object at all.
    nobody = client.get("/api/v1/openapi.json", headers=world.headers("nobody")).json
    assert not any(path.startswith("/api/v1/data/deal") for path in nobody["paths"])


def test_an_admin_opts_a_derived_field_into_its_own_access_through_the_meta_api(world):
    client = world.client()
    deal = world.record("deal-rep_a-1")
    response = client.patch(
        "/api/v1/meta/objects/deal/fields/secret_len", json={"own_access": True}, headers=world.headers("admin")
    )
    assert response.status_code == 200, response.json
    assert response.json["own_access"] is True
    mine = client.get(f"/api/v1/data/deal/{deal.id}", headers=world.headers("rep_a")).json
    assert mine["secret_len"] == len(deal.secret)
    # twice_secret reads secret_len, which now has its own access: shown too.
    assert mine["twice_secret"] == 2 * len(deal.secret)
    # The field's own access still applies: hidden for the role, hidden it is.
    entry = {"create": True, "read": "own", "update": "own", "delete": "own"}
    fields = {"secret": "hidden", "amount": "read", "secret_len": "hidden"}
    client.put(
        "/api/v1/access/roles/sales_rep/objects/deal",
        json={**entry, "fields": fields},
        headers=world.headers("admin"),
    )
    again = client.get(f"/api/v1/data/deal/{deal.id}", headers=world.headers("rep_a")).json
    assert "secret_len" not in again and "twice_secret" not in again
    bad = client.patch(
        "/api/v1/meta/objects/deal/fields/double", json={"own_access": "yes"}, headers=world.headers("admin")
    )
    assert bad.status_code == 422
