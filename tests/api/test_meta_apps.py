"""Apps (the tenant-wide ``app`` kind: the navigation's groups of objects)
through ``/api/v1/meta/apps``: read, create, replace and delete through the
metadata pipeline (a revision each), checked like the setup screen's apps,
in the OpenAPI document, for metadata admins only."""

from __future__ import annotations

import pytest

from tests.metadata.conftest import AcmeWorld

APPS = "/api/v1/meta/apps"


@pytest.fixture
def world(instance, app):
    return AcmeWorld(instance, app)


@pytest.fixture
def admin(world) -> dict:
    return world.bearer("admin@acme.test", "acme")


def _define(client, admin, api_name):
    body = {"api_name": api_name, "label": api_name.title(), "fields": []}
    assert client.post("/api/v1/meta/objects", json=body, headers=admin).status_code == 201


def test_apps_round_trip_through_the_definitions_api(client, admin, world):
    _define(client, admin, "vehicle")
    _define(client, admin, "garage")
    assert client.get(APPS, headers=admin).json["data"] == []
    app = {
        "api_name": "fleet",
        "label": "Fleet",
        "translations": {"zh_CN": {"label": "车队"}},
        "objects": ["vehicle", "garage"],
        "roles": ["admin"],
        "order": 1,
    }
    created = client.post(APPS, json=app, headers=admin)
    assert created.status_code == 201, created.json
    assert created.json == app
    revision = int(created.headers["X-Metadata-Revision"])
    assert client.post(APPS, json=app, headers=admin).status_code == 409
    assert client.get(f"{APPS}/fleet", headers=admin).json == app
    assert [a["api_name"] for a in client.get(APPS, headers=admin).json["data"]] == ["fleet"]
    replaced = client.put(f"{APPS}/fleet", json={**app, "objects": ["garage"]}, headers=admin)
    assert replaced.status_code == 200 and replaced.json["objects"] == ["garage"]
    assert int(replaced.headers["X-Metadata-Revision"]) == revision + 1
    revisions = client.get("/api/v1/meta/revisions", headers=admin).json["data"]
    assert "save app fleet" in revisions[0]["summary"]
    # Created by PUT too.
    assert client.put(f"{APPS}/other", json={"label": "Other", "objects": []}, headers=admin).status_code == 200
    assert client.delete(f"{APPS}/other", headers=admin).status_code == 204
    assert client.get(f"{APPS}/other", headers=admin).status_code == 404
    assert client.delete(f"{APPS}/other", headers=admin).status_code == 404


def test_bad_apps_are_refused_naming_the_member(client, admin, world):
    _define(client, admin, "vehicle")
    cases = [
        ({"api_name": "x", "label": "X", "objects": ["nothing"]}, "objects"),
        ({"api_name": "x", "objects": []}, "label"),
        ({"api_name": "X Y", "label": "X", "objects": []}, "api_name"),
        ({"api_name": "x", "label": "X", "objects": [], "colour": "red"}, "colour"),
    ]
    for body, member in cases:
        response = client.post(APPS, json=body, headers=admin)
        assert response.status_code == 422, (body, response.json)
        assert member in str(response.json["error"]["details"]), (member, response.json)
    mismatch = client.put(f"{APPS}/one", json={"api_name": "two", "label": "T", "objects": []}, headers=admin)
    assert mismatch.status_code == 422
    assert client.get(APPS, headers=admin).json["data"] == []
    # Only metadata admins write; the OpenAPI document lists the paths.
    user = world.bearer("user@acme.test", "acme")
    assert client.post(APPS, json={"api_name": "x", "label": "X", "objects": []}, headers=user).status_code == 403
    paths = client.get("/api/v1/openapi.json", headers=admin).json["paths"]
    assert {"get", "post"} <= set(paths["/api/v1/meta/apps"])
    assert {"get", "put", "delete"} <= set(paths["/api/v1/meta/apps/{item}"])
