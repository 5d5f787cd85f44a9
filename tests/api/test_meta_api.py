"""``/api/v1/meta``: defining objects and fields over HTTP, type changes with
preview, the recycle bin, revisions and rollback, who may change metadata,
and workers picking up each other's changes."""

from __future__ import annotations

import pytest

from metacrm.app import build_instance, create_app
from metacrm.metadata.ddl import SchemaEditor
from tests.metadata.conftest import AcmeWorld, snapshot

META = "/api/v1/meta"
DATA = "/api/v1/data"
PICK = {"values": [{"value": "open", "label": "Open"}, {"value": "won", "label": "Won"}]}
LAYOUT = {"label": "Main", "sections": [{"label": "Basics", "fields": ["name", "code"]}]}
LIST_VIEW = {"label": "All", "columns": ["name", "code"], "sort": "-code"}


@pytest.fixture
def world(instance, app):
    return AcmeWorld(instance, app)


@pytest.fixture
def admin(world) -> dict:
    return world.bearer("admin@acme.test", "acme")


@pytest.fixture
def item(client, admin) -> None:
    """Object ``item`` (name, code text, qty integer, note long text) with three records."""
    response = client.post(
        f"{META}/objects",
        json={
            "api_name": "item",
            "label": "Item",
            "fields": [
                {"api_name": "code", "label": "Code", "type": "text"},
                {"api_name": "qty", "label": "Qty", "type": "integer"},
                {"api_name": "note", "label": "Note", "type": "long_text"},
            ],
        },
        headers=admin,
    )
    assert response.status_code == 201, response.json
    created = client.post(
        f"{DATA}/item/bulk",
        json={
            "records": [
                {"name": "one", "code": "open", "qty": 1, "note": "short"},
                {"name": "two", "code": "Won", "qty": 2, "note": "x" * 300},
                {"name": "three", "code": "odd", "qty": None},
            ]
        },
        headers=admin,
    )
    assert created.status_code == 201, created.json


def revision(client, headers) -> int:
    return int(client.get(f"{META}/objects", headers=headers).headers["X-Metadata-Revision"])


def records(client, headers, object_name: str = "item") -> list[dict]:
    response = client.get(f"{DATA}/{object_name}?sort=id&limit=200", headers=headers)
    assert response.status_code == 200, response.json
    return response.json["data"]


# -- defining objects and fields ------------------------------------------------------------


def test_an_object_with_fields_is_created_and_read_back(client, admin):
    response = client.post(
        f"{META}/objects",
        json={
            "api_name": "vehicle",
            "label": "车辆",
            "fields": [
                {"api_name": "plate", "label": "Plate", "type": "text", "unique": True},
                {"api_name": "status", "label": "Status", "type": "picklist", "options": PICK},
            ],
        },
        headers=admin,
    )
    assert response.status_code == 201
    assert response.headers["X-Metadata-Revision"] == "1"
    body = response.json
    assert body["label"] == "车辆" and body["plural_label"] == "车辆"
    assert body["name_field"] == "name" and body["search_fields"] == ["name"]
    assert [f["api_name"] for f in body["fields"]] == ["name", "plate", "status"]
    assert client.get(f"{META}/objects/vehicle", headers=admin).json == body
    listed = client.get(f"{META}/objects", headers=admin).json["data"]
    assert [(o["api_name"], o["field_count"]) for o in listed] == [("vehicle", 3)]
    field = client.get(f"{META}/objects/vehicle/fields/plate", headers=admin).json
    assert field == {
        "api_name": "plate",
        "label": "Plate",
        "type": "text",
        "unique": True,
        "required": False,
        "indexed": False,
        "default": None,
        "help": "",
        "options": {},
        "deleted_at": None,
    }
    added = client.post(
        f"{META}/objects/vehicle/fields",
        json={"api_name": "seats", "label": "Seats", "type": "integer", "default": 4},
        headers=admin,
    )
    assert added.status_code == 201 and added.json["default"] == 4
    assert client.post(f"{DATA}/vehicle", json={"name": "Car"}, headers=admin).json["seats"] == 4
    patched = client.patch(f"{META}/objects/vehicle", json={"label": "Vehicle", "icon": "car"}, headers=admin)
    assert patched.status_code == 200 and patched.json["label"] == "Vehicle" and patched.json["icon"] == "car"


def test_the_field_types_are_listed_with_their_operators_and_conversions(client, admin):
    types = {t["type"]: t for t in client.get(f"{META}/field-types", headers=admin).json["data"]}
    assert len(types) >= 20
    assert types["text"]["converts_to"] == ["long_text", "picklist"]
    assert types["picklist"]["converts_to"] == ["multi_picklist"]
    assert "gte" in types["integer"]["operators"] and types["tags"]["sortable"] is False


def _field(api_name="good", type_="text", **extra) -> dict:
    return {"api_name": api_name, "label": "Label", "type": type_, **extra}


BAD_FIELDS = [
    ("reserved select", _field("select"), "api_name"),
    ("reserved id", _field("id"), "api_name"),
    ("reserved owner_id", _field("owner_id"), "api_name"),
    ("reserved deleted_at", _field("deleted_at"), "api_name"),
    ("upper case", _field("Upper"), "api_name"),
    ("leading digit", _field("1abc"), "api_name"),
    ("dash", _field("with-dash"), "api_name"),
    ("64 characters", _field("a" * 64), "api_name"),
    ("injection", _field('name"; DROP TABLE o_item;--'), "api_name"),
    ("duplicate", _field("code"), "api_name"),
    ("duplicate of the name field", _field("name"), "api_name"),
    ("unknown type", _field(type_="colour"), "type"),
    ("no label", {"api_name": "good", "type": "text"}, "$"),
    ("unknown member", _field(colour="red"), "$"),
    ("bad option", _field(options={"max_length": 0}), "options.max_length"),
    ("unknown option", _field(options={"maxlen": 5}), "options"),
    (
        "picklist duplicates",
        _field(type_="picklist", options={"values": [{"value": "a"}, {"value": "b"}, {"value": "A"}]}),
        "options.values[2].value",
    ),
    ("picklist without values", _field(type_="picklist", options={"values": []}), "options.values"),
    ("lookup to a missing object", _field(type_="lookup", options={"target": "nothing"}), "options.target"),
    ("lookup without target", _field(type_="lookup"), "options"),
    ("bad default", _field(type_="integer", default="many"), "default"),
    ("auto number format", _field(type_="auto_number", options={"format": "no placeholder"}), "options.format"),
    ("unique many-to-many", _field(type_="many_to_many", unique=True, options={"target": "item"}), "unique"),
]


def test_a_bad_field_definition_is_refused_naming_the_problem_and_changes_nothing(client, admin, instance, item):
    before = snapshot(instance)
    for case, body, path in BAD_FIELDS:
        response = client.post(f"{META}/objects/item/fields", json=body, headers=admin)
        assert response.status_code == 422, (case, response.json)
        error = response.json["error"]
        assert error["code"] == "validation_failed"
        assert path in error["details"]["fields"], (case, error)
        assert {"path": path, "message": error["details"]["fields"][path][0]} in error["details"]["errors"]
    assert snapshot(instance) == before


BAD_OBJECTS = [
    ("platform word", {"api_name": "meta", "label": "M"}, "api_name"),
    ("upper case", {"api_name": "Vehicle", "label": "V"}, "api_name"),
    ("leading digit", {"api_name": "1car", "label": "V"}, "api_name"),
    ("dash", {"api_name": "my-car", "label": "V"}, "api_name"),
    ("64 characters", {"api_name": "v" * 64, "label": "V"}, "api_name"),
    ("injection", {"api_name": "x; DROP TABLE meta_head", "label": "V"}, "api_name"),
    ("duplicate", {"api_name": "item", "label": "V"}, "api_name"),
    ("empty label", {"api_name": "car", "label": ""}, "label"),
    ("name field unknown", {"api_name": "car", "label": "Car", "name_field": "title"}, "name_field"),
    ("search field unknown", {"api_name": "car", "label": "Car", "search_fields": ["nope"]}, "search_fields[0]"),
    (
        "a bad field among good ones",
        {"api_name": "car", "label": "Car", "fields": [_field("ok"), _field("Bad")]},
        "fields[1].api_name",
    ),
    ("fields not a list", {"api_name": "car", "label": "Car", "fields": {"a": 1}}, "fields"),
]


def test_a_bad_object_definition_is_refused_naming_the_problem_and_changes_nothing(client, admin, instance, item):
    before = snapshot(instance)
    for case, body, path in BAD_OBJECTS:
        response = client.post(f"{META}/objects", json=body, headers=admin)
        assert response.status_code == 422, (case, response.json)
        assert path in response.json["error"]["details"]["fields"], (case, response.json)
    assert snapshot(instance) == before


def test_malformed_bodies_are_bad_requests(client, admin, item):
    for kwargs in ({"data": "{", "content_type": "application/json"}, {"json": [1, 2]}, {"data": "api_name=x"}):
        response = client.post(f"{META}/objects", headers=admin, **kwargs)
        assert response.status_code == 400, kwargs
        assert response.json["error"]["code"] == "bad_request"
    assert (
        client.patch(f"{META}/objects/item/fields/code", json={"api_name": "other"}, headers=admin).status_code == 422
    )
    assert client.patch(f"{META}/objects/item", json={"api_name": "other"}, headers=admin).status_code == 422
    assert client.get(f"{META}/objects/nothing", headers=admin).status_code == 404
    assert client.get(f"{META}/objects/item/fields/nothing", headers=admin).status_code == 404
    assert client.post(f"{META}/objects/nothing/fields", json=_field(), headers=admin).status_code == 422


def test_a_payload_over_the_size_limit_is_refused(client, admin, item):
    response = client.post(
        f"{META}/objects",
        data=b'{"api_name": "' + b"x" * (11 * 1024 * 1024) + b'"}',
        headers=admin,
        content_type="application/json",
    )
    assert response.status_code == 413
    assert response.json["error"]["code"] == "payload_too_large"


# -- type changes --------------------------------------------------------------------------------


def test_text_to_picklist_is_previewed_refused_without_consent_and_done_with_it(client, admin, instance, item):
    change = {"type": "picklist", "options": PICK}
    preview = client.patch(f"{META}/objects/item/fields/code?dry_run=true", json=change, headers=admin)
    assert preview.status_code == 200
    assert preview.json["preview"] == {
        "from": "text",
        "to": "picklist",
        "convertible": 2,
        "unconvertible": [{"value": "odd", "count": 1}],
        "unconvertible_count": 1,
    }
    # A preview checks the new definition as the change would.
    for bad in ({"type": "picklist"}, {**change, "api_name": "other"}, {**change, "required": "yes"}):
        assert client.patch(f"{META}/objects/item/fields/code?dry_run=true", json=bad, headers=admin).status_code == 422
        assert client.patch(f"{META}/objects/item/fields/code", json=bad, headers=admin).status_code == 422
    before = snapshot(instance)
    refused = client.patch(f"{META}/objects/item/fields/code", json=change, headers=admin)
    assert refused.status_code == 409
    assert refused.json["error"]["details"]["preview"] == preview.json["preview"]
    assert snapshot(instance) == before  # the preview changed nothing either
    done = client.patch(f"{META}/objects/item/fields/code?clear_unconvertible=true", json=change, headers=admin)
    assert done.status_code == 200 and done.json["type"] == "picklist"
    assert [r["code"] for r in records(client, admin)] == ["open", "won", None]
    assert client.post(f"{DATA}/item", json={"name": "n", "code": "odd"}, headers=admin).status_code == 422


def test_long_text_to_text_is_refused_with_409_while_a_value_does_not_fit(client, admin, instance, item):
    before = snapshot(instance)
    refused = client.patch(f"{META}/objects/item/fields/note", json={"type": "text"}, headers=admin)
    assert refused.status_code == 409
    assert refused.json["error"]["details"]["preview"]["unconvertible_count"] == 1
    assert snapshot(instance) == before
    client.patch(f"{DATA}/item/2", json={"note": "fits now"}, headers=admin)
    done = client.patch(f"{META}/objects/item/fields/note", json={"type": "text"}, headers=admin)
    assert done.status_code == 200
    assert [r["note"] for r in records(client, admin)] == ["short", "fits now", None]


def test_integer_to_decimal_and_an_unsafe_change_over_the_api(client, admin, instance, item):
    before = snapshot(instance)
    unsafe = client.patch(f"{META}/objects/item/fields/code", json={"type": "integer"}, headers=admin)
    assert unsafe.status_code == 422 and "type" in unsafe.json["error"]["details"]["fields"]
    preview = client.patch(f"{META}/objects/item/fields/code?dry_run=true", json={"type": "date"}, headers=admin)
    assert preview.status_code == 422
    assert snapshot(instance) == before
    done = client.patch(f"{META}/objects/item/fields/qty", json={"type": "decimal"}, headers=admin)
    assert done.status_code == 200
    assert [r["qty"] for r in records(client, admin)] == [1, 2, None]
    assert client.patch(f"{DATA}/item/1", json={"qty": 1.25}, headers=admin).json["qty"] == 1.25


# -- recycle bin -------------------------------------------------------------------------------------


def test_a_deleted_field_keeps_its_values_and_comes_back_with_them(client, admin, item):
    before = records(client, admin)
    assert client.delete(f"{META}/objects/item/fields/qty", headers=admin).status_code == 204
    assert all("qty" not in r for r in records(client, admin))
    binned = client.get(f"{META}/objects/item/fields?deleted=true", headers=admin).json["data"]
    assert [f["api_name"] for f in binned] == ["qty"] and binned[0]["deleted_at"]
    assert client.get(f"{DATA}/item?qty=1", headers=admin).status_code == 422
    assert client.post(f"{DATA}/item", json={"name": "x", "qty": 1}, headers=admin).status_code == 422
    restored = client.post(f"{META}/objects/item/fields/qty/restore", headers=admin)
    assert restored.status_code == 200 and restored.json["deleted_at"] is None
    assert [r["qty"] for r in records(client, admin)] == [r["qty"] for r in before]
    assert client.delete(f"{META}/objects/item/fields/name", headers=admin).status_code == 409


def test_a_deleted_object_keeps_its_records_and_comes_back_with_them(client, admin, item):
    before = records(client, admin)
    assert client.delete(f"{META}/objects/item", headers=admin).status_code == 204
    assert client.get(f"{DATA}/item", headers=admin).status_code == 404
    assert client.get(f"{META}/objects", headers=admin).json["data"] == []
    assert [o["api_name"] for o in client.get(f"{META}/objects?deleted=true", headers=admin).json["data"]] == ["item"]
    assert client.post(f"{META}/objects", json={"api_name": "item", "label": "I"}, headers=admin).status_code == 422
    assert client.post(f"{META}/objects/item/restore", headers=admin).status_code == 200
    assert records(client, admin) == before
    assert client.post(f"{META}/objects/item/restore", headers=admin).status_code == 404


# -- layouts and list views ----------------------------------------------------------------------------


def test_layouts_and_list_views_are_saved_checked_and_deleted(client, admin, item):
    for collection, body in (("layouts", LAYOUT), ("list-views", LIST_VIEW)):
        saved = client.put(f"{META}/objects/item/{collection}/main", json=body, headers=admin)
        assert saved.status_code == 200 and saved.json["api_name"] == "main"
        assert client.get(f"{META}/objects/item/{collection}/main", headers=admin).json == {**body, "api_name": "main"}
        assert len(client.get(f"{META}/objects/item/{collection}", headers=admin).json["data"]) == 1
        mismatch = client.put(f"{META}/objects/item/{collection}/main", json={**body, "api_name": "x"}, headers=admin)
        assert mismatch.status_code == 422
    bad = client.put(
        f"{META}/objects/item/layouts/bad",
        json={"label": "Bad", "sections": [{"label": "S", "fields": ["name", "nope"]}]},
        headers=admin,
    )
    assert bad.status_code == 422 and "sections[0].fields[1]" in bad.json["error"]["details"]["fields"]
    bad_view = client.put(f"{META}/objects/item/list-views/bad", json={**LIST_VIEW, "sort": "nope"}, headers=admin)
    assert bad_view.status_code == 422
    obj = client.get(f"{META}/objects/item", headers=admin).json
    assert [x["api_name"] for x in obj["layouts"]] == ["main"] and [x["api_name"] for x in obj["list_views"]] == [
        "main"
    ]
    assert client.delete(f"{META}/objects/item/layouts/main", headers=admin).status_code == 204
    assert client.delete(f"{META}/objects/item/layouts/main", headers=admin).status_code == 404
    assert client.get(f"{META}/objects/item/layouts/main", headers=admin).status_code == 404


# -- revisions ---------------------------------------------------------------------------------------------


def test_revisions_record_who_changed_what_with_before_and_after(client, admin, item):
    client.patch(f"{META}/objects/item/fields/code", json={"label": "Product code"}, headers=admin)
    listed = client.get(f"{META}/revisions", headers=admin).json
    assert [r["revision"] for r in listed["data"]] == [2, 1] and listed["next_cursor"] is None
    assert listed["data"][0]["actor_email"] == "admin@acme.test"
    assert listed["data"][0]["summary"] == "update field item.code"
    assert [r["revision"] for r in client.get(f"{META}/revisions?limit=1", headers=admin).json["data"]] == [2]
    assert [r["revision"] for r in client.get(f"{META}/revisions?before=2", headers=admin).json["data"]] == [1]
    detail = client.get(f"{META}/revisions/2", headers=admin).json
    assert detail["actor_email"] == "admin@acme.test" and detail["actor_id"]
    [entry] = detail["changes"]
    assert (entry["kind"], entry["key"]) == ("field", "item.code")
    assert entry["before"]["document"]["label"] == "Code" and entry["after"]["document"]["label"] == "Product code"
    assert entry["before"]["deleted"] is False
    assert client.get(f"{META}/revisions/99", headers=admin).status_code == 404


def test_rollback_brings_back_deleted_fields_with_data_and_bins_later_fields(client, admin, item):
    start = revision(client, admin)
    before = records(client, admin)
    client.delete(f"{META}/objects/item/fields/qty", headers=admin)
    client.post(f"{META}/objects/item/fields", json=_field("later", "integer"), headers=admin)
    client.patch(f"{DATA}/item/1", json={"later": 5}, headers=admin)
    rolled = client.post(f"{META}/revisions/{start}/rollback", headers=admin)
    assert rolled.status_code == 200
    assert rolled.json == {"revision": start + 3, "rolled_back_to": start}
    assert rolled.headers["X-Metadata-Revision"] == str(start + 3)
    after = records(client, admin)
    assert [r["qty"] for r in after] == [r["qty"] for r in before] and all("later" not in r for r in after)
    binned = client.get(f"{META}/objects/item/fields?deleted=true", headers=admin).json["data"]
    assert [f["api_name"] for f in binned] == ["later"]
    # A later rollback to just before the first one brings "later" back with its value.
    assert client.post(f"{META}/revisions/{start + 2}/rollback", headers=admin).status_code == 200
    assert client.get(f"{DATA}/item/1", headers=admin).json["later"] == 5
    assert client.post(f"{META}/revisions/{start + 99}/rollback", headers=admin).status_code == 422


# -- who may change metadata ---------------------------------------------------------------------------------

WRITES = [
    ("post", "/objects", {"api_name": "other", "label": "Other"}),
    ("patch", "/objects/item", {"label": "Renamed"}),
    ("delete", "/objects/item", None),
    ("post", "/objects/item/restore", None),
    ("post", "/objects/item/fields", {"api_name": "extra", "label": "Extra", "type": "text"}),
    ("patch", "/objects/item/fields/code", {"label": "Renamed"}),
    ("patch", "/objects/item/fields/code?dry_run=true", {"type": "long_text"}),
    ("patch", "/objects/item/fields/code?clear_unconvertible=true", {"type": "picklist", "options": PICK}),
    ("delete", "/objects/item/fields/code", None),
    ("post", "/objects/item/fields/code/restore", None),
    ("put", "/objects/item/layouts/main", LAYOUT),
    ("delete", "/objects/item/layouts/main", None),
    ("put", "/objects/item/list-views/main", LIST_VIEW),
    ("delete", "/objects/item/list-views/main", None),
    ("post", "/revisions/1/rollback", None),
]


def test_a_user_who_is_no_admin_gets_403_on_every_metadata_write(client, admin, world, instance, item):
    user = world.bearer("user@acme.test", "acme")
    client.put(f"{META}/objects/item/layouts/main", json=LAYOUT, headers=admin)
    client.get(f"{DATA}/item", headers=user)  # the first request sets up the user's roles
    before = snapshot(instance)
    for method, path, body in WRITES:
        kwargs = {"json": body} if body is not None else {}
        response = getattr(client, method)(META + path, headers=user, **kwargs)
        assert response.status_code == 403, (method, path, response.json)
        assert response.json["error"]["code"] == "forbidden"
    assert snapshot(instance) == before


# -- more than one worker ------------------------------------------------------------------------------------


def test_a_change_made_through_one_worker_is_seen_by_another_on_its_next_request(client, admin, config, item):
    other_instance = build_instance(config, load_entry_points=False)
    try:
        other = create_app(instance=other_instance).test_client()
        assert [f["api_name"] for f in other.get(f"{META}/objects/item/fields", headers=admin).json["data"]] == [
            "code",
            "name",
            "note",
            "qty",
        ]
        assert other.get(f"{DATA}/item/1", headers=admin).json.get("colour") is None
        client.post(f"{META}/objects/item/fields", json=_field("colour"), headers=admin)
        created = other.post(f"{DATA}/item", json={"name": "n", "colour": "red"}, headers=admin)
        assert created.status_code == 201 and created.json["colour"] == "red"
        client.delete(f"{META}/objects/item/fields/qty", headers=admin)
        assert "qty" not in other.get(f"{DATA}/item/1", headers=admin).json
        assert other.get(f"{DATA}/item?qty=1", headers=admin).status_code == 422
        # and the other way round
        other.delete(f"{META}/objects/item", headers=admin)
        assert client.get(f"{DATA}/item", headers=admin).status_code == 404
    finally:
        other_instance.dispose()


def test_a_change_that_fails_halfway_answers_500_and_leaves_nothing_behind(client, admin, instance, item, monkeypatch):
    before = snapshot(instance)
    original = SchemaEditor.add_field

    def add_then_fail(self, *args, **kwargs):
        original(self, *args, **kwargs)
        raise RuntimeError("injected after the column was added")

    monkeypatch.setattr(SchemaEditor, "add_field", add_then_fail)
    response = client.post(f"{META}/objects/item/fields", json=_field("extra", indexed=True), headers=admin)
    assert response.status_code == 500 and response.json["error"]["code"] == "internal_error"
    monkeypatch.undo()
    assert snapshot(instance) == before
    assert client.post(f"{META}/objects/item/fields", json=_field("extra"), headers=admin).status_code == 201
