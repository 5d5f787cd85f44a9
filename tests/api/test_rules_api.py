"""The rule API: validation rules under /api/v1/meta, POST /api/v1/rules/check
and /api/v1/rules/evaluate, and list views applied with ``?view=``."""

from __future__ import annotations

import pytest

META = "/api/v1/meta"
DATA = "/api/v1/data"
RULES = f"{META}/objects/deal/validation-rules"
PICK = {"values": [{"value": "open"}, {"value": "won"}, {"value": "lost"}]}
FIELDS = [
    {"api_name": "amount", "label": "Amount", "type": "currency"},
    {"api_name": "stage", "label": "Stage", "type": "picklist", "options": PICK},
    {"api_name": "secret", "label": "Secret", "type": "integer"},
    {"api_name": "account", "label": "Account", "type": "lookup", "options": {"target": "account"}},
]
RULE = {
    "api_name": "positive",
    "label": "Positive",
    "condition": "amount < 0",
    "message": "no negatives",
    "field": "amount",
}


@pytest.fixture
def admin(world) -> dict:
    return world.bearer("admin@acme.test", "acme")


@pytest.fixture
def deals(client, admin) -> dict:
    for body in (
        {
            "api_name": "account",
            "label": "Account",
            "fields": [{"api_name": "rating", "label": "Rating", "type": "integer"}],
        },
        {"api_name": "deal", "label": "Deal", "fields": FIELDS},
    ):
        response = client.post(f"{META}/objects", json=body, headers=admin)
        assert response.status_code == 201, response.json
    return admin


@pytest.fixture
def reader(client, world, deals) -> dict:
    """user@acme.test with the read_only role, for whom deal.secret is hidden."""
    response = client.put(
        "/api/v1/access/roles/read_only/objects/deal",
        json={"create": False, "read": "all", "update": "none", "delete": "none", "fields": {"secret": "hidden"}},
        headers=deals,
    )
    assert response.status_code == 200, response.json
    user_id = world.identity("user@acme.test", "acme").user_id
    response = client.put(f"/api/v1/access/users/{user_id}/roles", json={"roles": ["read_only"]}, headers=deals)
    assert response.status_code == 200, response.json
    return world.bearer("user@acme.test", "acme")


# -- validation rules over HTTP --------------------------------------------------------------------


def test_validation_rules_crud_with_revisions(client, deals):
    created = client.post(RULES, json=RULE, headers=deals)
    assert created.status_code == 201, created.json
    assert created.json == {**RULE, "active": True}
    assert client.post(RULES, json=RULE, headers=deals).status_code == 409
    assert client.get(RULES, headers=deals).json == {"data": [{**RULE, "active": True}]}
    without_name = {k: v for k, v in RULE.items() if k != "api_name"}
    changed = client.put(f"{RULES}/positive", json={**without_name, "condition": "amount <= 0"}, headers=deals)
    assert changed.status_code == 200, changed.json
    assert client.get(f"{RULES}/positive", headers=deals).json["condition"] == "amount <= 0"
    revisions = client.get(f"{META}/revisions", headers=deals).json["data"]
    assert revisions[0]["summary"] == "save validation rule deal.positive"
    assert client.delete(f"{RULES}/positive", headers=deals).status_code == 204
    assert client.get(f"{RULES}/positive", headers=deals).status_code == 404
    assert client.delete(f"{RULES}/positive", headers=deals).status_code == 404
    assert client.get(f"{META}/objects/nope/validation-rules", headers=deals).status_code == 404


def test_only_metadata_admins_change_validation_rules(client, deals, reader):
    assert client.get(RULES, headers=reader).status_code == 200
    assert client.post(RULES, json=RULE, headers=reader).status_code == 403
    assert client.put(f"{RULES}/positive", json=RULE, headers=reader).status_code == 403
    assert client.delete(f"{RULES}/positive", headers=reader).status_code == 403
    assert client.get(RULES, headers=deals).json == {"data": []}


def test_a_bad_condition_is_a_422_with_line_column_and_suggestion(client, deals):
    response = client.post(RULES, json={**RULE, "condition": "amont < 0"}, headers=deals)
    assert response.status_code == 422
    error = response.json["error"]
    assert error["code"] == "rule_error"
    details = error["details"]
    assert (details["line"], details["column"], details["path"]) == (1, 1, "condition")
    assert details["suggestion"] == "amount"
    assert details["fields"] == {
        "condition": ["line 1, column 1: unknown field 'amont' on deal; did you mean 'amount'?"]
    }
    response = client.post(RULES, json={**RULE, "condition": "amount <"}, headers=deals)
    assert response.status_code == 422 and response.json["error"]["details"]["column"] == 9
    response = client.post(RULES, json={**RULE, "message": ""}, headers=deals)
    assert response.status_code == 422 and "message" in response.json["error"]["details"]["fields"]
    response = client.put(f"{RULES}/other", json=RULE, headers=deals)
    assert response.status_code == 422 and response.json["error"]["details"]["fields"] == {
        "api_name": ["must match the URL"]
    }
    assert client.get(RULES, headers=deals).json == {"data": []}


def test_rules_refuse_records_with_per_row_errors(client, deals):
    assert client.post(RULES, json=RULE, headers=deals).status_code == 201
    response = client.post(f"{DATA}/deal", json={"name": "x", "amount": -1}, headers=deals)
    assert response.status_code == 422
    assert response.json["error"]["details"] == {"fields": {"amount": ["no negatives"]}}
    records = [{"name": "a", "amount": 1}, {"name": "b", "amount": -2}]
    response = client.post(f"{DATA}/deal/bulk", json={"records": records}, headers=deals)
    assert response.status_code == 422
    assert response.json["error"]["details"] == {"rows": {"1": {"fields": {"amount": ["no negatives"]}}}}
    assert client.get(f"{DATA}/deal", headers=deals).json["data"] == []
    deal = client.post(f"{DATA}/deal", json={"name": "x", "amount": 5}, headers=deals).json
    response = client.patch(f"{DATA}/deal/{deal['id']}", json={"amount": -5}, headers=deals)
    assert response.status_code == 422


# -- POST /api/v1/rules/check ----------------------------------------------------------------------


def _check(client, headers, expression, context="validation", **extra):
    body = {"object": "deal", "expression": expression, "context": context, **extra}
    return client.post("/api/v1/rules/check", json=body, headers=headers)


def test_check_answers_the_type_or_diagnostics(client, deals):
    response = _check(client, deals, "amount * 2 + account.rating", "formula")
    assert response.status_code == 200
    assert response.json == {"valid": True, "type": "NUMBER", "references": ["account.rating", "amount"]}
    assert _check(client, deals, "ISCHANGED(stage)").json["valid"] is True
    response = _check(client, deals, "ISCHANGED(stage)", "filter")
    assert response.status_code == 200 and response.json["valid"] is False
    response = _check(client, deals, 'stage = "won" and\n  amont > 1')
    assert response.json == {
        "valid": False,
        "diagnostics": [
            {
                "line": 2,
                "column": 3,
                "message": "unknown field 'amont' on deal; did you mean 'amount'?",
                "suggestion": "amount",
                "snippet": "  amont > 1\n  ^",
            }
        ],
    }
    assert _check(client, deals, "amount + 1").json["valid"] is False  # a validation rule is a condition
    assert _check(client, deals, "account.rating > 1", "filter").json["valid"] is False  # no lookups in filters
    assert _check(client, deals, '"big"', "default", field="amount").json["valid"] is False
    assert _check(client, deals, "amount * 2", "default", field="amount").json == {
        "valid": True,
        "type": "NUMBER",
        "references": ["amount"],
    }


def test_check_refuses_malformed_requests(client, deals):
    assert _check(client, deals, "1", "sorcery").status_code == 422
    assert client.post("/api/v1/rules/check", json={"object": "deal"}, headers=deals).status_code == 422
    assert (
        client.post("/api/v1/rules/check", json={"object": "nope", "expression": "1"}, headers=deals).status_code == 404
    )
    assert _check(client, deals, "1", "default", field="nope").status_code == 422


def test_members_check_against_the_fields_they_see(client, deals, reader):
    assert _check(client, reader, "amount > 1", "filter").json["valid"] is True
    response = _check(client, reader, "secret > 1", "filter")
    assert response.json["valid"] is False
    assert response.json["diagnostics"][0]["message"] == "unknown field 'secret' on deal"


# -- POST /api/v1/rules/evaluate -------------------------------------------------------------------


def _evaluate(client, headers, expression, record_id):
    body = {"object": "deal", "expression": expression, "record_id": record_id}
    return client.post("/api/v1/rules/evaluate", json=body, headers=headers)


def test_evaluate_computes_for_a_record_the_caller_may_read(client, deals, reader):
    account = client.post(f"{DATA}/account", json={"name": "A", "rating": 4}, headers=deals).json
    body = {"name": "x", "amount": 250, "stage": "won", "secret": 9, "account": account["id"]}
    deal = client.post(f"{DATA}/deal", json=body, headers=deals).json
    response = _evaluate(client, deals, "amount * 2 + account.rating", deal["id"])
    assert response.status_code == 200
    assert response.json == {"value": 504, "type": "NUMBER"}
    assert _evaluate(client, deals, 'IF(ISPICKVAL(stage, "won"), "yes", "no")', deal["id"]).json["value"] == "yes"
    assert _evaluate(client, deals, "secret", deal["id"]).json["value"] == 9
    assert _evaluate(client, reader, "amount", deal["id"]).json["value"] == 250
    hidden = _evaluate(client, reader, "secret + 1", deal["id"])
    assert hidden.status_code == 422 and "secret" in hidden.json["error"]["message"]
    assert _evaluate(client, deals, "amount", 999).status_code == 404
    bad = _evaluate(client, deals, "amount +", deal["id"])
    assert bad.status_code == 422 and bad.json["error"]["details"]["line"] == 1


def test_evaluate_needs_read_access_to_the_record(client, world, deals):
    deal = client.post(f"{DATA}/deal", json={"name": "x", "amount": 1}, headers=deals).json
    nobody = world.bearer("user@acme.test", "acme")  # no role: may read no deals
    assert _evaluate(client, nobody, "amount", deal["id"]).status_code in (403, 404)
    other_tenant = world.bearer("admin@globex.test", "globex")
    assert _evaluate(client, other_tenant, "amount", deal["id"]).status_code == 404


# -- list views ------------------------------------------------------------------------------------


def test_a_list_view_applies_its_filters_filter_and_sort(client, deals):
    rows = [
        {"name": "Alpha", "amount": 500, "stage": "open"},
        {"name": "Beta", "amount": 20000, "stage": "won"},
        {"name": "Gamma", "amount": 15000, "stage": "open"},
        {"name": "Delta", "amount": 30000, "stage": "lost"},
    ]
    assert client.post(f"{DATA}/deal/bulk", json={"records": rows}, headers=deals).status_code == 201
    view = {
        "label": "Big live deals",
        "columns": ["name", "amount"],
        "sort": "-amount",
        "filters": {"stage": ["open", "won"]},
        "filter": "amount > 1000",
    }
    assert client.put(f"{META}/objects/deal/list-views/big", json=view, headers=deals).status_code == 200

    def names(**params):
        response = client.get(f"{DATA}/deal", query_string={"view": "big", **params}, headers=deals)
        assert response.status_code == 200, response.json
        return [r["name"] for r in response.json["data"]]

    assert names() == ["Beta", "Gamma"]
    assert names(sort="name") == ["Beta", "Gamma"]
    assert names(where='ISPICKVAL(stage, "open")') == ["Gamma"]
    assert names(stage="won") == ["Beta"]
    assert client.get(f"{DATA}/deal", query_string={"view": "nope"}, headers=deals).status_code == 404


def test_a_list_view_filter_is_checked_when_the_view_is_saved(client, deals):
    view = {"label": "Bad", "columns": ["name"], "filter": "amont > 1"}
    response = client.put(f"{META}/objects/deal/list-views/bad", json=view, headers=deals)
    assert response.status_code == 422
    error = response.json["error"]["details"]["errors"][0]
    assert error["path"] == "list_view:deal.bad.filter"
    assert "did you mean 'amount'?" in error["message"]
    for expression in ("amount + 1", "account.rating > 2", 'REGEX(name, "a.*")'):
        response = client.put(f"{META}/objects/deal/list-views/bad", json={**view, "filter": expression}, headers=deals)
        assert response.status_code == 422, expression


def test_a_list_view_filter_on_a_hidden_field_is_refused_for_that_user(client, deals, reader):
    view = {"label": "Secret", "columns": ["name"], "filter": "secret > 1"}
    assert client.put(f"{META}/objects/deal/list-views/secret", json=view, headers=deals).status_code == 200
    assert client.get(f"{DATA}/deal", query_string={"view": "secret"}, headers=deals).status_code == 200
    response = client.get(f"{DATA}/deal", query_string={"view": "secret"}, headers=reader)
    assert response.status_code == 422 and "secret" in str(response.json["error"])


def test_rules_see_the_callers_role(client, deals):
    rule = {
        "api_name": "cap",
        "condition": '$User.Role = "admin" and amount > 1000000',
        "message": "too big for admins",
    }
    assert client.post(RULES, json=rule, headers=deals).status_code == 201
    response = client.post(f"{DATA}/deal", json={"name": "x", "amount": 2000000}, headers=deals)
    assert response.status_code == 422
    assert response.json["error"]["details"] == {"fields": {"$": ["too big for admins"]}}
    assert client.post(f"{DATA}/deal", json={"name": "x", "amount": 20}, headers=deals).status_code == 201
