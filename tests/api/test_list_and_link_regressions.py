"""Wrong answers and 500s on record lists and writes (issue #15): an empty
range filter, a field named twice, a unique value taken on update, a cursor
holding deep JSON, ``sort=-id``, and ``where=`` on related lists."""

from __future__ import annotations

import base64

import pytest

from tests.metadata.conftest import AcmeWorld

META = "/api/v1/meta"
DATA = "/api/v1/data"


@pytest.fixture
def admin(instance, app) -> dict:
    return AcmeWorld(instance, app).bearer("admin@acme.test", "acme")


@pytest.fixture
def linked(client, admin) -> dict:
    """``company`` (unique ``code``) with three records, ``person`` with a lookup to it."""
    company = {
        "api_name": "company",
        "label": "Company",
        "fields": [{"api_name": "code", "label": "Code", "type": "text", "unique": True}],
    }
    person = {
        "api_name": "person",
        "label": "Person",
        "fields": [{"api_name": "company", "label": "Company", "type": "lookup", "options": {"target": "company"}}],
    }
    for body in (company, person):
        assert client.post(f"{META}/objects", json=body, headers=admin).status_code == 201
    rows = [{"name": n, "code": n.lower()} for n in ("Alpha", "Beta", "Gamma")]
    ids = [r["id"] for r in client.post(f"{DATA}/company/bulk", json={"records": rows}, headers=admin).json["data"]]
    people = [{"name": f"P{i}", "company": ids[0]} for i in range(3)]
    assert client.post(f"{DATA}/person/bulk", json={"records": people}, headers=admin).status_code == 201
    return {"companies": ids}


def error_of(response, status: int) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    return response.json["error"]


@pytest.mark.parametrize("query", ["name[lt]=", "code[gte]=", "name[startswith]="])
def test_an_empty_range_or_prefix_filter_is_a_422_naming_the_field(client, admin, linked, query):
    field = query.split("[")[0]
    error = error_of(client.get(f"{DATA}/company?{query}", headers=admin), 422)
    assert field in error["details"]["fields"]
    related = f"{DATA}/company/{linked['companies'][0]}/related/person.company?{query.replace(field, 'name')}"
    assert "name" in error_of(client.get(related, headers=admin), 422)["details"]["fields"]


def test_a_field_named_twice_is_read_once(client, admin, linked):
    person = client.get(f"{DATA}/person?limit=1", headers=admin).json["data"][0]
    response = client.get(f"{DATA}/person/{person['id']}?fields=company,company,name,name", headers=admin)
    assert response.status_code == 200, response.json
    assert response.json["company"]["name"] == "Alpha" and response.json["name"] == "P0"


def test_a_unique_value_taken_on_update_is_a_409_naming_the_field_and_nothing_changes(client, admin, linked):
    alpha, beta, _ = linked["companies"]
    error = error_of(client.patch(f"{DATA}/company/{beta}", json={"code": "alpha"}, headers=admin), 409)
    assert error["details"] == {"fields": {"code": ["must be unique"]}}
    bulk = {"operation": "update", "records": [{"id": alpha, "name": "A2"}, {"id": beta, "code": "alpha"}]}
    assert error_of(client.post(f"{DATA}/company/bulk", json=bulk, headers=admin), 409)["details"]["fields"]
    assert client.get(f"{DATA}/company/{alpha}", headers=admin).json["name"] == "Alpha"
    assert client.get(f"{DATA}/company/{beta}", headers=admin).json["code"] == "beta"


@pytest.mark.parametrize("payload", ["[" * 5000 + "]" * 5000, "[[1], 2]", '[{"a": 1}, 2]'])
def test_a_cursor_holding_nested_json_is_a_400(client, admin, linked, payload):
    cursor = base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")
    assert "cursor" in error_of(client.get(f"{DATA}/company?cursor={cursor}", headers=admin), 400)["message"]


def test_sort_by_id_descending_comes_back_descending_and_pages_by_cursor(client, admin, linked):
    ids = sorted(linked["companies"], reverse=True)
    assert [r["id"] for r in client.get(f"{DATA}/company?sort=-id", headers=admin).json["data"]] == ids
    seen, cursor = [], ""
    while True:
        page = client.get(f"{DATA}/company?sort=-id&limit=2{cursor}", headers=admin).json
        seen += [r["id"] for r in page["data"]]
        if not page["next_cursor"]:
            break
        cursor = f"&cursor={page['next_cursor']}"
    assert seen == ids
    assert [r["id"] for r in client.get(f"{DATA}/company?sort=-id,name", headers=admin).json["data"]] == ids


def test_where_applies_on_related_lists(client, admin, linked):
    alpha = linked["companies"][0]
    url = f"{DATA}/company/{alpha}/related/person.company"
    assert len(client.get(url, headers=admin).json["data"]) == 3
    narrowed = client.get(f'{url}?where=name = "P1"', headers=admin).json["data"]
    assert [r["name"] for r in narrowed] == ["P1"]
    unknown = error_of(client.get(f"{url}?where=nosuch = 1", headers=admin), 422)
    assert "nosuch" in unknown["message"] and unknown["details"]["line"] == 1
