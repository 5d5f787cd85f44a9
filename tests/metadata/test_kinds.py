"""Definition kinds live in one registry (``metacrm.metadata.kinds``): the
built-ins register through the ``register_definition_kinds`` hook, and a
plugin's kind is then checked, versioned, served by the meta API, installed
from packages, rolled back and purged like theirs."""

from __future__ import annotations

import pytest
import yaml

from metacrm.app import build_instance, create_app
from metacrm.metadata.kinds import DefinitionKind, KindRegistry, kinds_for
from metacrm.metadata.model import definition_kinds, metadata_service
from metacrm.platform import audit
from metacrm.platform.errors import ValidationFailed
from metacrm.platform.hooks import create_plugin_manager, hookimpl
from metacrm.plugins.packages import apply_package, load_package
from tests.conftest import drop_namespaces
from tests.metadata.conftest import AcmeWorld, snapshot

META = "/api/v1/meta"

SCORECARD_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": ["api_name", "label", "tiles"],
    "properties": {
        "api_name": {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,62}$"},
        "label": {"type": "string", "minLength": 1},
        "tiles": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["field"],
                "properties": {"field": {"type": "string"}, "size": {"enum": ["small", "large"]}},
            },
        },
    },
}


def check_scorecard(errors, document, scope) -> None:
    fields = {f["api_name"] for f in scope.state.fields(scope.object_api_name)}
    for i, tile in enumerate(document["tiles"]):
        if tile["field"] not in fields:
            errors.add(f"tiles[{i}].field", f"no field {tile['field']!r} on {scope.object_api_name}")


SCORECARD = DefinitionKind(
    "scorecard",
    "scorecard",
    schema=SCORECARD_SCHEMA,
    check=check_scorecard,
    object_scoped=True,
    collection="scorecards",
    url="scorecards",
)


class Dashboards:
    @hookimpl
    def register_definition_kinds(self):
        return [SCORECARD]


@pytest.fixture
def plugged(config):
    instance = build_instance(config, load_entry_points=False)
    instance.pm.register(Dashboards())
    instance.upgrade_platform()
    yield instance
    drop_namespaces(instance)
    instance.dispose()


@pytest.fixture
def world(plugged):
    app = create_app(instance=plugged)
    app.config["TESTING"] = True
    return AcmeWorld(plugged, app)


@pytest.fixture
def admin(world) -> dict:
    return world.bearer("admin@acme.test", "acme")


@pytest.fixture
def client(world, admin):
    client = world.app.test_client()
    response = client.post(
        f"{META}/objects",
        json={"api_name": "deal", "label": "Deal", "fields": [{"api_name": "amount", "label": "A", "type": "integer"}]},
        headers=admin,
    )
    assert response.status_code == 201, response.json
    return client


def _head(client, admin) -> int:
    return client.get(f"{META}/revisions", headers=admin).json["data"][0]["revision"]


# -- the registry ---------------------------------------------------------------------------


def test_the_built_in_kinds_register_through_the_hook_in_layer_order(instance):
    kinds = definition_kinds(instance)
    assert kinds.names() == [
        "object",
        "field",
        "layout",
        "list_view",
        "app",
        "package",
        "validation_rule",
        "automation",
        "document_template",
        "access",
        "duplicate_rule",
        "report",
        "dashboard",
        "approval_process",
        "segment",
        "email_template",
        "web_form",
        "conversion",
    ]
    assert [k.name for k in kinds.object_scoped()] == [
        "field",
        "layout",
        "list_view",
        "validation_rule",
        "automation",
        "document_template",
        "duplicate_rule",
        "approval_process",
        "segment",
        "conversion",
    ]
    assert kinds.by_url("list-views").name == "list_view" and kinds.by_collection("automations").name == "automation"
    assert kinds.get("access").schema is None and not kinds.get("access").written_by_admins
    assert kinds.get("layout").stored_as_is and not kinds.get("field").stored_as_is
    assert definition_kinds(instance) is kinds  # collected once per instance
    with pytest.raises(KeyError, match="no definition kind 'nothing'"):
        kinds.get("nothing")


def test_a_plugin_cannot_replace_a_kind_or_register_one_it_cannot_key():
    registry = KindRegistry([SCORECARD])
    with pytest.raises(ValueError, match="already registered"):
        registry.register(DefinitionKind("scorecard", "other"))
    with pytest.raises(ValueError, match="url 'scorecards' is taken"):
        registry.register(DefinitionKind("board", "board", schema=SCORECARD_SCHEMA, url="scorecards"))
    keyless = {**SCORECARD_SCHEMA, "required": ["label"]}
    with pytest.raises(ValueError, match="must require an api_name"):
        registry.register(DefinitionKind("board", "board", schema=keyless))
    with pytest.raises(Exception, match="is not valid"):
        registry.register(DefinitionKind("board", "board", schema={"type": "no such type", "required": ["api_name"]}))


def test_without_plugins_the_metadata_engine_has_its_own_kinds_only():
    assert kinds_for(None).names() == ["object", "field", "layout", "list_view", "app", "package"]
    pm = create_plugin_manager([Dashboards()], load_entry_points=False)
    assert kinds_for(pm).names() == ["scorecard"]


# -- a plugin's kind through the meta API ------------------------------------------------------


def test_a_plugin_kind_is_written_checked_listed_and_deleted_through_the_meta_api(client, admin, plugged):
    board = {"label": "Main", "tiles": [{"field": "amount", "size": "large"}]}
    saved = client.put(f"{META}/objects/deal/scorecards/main", json=board, headers=admin)
    assert saved.status_code == 200 and saved.json == {**board, "api_name": "main"}
    assert client.get(f"{META}/objects/deal/scorecards", headers=admin).json == {"data": [saved.json]}
    assert client.get(f"{META}/objects/deal/scorecards/main", headers=admin).json == saved.json
    assert client.get(f"{META}/objects/deal", headers=admin).json["scorecards"] == [saved.json]
    (entry,) = client.get(f"{META}/revisions/{_head(client, admin)}", headers=admin).json["changes"]
    assert (entry["kind"], entry["key"], entry["before"]) == ("scorecard", "deal.main", None)

    before = snapshot(plugged)
    for body, path, message in (
        ({"label": "Bad", "tiles": [{"field": "amount", "size": "huge"}]}, "tiles[0].size", "is not one of"),
        ({"label": "Bad", "tiles": [{"field": 3}]}, "tiles[0].field", "is not of type 'string'"),
        ({"label": "Bad", "tiles": [{}, {"field": "nothing"}]}, "tiles[0]", "'field' is a required property"),
        ({"label": "Bad", "tiles": [{"field": "amount"}, {"field": "nothing"}]}, "tiles[1].field", "no field"),
    ):
        response = client.put(f"{META}/objects/deal/scorecards/bad", json=body, headers=admin)
        assert response.status_code == 422, (body, response.json)
        error = response.json["error"]
        assert error["message"].startswith("the scorecard is not valid")
        assert message in error["details"]["fields"][path][0], (body, error)
    assert snapshot(plugged) == before

    assert client.put(f"{META}/objects/nothing/scorecards/x", json=board, headers=admin).status_code == 404
    assert client.get(f"{META}/objects/deal/dashbords", headers=admin).status_code == 404
    assert client.delete(f"{META}/objects/deal/scorecards/main", headers=admin).status_code == 204
    missing = client.get(f"{META}/objects/deal/scorecards/main", headers=admin)
    assert missing.status_code == 404 and missing.json["error"]["message"] == "no scorecard 'main' on deal"
    assert client.delete(f"{META}/objects/deal/scorecards/main", headers=admin).status_code == 404


def test_a_rollback_brings_a_plugin_kind_back_and_a_purge_removes_it(client, admin, plugged):
    board = {"label": "Main", "tiles": [{"field": "amount"}]}
    client.put(f"{META}/objects/deal/scorecards/main", json=board, headers=admin)
    saved_at = _head(client, admin)
    client.delete(f"{META}/objects/deal/scorecards/main", headers=admin)
    assert client.post(f"{META}/revisions/{saved_at}/rollback", headers=admin).status_code == 200
    assert client.get(f"{META}/objects/deal/scorecards/main", headers=admin).json == {**board, "api_name": "main"}

    binding = plugged.db.bind("acme")
    with metadata_service(plugged, binding, audit.SYSTEM).change("bin") as tx:
        tx.delete_object("deal")
    with metadata_service(plugged, binding, audit.SYSTEM).change("purge") as tx:
        tx.purge_object("deal")
        assert tx.state.scoped("scorecard", "deal", include_deleted=True) == []


def test_kinds_the_platform_keeps_are_not_written_by_put_nor_admin_kinds_by_write_definition(world, plugged):
    with metadata_service(plugged, plugged.db.bind("acme"), audit.SYSTEM).change("nothing") as tx:
        with pytest.raises(ValueError, match="kept by the platform"):
            tx.put("access", None, {"api_name": "policy"})
        with pytest.raises(ValueError, match="written by put"):
            tx.write_definition("scorecard", "deal.main", {"api_name": "main"})
        with pytest.raises(KeyError):
            tx.put("nothing", None, {"api_name": "x"})


# -- a plugin's kind in a package ------------------------------------------------------------


def _package(root, scorecards, file="scorecards.yaml"):
    (root / "objects" / "deal").mkdir(parents=True)
    (root / "package.yaml").write_text("name: boards\nversion: '1.0'\n")
    (root / "objects" / "deal" / "object.yaml").write_text(yaml.safe_dump({"api_name": "deal", "label": "Deal"}))
    fields = [{"api_name": "amount", "label": "Amount", "type": "integer"}]
    (root / "objects" / "deal" / "fields.yaml").write_text(yaml.safe_dump(fields))
    (root / "objects" / "deal" / file).write_text(yaml.safe_dump(scorecards))
    return load_package(root)


def test_a_package_installs_a_plugin_kind_idempotently(world, plugged, tmp_path):
    binding = plugged.db.bind("acme")
    board = {"api_name": "main", "label": "Main", "tiles": [{"field": "amount"}]}
    package = _package(tmp_path, [board])
    result = apply_package(plugged, binding, package, audit.SYSTEM)
    assert result["created"] == 3 and result["revision"] is not None  # object, field, scorecard
    with metadata_service(plugged, binding, audit.SYSTEM).change("read") as tx:
        assert tx.state.get("scorecard", "deal.main").document == board
    assert apply_package(plugged, binding, package, audit.SYSTEM)["revision"] is None


def test_a_package_with_a_bad_document_or_an_unknown_file_changes_nothing(world, plugged, tmp_path):
    binding = plugged.db.bind("acme")
    before = snapshot(plugged)
    bad = _package(tmp_path / "bad", [{"api_name": "main", "label": "Main", "tiles": [{"field": "amount", "x": 1}]}])
    with pytest.raises(ValidationFailed) as failed:
        apply_package(plugged, binding, bad, audit.SYSTEM)
    assert "tiles[0]" in failed.value.details["fields"]
    typo = _package(tmp_path / "typo", [], file="dashbords.yaml")
    with pytest.raises(ValidationFailed, match="no definition kind is kept in dashbords.yaml"):
        apply_package(plugged, binding, typo, audit.SYSTEM)
    assert snapshot(plugged) == before


# -- a plugin's kind in tenant export and import ------------------------------------------------


def test_an_export_travels_with_its_plugin_kinds_and_needs_them_where_it_is_imported(client, admin, plugged, tmp_path):
    from metacrm.metadata import transfer
    from metacrm.platform.errors import BadRequest

    board = {"label": "Main", "tiles": [{"field": "amount"}]}
    client.put(f"{META}/objects/deal/scorecards/main", json=board, headers=admin)
    transfer.export_tenant(plugged, "acme", tmp_path / "acme.zip")
    copy = transfer.import_tenant(plugged, tmp_path / "acme.zip", "copy")
    with metadata_service(plugged, copy, audit.SYSTEM).change("read") as tx:
        assert tx.state.get("scorecard", "deal.main").document == {**board, "api_name": "main"}

    plain = build_instance(plugged.config, load_entry_points=False)  # same database, no Dashboards plugin
    try:
        with pytest.raises(BadRequest, match="definition deal.main is a 'scorecard', a kind no plugin installed here"):
            transfer.import_tenant(plain, tmp_path / "acme.zip", "other")
    finally:
        plain.dispose()
