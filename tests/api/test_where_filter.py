"""``where=`` on record lists: rule-language conditions compiled to SQL."""

import pytest

DATA = "/api/v1/data"
FIELDS = [
    {"api_name": "amount", "label": "Amount", "type": "currency"},
    {
        "api_name": "stage",
        "label": "Stage",
        "type": "picklist",
        "options": {"values": [{"value": "open", "label": "Open"}, {"value": "won", "label": "Won"}]},
    },
    {"api_name": "close_date", "label": "Close date", "type": "date"},
]
ROWS = [
    {"name": "Alpha", "amount": 500, "stage": "open", "close_date": "2026-01-10"},
    {"name": "Beta", "amount": 20000, "stage": "won", "close_date": "2026-03-01"},
    {"name": "Gamma", "amount": 15000, "stage": "open"},
    {"name": "delta", "stage": "won", "close_date": "2025-12-24"},
]


@pytest.fixture
def deals(world, client):
    admin = world.bearer("admin@acme.test", "acme")
    assert (
        client.post(
            "/api/v1/meta/objects", json={"api_name": "deal", "label": "Deal", "fields": FIELDS}, headers=admin
        ).status_code
        == 201
    )
    response = client.post(f"{DATA}/deal/bulk", json={"records": ROWS}, headers=admin)
    assert response.status_code == 201, response.json
    return admin


def _names(client, headers, where, **params):
    response = client.get(f"{DATA}/deal", query_string={"where": where, "sort": "name", **params}, headers=headers)
    assert response.status_code == 200, response.json
    return [r["name"] for r in response.json["data"]]


@pytest.mark.parametrize(
    "where,expected",
    [
        ("amount > 10000", ["Beta", "Gamma"]),
        ('ISPICKVAL(stage, "won") and amount >= 1000', ["Beta"]),
        ("ISBLANK(amount) or amount < 1000", ["Alpha", "delta"]),
        ('stage IN ("won") && YEAR(close_date) = 2026', ["Beta"]),
        ('BEGINS(UPPER(name), "G") || CONTAINS(name, "lph")', ["Alpha", "Gamma"]),
        ("ISBLANK(close_date)", ["Gamma"]),
        ("not (amount > 100)", []),
    ],
)
def test_conditions_filter_in_sql_with_three_valued_logic(client, deals, where, expected):
    assert _names(client, deals, where) == expected


def test_where_combines_with_other_filters_and_counts(client, deals):
    response = client.get(
        f"{DATA}/deal", query_string={"where": "amount > 100", "stage": "open", "count": "true"}, headers=deals
    )
    assert response.json["total"] == 2


def test_a_syntax_error_names_line_and_column(client, deals):
    response = client.get(f"{DATA}/deal", query_string={"where": "amount >"}, headers=deals)
    assert response.status_code == 422
    details = response.json["error"]["details"]
    assert details["line"] == 1 and details["column"] >= 8 and "^" in details["snippet"]


def test_an_unknown_field_is_refused_with_a_suggestion(client, deals):
    response = client.get(f"{DATA}/deal", query_string={"where": "amont > 1"}, headers=deals)
    assert response.status_code == 422
    assert "amount" in response.json["error"]["message"]


def test_comparing_text_with_a_number_is_refused(client, deals):
    response = client.get(f"{DATA}/deal", query_string={"where": "name > 5"}, headers=deals)
    assert response.status_code == 422


def _reader_without_amount(client, world, deals) -> dict:
    """user@acme.test as a read_only user for whom deal.amount is hidden; their headers."""
    put = client.put(
        "/api/v1/access/roles/read_only/objects/deal",
        json={"create": False, "read": "all", "update": "none", "delete": "none", "fields": {"amount": "hidden"}},
        headers=deals,
    )
    assert put.status_code == 200, put.json
    user_id = world.identity("user@acme.test", "acme").user_id
    assigned = client.put(f"/api/v1/access/users/{user_id}/roles", json={"roles": ["read_only"]}, headers=deals)
    assert assigned.status_code == 200, assigned.json
    return world.bearer("user@acme.test", "acme")


def test_a_hidden_field_cannot_be_used_to_filter(client, world, deals):
    user = _reader_without_amount(client, world, deals)
    assert set(_names(client, user, 'name <> ""')) == {"Alpha", "Beta", "Gamma", "delta"}
    response = client.get(f"{DATA}/deal", query_string={"where": "amount > 10000"}, headers=user)
    assert response.status_code == 422
    assert "amount" in str(response.json["error"])


def test_a_cached_filter_still_checks_fields_and_binds_the_caller(client, world, deals):
    """The checked filter is cached per model; what depends on the caller is not."""
    user = _reader_without_amount(client, world, deals)
    assert _names(client, deals, "amount > 10000") == ["Beta", "Gamma"]
    assert client.get(f"{DATA}/deal", query_string={"where": "amount > 10000"}, headers=user).status_code == 422
    mine = 'BEGINS($User.Email, "admin@")'
    assert _names(client, deals, mine) == ["Alpha", "Beta", "Gamma", "delta"]
    assert _names(client, user, mine) == []
    assert _names(client, deals, mine) == ["Alpha", "Beta", "Gamma", "delta"]
