"""GET /api/v1/openapi.json: a valid OpenAPI 3.1 document of the tenant's live
model that matches the routes the app really serves."""

from __future__ import annotations

import inspect
import re

import marshmallow as ma
import pytest
import sqlalchemy as sa
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from metacrm.api.openapi import CACHE_KEY
from metacrm.app import BUILTIN_PLUGINS, create_app
from metacrm.metadata.fieldtypes import FieldType
from metacrm.platform.hooks import hookimpl
from metacrm.platform.instance import Instance
from tests.conftest import World, drop_namespaces

DOC = "/api/v1/openapi.json"

VEHICLE_FIELDS = [
    {"api_name": "plate", "label": "Plate", "type": "text", "unique": True, "options": {"max_length": 20}},
    {"api_name": "notes", "label": "Notes", "type": "long_text", "help": "Anything worth knowing"},
    {"api_name": "body", "label": "Body", "type": "rich_text"},
    {"api_name": "email", "label": "Email", "type": "email"},
    {"api_name": "phone", "label": "Phone", "type": "phone"},
    {"api_name": "site", "label": "Site", "type": "url"},
    {"api_name": "doors", "label": "Doors", "type": "integer", "options": {"min": 1, "max": 9}},
    {"api_name": "weight", "label": "Weight", "type": "decimal", "options": {"precision": 10, "scale": 3}},
    {"api_name": "price", "label": "Price", "type": "currency", "options": {"currency": "CNY"}},
    {"api_name": "discount", "label": "Discount", "type": "percent"},
    {"api_name": "electric", "label": "Electric", "type": "boolean"},
    {"api_name": "built", "label": "Built", "type": "date"},
    {"api_name": "seen_at", "label": "Seen", "type": "datetime"},
    {
        "api_name": "status",
        "label": "Status",
        "type": "picklist",
        "required": True,
        "default": "new",
        "options": {"values": [{"value": "new"}, {"value": "sold"}, {"value": "scrapped", "active": False}]},
    },
    {
        "api_name": "extras",
        "label": "Extras",
        "type": "multi_picklist",
        "options": {"values": [{"value": "gps"}, {"value": "sunroof"}]},
    },
    {"api_name": "labels", "label": "Labels", "type": "tags"},
    {"api_name": "garage", "label": "Garage", "type": "lookup", "options": {"target": "garage"}},
    {"api_name": "home", "label": "Home", "type": "master_detail", "options": {"target": "garage"}},
    {"api_name": "visited", "label": "Visited", "type": "many_to_many", "options": {"target": "garage"}},
    {"api_name": "stock_no", "label": "Stock number", "type": "auto_number", "options": {"format": "V-{0000}"}},
]


@pytest.fixture
def admin(world):
    return world.bearer("admin@acme.test", "acme")


@pytest.fixture
def vehicles(client, admin):
    """Objects garage and vehicle (every built-in field type); returns the admin's headers."""
    response = client.post("/api/v1/meta/objects", json={"api_name": "garage", "label": "Garage"}, headers=admin)
    assert response.status_code == 201, response.json
    response = client.post(
        "/api/v1/meta/objects",
        json={"api_name": "vehicle", "label": "Vehicle", "fields": VEHICLE_FIELDS},
        headers=admin,
    )
    assert response.status_code == 201, response.json
    return admin


def _document(client, headers) -> dict:
    response = client.get(DOC, headers=headers)
    assert response.status_code == 200, response.data
    return response.json


def _validator(document: dict, component: str) -> Draft202012Validator:
    """A JSON Schema validator for one component, its references resolved in the document."""
    schema = {"$ref": f"#/components/schemas/{component}", "components": document["components"]}
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def _assert_valid(document: dict, component: str, instance) -> None:
    errors = sorted(_validator(document, component).iter_errors(instance), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]


def test_document_is_valid_openapi_31_for_every_field_type(client, vehicles):
    document = _document(client, vehicles)
    validate(document)
    assert document["openapi"].startswith("3.1")
    assert document["info"]["title"] == "metacrm API — Acme"
    assert re.fullmatch(r"rev-\d+", document["info"]["version"])
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearerAuth"]["scheme"] == "bearer"
    assert schemes["cookieAuth"]["in"] == "cookie"
    schemas = document["components"]["schemas"]
    assert {"Vehicle", "VehicleInput", "VehicleUpdate", "VehicleList", "Garage", "Error"} <= set(schemas)


def test_field_types_map_to_json_schema(client, vehicles):
    schemas = _document(client, vehicles)["components"]["schemas"]
    out = schemas["Vehicle"]["properties"]
    assert {"id", "owner_id", "version", "created_at", "created_by", "updated_at", "updated_by"} <= set(out)
    assert out["plate"]["maxLength"] == 20 and "string" in out["plate"]["type"]
    assert out["email"]["format"] == "email"
    assert out["site"]["format"] == "uri"
    assert "integer" in out["doors"]["type"]
    assert "number" in out["price"]["type"] and "CNY" in out["price"]["description"]
    assert "boolean" in out["electric"]["type"]
    assert out["built"]["format"] == "date"
    assert out["seen_at"]["format"] == "date-time"
    # Stored data may hold an inactive value; a write may not.
    assert out["status"]["enum"] == ["new", "sold", "scrapped", None]
    assert out["extras"]["type"] == "array" and out["extras"]["items"]["enum"] == ["gps", "sunroof"]
    assert out["labels"]["type"] == "array"
    assert out["garage"]["properties"].keys() == {"id", "name"}
    assert out["visited"]["items"]["properties"].keys() == {"id", "name"}
    assert out["notes"]["description"] == "Anything worth knowing"

    create = schemas["VehicleInput"]
    # Only active values may be written; a required field refuses null and empty text.
    assert create["properties"]["status"]["enum"] == ["new", "sold"]
    assert create["properties"]["name"]["type"] == "string" and create["properties"]["name"]["minLength"] == 1
    assert {"type": "null"} not in create["properties"]["home"]["anyOf"]
    assert {"type": "null"} in create["properties"]["garage"]["anyOf"]
    assert create["properties"]["status"]["default"] == "new"
    assert "stock_no" not in create["properties"]  # auto-number is read-only
    assert "stock_no" in out
    # Required unless a default fills it in; a master-detail is always required.
    assert sorted(create["required"]) == ["home", "name"]
    assert create["properties"]["doors"]["minimum"] == 1 and create["properties"]["doors"]["maximum"] == 9
    update = schemas["VehicleUpdate"]
    assert "required" not in update and "version" in update["properties"]


def test_list_parameters_document_filters_and_operators(client, vehicles):
    document = _document(client, vehicles)
    operation = document["paths"]["/api/v1/data/vehicle"]["get"]

    def resolve(parameter):
        if "$ref" in parameter:
            return document["components"]["parameters"][parameter["$ref"].rsplit("/", 1)[1]]
        return parameter

    parameters = {p["name"]: p for p in map(resolve, operation["parameters"])}
    for name in ("sort", "limit", "cursor", "offset", "fields", "count", "deleted"):
        assert name in parameters
    assert "name" in parameters["q"]["description"]  # the search fields
    assert parameters["limit"]["schema"]["maximum"] == 200
    assert "doors" in parameters and "doors[gte]" in parameters and "doors[isnull]" in parameters
    assert "doors[contains]" not in parameters  # not an integer operator
    assert parameters["status[in]"]["schema"]["type"] == "array"
    assert parameters["plate[startswith]"]["schema"]["type"] == "string"
    assert "visited[contains]" in parameters and "visited" not in parameters
    assert "created_at[gte]" in parameters
    assert "gte" in parameters["doors"]["description"]


def _sample(schema: dict) -> str:
    """A path segment the parameter's schema accepts."""
    if schema.get("enum"):
        return str(schema["enum"][0])
    return "1" if schema.get("type") == "integer" else "x"


def _assert_paths_are_routes(document: dict, app) -> None:
    adapter = app.url_map.bind("localhost")
    shared = document["components"]["parameters"]
    covered = set()
    for path, item in document["paths"].items():
        for method in ("get", "post", "put", "patch", "delete"):
            if method not in item:
                continue
            in_path = {}
            for parameter in item.get("parameters", []) + item[method].get("parameters", []):
                parameter = shared[parameter["$ref"].rsplit("/", 1)[1]] if "$ref" in parameter else parameter
                if parameter["in"] == "path":
                    in_path[parameter["name"]] = parameter["schema"]
            templated = re.findall(r"\{([^}]+)\}", path)
            assert set(templated) == set(in_path), (path, method)
            concrete = re.sub(r"\{([^}]+)\}", lambda m, schemas=in_path: _sample(schemas[m[1]]), path)
            endpoint, _args = adapter.match(concrete, method=method.upper())
            covered.add((endpoint, method.upper()))
    expected = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/") or rule.rule == DOC:
            continue
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            expected.add((rule.endpoint, method))
    assert expected - covered == set()


def test_document_paths_are_the_routes_the_app_serves(client, vehicles, app):
    _assert_paths_are_routes(_document(client, vehicles), app)


def test_rules_and_automation_summaries_are_their_views_docstrings(client, vehicles, app):
    document = _document(client, vehicles)
    adapter = app.url_map.bind("localhost")
    summaries = {}
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method != "parameters" and operation["operationId"].startswith(("rules.", "automation.")):
                endpoint, _args = adapter.match(re.sub(r"\{[^}]+\}", "1", path), method=method.upper())
                summaries[endpoint] = operation["summary"]
    assert len(summaries) == 18
    for endpoint, summary in summaries.items():
        first_paragraph = inspect.getdoc(app.view_functions[endpoint]).split("\n\n")[0]
        assert summary == " ".join(first_paragraph.split()), endpoint


def test_every_path_is_made_from_a_views_rule(client, world, monkeypatch, caplog):
    """Which routes are described is known from the rules the paths were made
    from: a path written out by hand is refused, not silently duplicated."""
    from metacrm.api.openapi.auth import AccountSections

    real = AccountSections._auth_paths

    def with_a_literal_path(self):
        real(self)
        self.paths["/api/v1/auth/by-hand"] = {"post": {"responses": {}}}

    monkeypatch.setattr(AccountSections, "_auth_paths", with_a_literal_path)
    response = client.get(DOC, headers=world.bearer("admin@globex.test", "globex"))
    assert response.status_code == 500
    assert "not made with _path() from a view's URL rule: /api/v1/auth/by-hand" in caplog.text


def test_a_tenant_without_objects_still_gets_every_route(client, world, app):
    document = _document(client, world.bearer("admin@globex.test", "globex"))
    validate(document)
    _assert_paths_are_routes(document, app)
    assert "/api/v1/data/{name}/{record_id}" in document["paths"]


def test_adding_a_field_or_object_changes_the_document(client, vehicles, instance):
    before = _document(client, vehicles)
    assert "mileage" not in before["components"]["schemas"]["Vehicle"]["properties"]
    response = client.post(
        "/api/v1/meta/objects/vehicle/fields",
        json={"api_name": "mileage", "label": "Mileage", "type": "integer"},
        headers=vehicles,
    )
    assert response.status_code == 201
    after = _document(client, vehicles)
    assert after["info"]["version"] != before["info"]["version"]
    assert int(after["info"]["version"][4:]) > int(before["info"]["version"][4:])
    assert "integer" in after["components"]["schemas"]["Vehicle"]["properties"]["mileage"]["type"]
    assert "mileage" in after["components"]["schemas"]["VehicleInput"]["properties"]

    response = client.post("/api/v1/meta/objects", json={"api_name": "sales_order", "label": "Order"}, headers=vehicles)
    assert response.status_code == 201
    latest = _document(client, vehicles)
    assert "SalesOrder" in latest["components"]["schemas"]
    assert "/api/v1/data/sales_order/{id}" in latest["paths"]
    validate(latest)


def test_document_is_built_once_per_revision(client, vehicles, instance, monkeypatch):
    from metacrm.api import openapi

    builds = []
    real_build = openapi.DocumentBuilder.build

    def counting_build(self):
        builds.append(self.model.revision)
        return real_build(self)

    monkeypatch.setattr(openapi.DocumentBuilder, "build", counting_build)
    first = client.get(DOC, headers=vehicles)
    second = client.get(DOC, headers=vehicles)
    assert first.data == second.data
    revision = int(first.headers["X-Metadata-Revision"])
    assert builds == [revision]
    assert instance.caches[CACHE_KEY]["acme"][0][0] == revision

    client.patch("/api/v1/meta/objects/vehicle", json={"label": "Car"}, headers=vehicles)
    third = client.get(DOC, headers=vehicles)
    assert third.json["components"]["schemas"]["Vehicle"]["title"] == "Car"
    assert builds == [revision, int(third.headers["X-Metadata-Revision"])]
    assert builds[1] > builds[0]


def test_records_validate_against_their_component_schemas(client, vehicles):
    document = _document(client, vehicles)
    garage = client.post("/api/v1/data/garage", json={"name": "Main"}, headers=vehicles).json
    body = {
        "name": "Car 1",
        "plate": "AB-123",
        "notes": "  keeps its spaces  ",
        "body": "<p>Hello <b>world</b></p>",
        "email": "owner@example.com",
        "phone": "+86 10 1234 5678",
        "site": "https://example.com/cars/1",
        "doors": 5,
        "weight": "1234.5678",
        "price": 99999.99,
        "discount": 12.5,
        "electric": True,
        "built": "2024-05-01",
        "seen_at": "2026-11-22T09:30:00+08:00",
        "status": "sold",
        "extras": ["sunroof", "gps"],
        "labels": ["blue", "fast"],
        "garage": garage["id"],
        "home": {"id": garage["id"]},
        "visited": [garage["id"]],
    }
    _assert_valid(document, "VehicleInput", body)
    created = client.post("/api/v1/data/vehicle", json=body, headers=vehicles)
    assert created.status_code == 201, created.json
    record = client.get(f"/api/v1/data/vehicle/{created.json['id']}", headers=vehicles).json
    _assert_valid(document, "Vehicle", record)
    _assert_valid(document, "Garage", garage)

    sparse = client.post("/api/v1/data/vehicle", json={"name": "Car 2", "home": garage["id"]}, headers=vehicles)
    assert sparse.status_code == 201, sparse.json
    _assert_valid(document, "Vehicle", sparse.json)
    page = client.get("/api/v1/data/vehicle?count=true&limit=1", headers=vehicles).json
    _assert_valid(document, "VehicleList", page)
    selected = client.get("/api/v1/data/vehicle?fields=name,price", headers=vehicles).json
    _assert_valid(document, "VehicleList", selected)

    assert "/api/v1/data/garage/{id}/related/vehicle.home" in document["paths"]
    children = client.get(f"/api/v1/data/garage/{garage['id']}/related/vehicle.home", headers=vehicles)
    assert children.status_code == 200 and len(children.json["data"]) == 2
    _assert_valid(document, "VehicleList", children.json)
    visited = client.get(f"/api/v1/data/vehicle/{record['id']}/related/visited", headers=vehicles)
    assert visited.status_code == 200
    _assert_valid(document, "GarageList", visited.json)

    client.delete(f"/api/v1/data/vehicle/{sparse.json['id']}", headers=vehicles)
    binned = client.get("/api/v1/data/vehicle?deleted=true", headers=vehicles).json
    assert binned["data"][0]["deleted_at"]
    _assert_valid(document, "VehicleList", binned)

    # A record that breaks the schema is caught: the schema is not a rubber stamp.
    with pytest.raises(AssertionError):
        _assert_valid(document, "Vehicle", {**record, "status": "flying"})
    with pytest.raises(AssertionError):
        _assert_valid(document, "VehicleInput", {**body, "stock_no": "V-0009"})


def test_errors_follow_the_error_schema(client, vehicles):
    document = _document(client, vehicles)
    response = client.post("/api/v1/data/vehicle", json={"doors": "many"}, headers=vehicles)
    assert response.status_code == 422
    _assert_valid(document, "Error", response.json)


def test_each_tenant_sees_its_own_model(client, vehicles, world):
    other = _document(client, world.bearer("admin@globex.test", "globex"))
    assert other["info"]["title"] == "metacrm API — Globex"
    assert "Vehicle" not in other["components"]["schemas"]
    assert not any(path.startswith("/api/v1/data/vehicle") for path in other["paths"])


def test_plain_members_may_read_it_and_see_only_what_they_may_read(client, vehicles, world):
    document = _document(client, world.bearer("user@acme.test", "acme"))
    validate(document)
    # A member holding no role may read no record: no object is described.
    assert "/api/v1/data/vehicle" not in document["paths"] and "Vehicle" not in document["components"]["schemas"]
    assert "/api/v1/data/{name}/{record_id}" in document["paths"]


def test_unauthenticated_is_401(client, world):
    response = client.get(DOC)
    assert response.status_code == 401
    assert response.json["error"]["code"] == "unauthenticated"


class Stars(FieldType):
    """A plugin's type that describes its own values and filters."""

    name = "stars"
    label = "Stars"
    operators = ("eq", "in", "gte", "isnull")
    filter_list_operators = ("in", "gte")  # "at least one of these" — a list, for the test's sake

    def column_type(self):
        return sa.SmallInteger()

    def marshmallow_field(self):
        return ma.fields.Integer(allow_none=True)

    def json_schema(self, *, output: bool) -> dict:
        return {"type": ["integer", "null"], "minimum": 1, "maximum": 5}

    def filter_schema(self) -> dict:
        return {"type": "integer", "minimum": 1, "maximum": 5}


class Mood(FieldType):
    """A plugin's type that leaves its description to the default."""

    name = "mood"
    label = "Mood"

    def column_type(self):
        return sa.Boolean()

    def marshmallow_field(self):
        return ma.fields.Boolean(allow_none=True)


class PluginTypes:
    @hookimpl
    def register_field_types(self):
        return [Stars, Mood]


@pytest.fixture
def plugin_client(config):
    instance = Instance(config, builtin_plugins=[*BUILTIN_PLUGINS, PluginTypes()], load_entry_points=False)
    instance.upgrade_platform()
    app = create_app(instance=instance)
    app.config["TESTING"] = True
    world = World(instance, app)
    yield app.test_client(), world.bearer("admin@acme.test", "acme")
    drop_namespaces(instance)
    instance.dispose()


def test_a_plugin_field_type_describes_its_own_values_and_filters(plugin_client):
    client, headers = plugin_client
    fields = [
        {"api_name": "rating", "label": "Rating", "type": "stars"},
        {"api_name": "happy", "label": "Happy", "type": "mood"},
    ]
    response = client.post(
        "/api/v1/meta/objects", json={"api_name": "review", "label": "Review", "fields": fields}, headers=headers
    )
    assert response.status_code == 201, response.json
    document = _document(client, headers)
    validate(document)
    properties = document["components"]["schemas"]["Review"]["properties"]
    assert properties["rating"]["maximum"] == 5 and properties["rating"]["x-field-type"] == "stars"
    assert properties["happy"]["type"] == ["boolean", "null"]  # the default: from the column's Python type
    parameters = document["components"]["parameters"]
    assert parameters["Review.rating"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 5}
    assert parameters["Review.rating.gte"]["schema"]["type"] == "array"
    assert parameters["Review.rating.in"]["explode"] is False
    assert parameters["Review.happy"]["schema"] == {"type": "string"}
