"""What the fuzzing run (tests/api/test_fuzz_openapi.py) found, pinned down
as plain regression tests on both databases: ids between 2**31 and 2**63
(valid 64-bit numbers, beyond a 32-bit column) are a 4xx, never a 500, and
documents of the wrong shape are a 422 naming the member."""

from __future__ import annotations

import pytest

from tests.metadata.conftest import AcmeWorld

BIG = 2**31 + 7  # beyond a 32-bit integer column, well within 64 bits
HUGE = 2**63 - 1


@pytest.fixture
def admin(instance, app) -> dict:
    app.config["PROPAGATE_EXCEPTIONS"] = False  # a crash is a 500 answer, as in production
    return AcmeWorld(instance, app).bearer("admin@acme.test", "acme")


@pytest.mark.parametrize("number", [BIG, HUGE])
@pytest.mark.parametrize(
    "method, path",
    [
        ("get", "/api/v1/meta/revisions/{n}"),
        ("post", "/api/v1/meta/revisions/{n}/rollback"),
        ("get", "/api/v1/access/users/{n}/roles"),
        ("put", "/api/v1/access/users/{n}/roles"),
        ("delete", "/api/v1/access/shares/{n}"),
        ("delete", "/api/v1/auth/tokens/{n}"),
        ("post", "/api/v1/notifications/{n}/read"),
    ],
)
def test_an_id_beyond_32_bits_is_a_4xx(client, admin, method, path, number):
    body = {"roles": ["admin"]} if method == "put" else ({} if method == "post" else None)
    response = getattr(client, method)(path.format(n=number), headers=admin, json=body)
    assert 400 <= response.status_code < 500, response.get_data(as_text=True)
    assert "error" in response.json


@pytest.mark.parametrize("path", ["/api/v1/meta/revisions", "/api/v1/audit"])
def test_a_cursor_beyond_a_32_bit_column_is_a_422_naming_it(client, admin, path):
    response = client.get(f"{path}?before={BIG}", headers=admin)
    assert response.status_code == 422, response.get_data(as_text=True)
    assert response.json["error"]["details"]["fields"] == {"before": ["whole number"]}
    assert client.get(f"{path}?before={2**31 - 1}", headers=admin).status_code == 200


@pytest.mark.parametrize(
    "query",
    [
        f"version={-(2**51)}",
        f"owner_id[in]=1,{BIG}",
        f"created_by[gt]={-BIG}",
        f"updated_by[lte]={HUGE}",
        f"where=owner_id = {BIG}",
        f"where=version > {-BIG}",
    ],
)
def test_a_system_column_filtered_beyond_32_bits_answers_without_a_500(client, admin, query):
    body = {"api_name": "item", "label": "Item", "fields": [{"api_name": "code", "label": "Code", "type": "text"}]}
    assert client.post("/api/v1/meta/objects", json=body, headers=admin).status_code == 201
    assert client.post("/api/v1/data/item", json={"name": "a", "code": "a"}, headers=admin).status_code == 201
    response = client.get(f"/api/v1/data/item?{query}&sort=-version", headers=admin)
    assert response.status_code in (200, 422), response.get_data(as_text=True)
    if response.status_code == 200:
        expected = 1 if query.startswith(("owner_id", "created_by", "updated_by", "where=version")) else 0
        assert len(response.json["data"]) == expected, query


@pytest.mark.parametrize("parent", [["admin"], {"a": 1}, 5, True])
def test_a_parent_role_that_is_not_a_name_is_a_422(client, admin, parent):
    body = {"api_name": "odd", "label": "Odd", "parent_role": parent}
    response = client.post("/api/v1/access/roles", json=body, headers=admin)
    assert response.status_code == 422, response.get_data(as_text=True)
    assert "parent_role" in response.json["error"]["details"]["fields"]
