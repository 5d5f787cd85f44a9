"""Input no database can take is refused at the edge with a 4xx in the JSON
error shape, naming the parameter or member, and nothing is written:
ids beyond 64 bits, deeply nested bodies, lone surrogates, NUL characters,
and field names that are hidden system columns of the database (issue #15)."""

from __future__ import annotations

import json

import pytest

from tests.metadata.conftest import AcmeWorld

META = "/api/v1/meta"
DATA = "/api/v1/data"
HUGE = "99999999999999999999"  # beyond 2**63 - 1


@pytest.fixture
def admin(instance, app) -> dict:
    return AcmeWorld(instance, app).bearer("admin@acme.test", "acme")


@pytest.fixture
def item(client, admin) -> None:
    body = {"api_name": "item", "label": "Item", "fields": [{"api_name": "code", "label": "Code", "type": "text"}]}
    assert client.post(f"{META}/objects", json=body, headers=admin).status_code == 201


def count(client, admin) -> int:
    return client.get(f"{DATA}/item?count=true&limit=1", headers=admin).json["total"]


def error_of(response, status: int) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    return response.json["error"]


@pytest.mark.parametrize(
    "method, path",
    [
        ("get", f"{DATA}/item/{HUGE}"),
        ("patch", f"{DATA}/item/{HUGE}"),
        ("get", f"{META}/revisions/{HUGE}"),
        ("delete", f"/api/v1/auth/tokens/{HUGE}"),
        ("post", f"/api/v1/notifications/{HUGE}/read"),
        ("delete", f"/api/v1/access/shares/{HUGE}"),
    ],
)
def test_ids_beyond_64_bits_in_a_path_are_a_400_not_a_500(client, admin, item, method, path):
    response = getattr(client, method)(path, headers=admin, json={} if method in ("patch", "post") else None)
    error = error_of(response, 400)
    assert error["code"] == "bad_request" and HUGE in error["message"]


@pytest.mark.parametrize("path", [f"{DATA}/item", f"{DATA}/item/bulk"])
def test_a_body_nested_a_thousand_deep_is_a_400(client, admin, item, path):
    deep = "[" * 1000 + "]" * 1000
    body = f'{{"name": "x", "code": {deep}}}' if path.endswith("item") else f'{{"records": {deep}}}'
    response = client.post(path, data=body, headers={**admin, "Content-Type": "application/json"})
    assert "nests deeper" in error_of(response, 400)["message"]
    assert count(client, admin) == 0


def test_a_lone_surrogate_is_refused_naming_the_field_and_nothing_is_written(client, admin, item):
    body = '{"name": "ok", "code": "\\ud800"}'
    response = client.post(f"{DATA}/item", data=body, headers={**admin, "Content-Type": "application/json"})
    error = error_of(response, 422)
    assert error["details"]["fields"] == {"code": ["contains a lone surrogate (not valid Unicode text)"]}
    assert count(client, admin) == 0


def test_a_nul_character_in_a_value_is_refused_naming_the_row_and_field(client, admin, item):
    body = {"records": [{"name": "fine"}, {"name": "bad\x00name"}]}
    response = client.post(
        f"{DATA}/item/bulk", data=json.dumps(body), headers={**admin, "Content-Type": "application/json"}
    )
    assert error_of(response, 422)["details"]["fields"] == {"records[1].name": ["contains a NUL character"]}
    assert count(client, admin) == 0


@pytest.mark.parametrize("query", ["q=%00", "code=a%00b", "where=code%20%3D%20%22%00%22"])
def test_a_nul_character_in_a_query_parameter_is_a_400_naming_it(client, admin, item, query):
    error = error_of(client.get(f"{DATA}/item?{query}", headers=admin), 400)
    name = query.split("=")[0]
    assert error["details"] == {"fields": {name: ["contains NUL"]}}


@pytest.mark.parametrize("name", ["ctid", "xmin", "tableoid", "oid", "rowid"])
def test_database_system_column_names_are_reserved(client, admin, item, name):
    response = client.post(
        f"{META}/objects/item/fields", json={"api_name": name, "label": name, "type": "text"}, headers=admin
    )
    error = error_of(response, 422)
    assert "system column" in json.dumps(error)


@pytest.mark.parametrize(
    "path",
    [
        f"{DATA}/item?offset={HUGE}",
        f"{META}/revisions?before={HUGE}",
        f"/api/v1/audit?before={HUGE}",
        f"/api/v1/notifications?before={HUGE}",
        f"/api/v1/automation-runs?before={HUGE}",
        "/api/v1/automation-runs?before=-1",
    ],
)
def test_numbers_beyond_64_bits_in_query_parameters_are_a_422_naming_them(client, admin, item, path):
    name = path.split("?")[1].split("=")[0]
    assert name in error_of(client.get(path, headers=admin), 422)["details"]["fields"]
