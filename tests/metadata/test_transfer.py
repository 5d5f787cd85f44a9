"""Tenant export and import: a round trip loses nothing, and a bad file or a
taken slug leaves every tenant as it was."""

from __future__ import annotations

import json
import zipfile
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from metacrm.access.guard import SystemGuard
from metacrm.app import build_instance
from metacrm.cli import main
from metacrm.metadata import transfer
from metacrm.metadata.changes import MetadataService
from metacrm.metadata.model import field_types, model_for
from metacrm.metadata.store import RecordStore
from metacrm.metadata.tables import autonumber_counters
from metacrm.platform import audit, tenancy
from metacrm.platform import identity as identities
from metacrm.platform.clock import as_utc
from metacrm.platform.errors import BadRequest, Conflict
from metacrm.platform.hooks import hookimpl
from tests.conftest import PASSWORD, PG_URL, drop_namespaces, make_config

ACTOR = audit.Actor(user_id=1, email="admin@src.test")
EVERY_TYPE = {
    "text",
    "long_text",
    "rich_text",
    "email",
    "phone",
    "url",
    "integer",
    "decimal",
    "currency",
    "percent",
    "boolean",
    "date",
    "datetime",
    "picklist",
    "multi_picklist",
    "tags",
    "lookup",
    "master_detail",
    "many_to_many",
    "auto_number",
}


# -- a tenant with a bit of everything ------------------------------------------------


def _store(instance, binding) -> RecordStore:
    return RecordStore(binding, model_for(instance, binding), SystemGuard(), ACTOR, field_types(instance))


def build_source(instance, slug: str = "src") -> None:
    """Objects with every field type, unicode, nulls, decimals, datetimes, a
    soft-deleted record, a field and an object in the recycle bin (with
    data), references in a cycle and to later ids, several revisions."""
    binding = tenancy.create_tenant(instance, slug, "Source Ltd 源")
    service = MetadataService(binding, field_types(instance), ACTOR)
    with service.change("accounts") as tx:
        tx.create_object(
            {"api_name": "account", "label": "Account"},
            fields=[
                {"api_name": "number", "label": "No.", "type": "auto_number", "options": {"format": "ACC-{0000}"}},
                {"api_name": "description", "label": "Description", "type": "long_text"},
                {"api_name": "notes", "label": "Notes", "type": "rich_text"},
                {"api_name": "email", "label": "E-mail", "type": "email"},
                {"api_name": "phone", "label": "Phone", "type": "phone"},
                {"api_name": "website", "label": "Website", "type": "url"},
                {"api_name": "employees", "label": "Employees", "type": "integer"},
                {"api_name": "rating", "label": "Rating", "type": "decimal", "options": {"precision": 12, "scale": 4}},
                {"api_name": "revenue", "label": "Revenue", "type": "currency", "options": {"currency": "CNY"}},
                {"api_name": "share", "label": "Share", "type": "percent"},
                {"api_name": "active", "label": "Active", "type": "boolean"},
                {"api_name": "founded", "label": "Founded", "type": "date"},
                {"api_name": "last_contact", "label": "Last contact", "type": "datetime"},
                {
                    "api_name": "industry",
                    "label": "Industry",
                    "type": "picklist",
                    "options": {"values": [{"value": "auto"}, {"value": "retail"}]},
                },
                {
                    "api_name": "regions",
                    "label": "Regions",
                    "type": "multi_picklist",
                    "options": {"values": [{"value": "north"}, {"value": "south"}, {"value": "east"}]},
                },
                {"api_name": "labels", "label": "Labels", "type": "tags"},
                {"api_name": "parent", "label": "Parent", "type": "lookup", "options": {"target": "account"}},
            ],
        )
    with service.change("vehicles") as tx:
        tx.create_object(
            {"api_name": "vehicle", "label": "车辆"},
            fields=[
                {"api_name": "account", "label": "Account", "type": "master_detail", "options": {"target": "account"}},
                {"api_name": "drivers", "label": "Drivers", "type": "many_to_many", "options": {"target": "account"}},
                {"api_name": "vin", "label": "VIN", "type": "text", "unique": True},
                {"api_name": "mileage", "label": "Mileage", "type": "integer"},
            ],
        )
        tx.create_object(
            {"api_name": "legacy", "label": "Legacy"}, fields=[{"api_name": "code", "label": "Code", "type": "text"}]
        )
    with service.change("flagship vehicle") as tx:  # account ⇄ vehicle: a cycle of references
        tx.add_field(
            "account", {"api_name": "flagship", "label": "Flagship", "type": "lookup", "options": {"target": "vehicle"}}
        )
        tx.update_object("vehicle", {"plural_label": "车辆们"})

    store = _store(instance, binding)
    child = store.create(
        "account",
        {
            "name": "子公司 车辆",
            "description": "多行\n文本",
            "notes": "<p>hello <b>world</b></p>",
            "email": "sub@example.cn",
            "phone": "+86 10 1234 5678",
            "website": "https://example.cn/车辆",
            "employees": 12,
            "rating": "1234.5678",
            "revenue": "9876543.21",
            "share": "12.5",
            "active": True,
            "founded": "2001-02-03",
            "last_contact": "2024-03-01T08:30:15.123456+08:00",
            "industry": "auto",
            "regions": ["south", "north"],
            "labels": ["vip", "车辆"],
        },
    )
    parent = store.create("account", {"name": "Holding", "active": False, "employees": None, "rating": "0.0001"})
    store.create("account", {"name": "Empty"})
    store.update("account", child["id"], {"parent": parent["id"]})  # refers to a later id
    van = store.create(
        "vehicle",
        {"name": "Van 1", "account": child["id"], "drivers": [child["id"], parent["id"]], "vin": "V1", "mileage": 1200},
    )
    store.create("vehicle", {"name": "Van 2", "account": parent["id"], "drivers": [], "vin": "V2", "mileage": 5})
    scrapped = store.create("vehicle", {"name": "Scrapped", "account": parent["id"], "vin": "V3", "mileage": 99999})
    store.update("account", parent["id"], {"flagship": van["id"]})
    store.create("legacy", {"name": "old one", "code": "X"})
    store.delete("vehicle", scrapped["id"])
    temporary = store.create("account", {"name": "Purged for good"})  # the highest id, gone
    store.delete("account", temporary["id"])
    store.purge("account", [temporary["id"]])

    with service.change("retire mileage and legacy") as tx:
        tx.delete_field("vehicle", "mileage")
        tx.delete_object("legacy")


def snapshot(instance, slug: str) -> dict:
    """Every table of the tenant's namespace, reflected: columns in physical order and rows by key."""
    binding = instance.db.bind(slug)
    result = {}
    with binding.connect() as conn:
        names = sorted(set(sa.inspect(conn).get_table_names(schema=binding.schema)) - {"alembic_version"})
        for name in names:
            table = sa.Table(name, sa.MetaData(), schema=binding.schema, autoload_with=conn)
            rows = conn.execute(sa.select(table).order_by(*table.primary_key.columns)).mappings().all()
            result[name] = {"columns": [c.name for c in table.columns], "rows": [dict(row) for row in rows]}
    return result


def _split_audit(tables: dict) -> tuple[dict, list[dict]]:
    tables = dict(tables)
    audit_rows = tables.pop("audit_log")["rows"]
    return tables, audit_rows


# -- the round trip --------------------------------------------------------------------


def test_round_trip_keeps_metadata_data_and_audit_exactly(instance, app, tmp_path):
    build_source(instance)
    before = snapshot(instance, "src")
    defined_types = {row["document"]["type"] for row in before["meta_definitions"]["rows"] if row["kind"] == "field"}
    assert defined_types >= EVERY_TYPE

    path = tmp_path / "src.zip"
    manifest = transfer.export_tenant(instance, "src", path)
    assert manifest["objects"] == {"account": 3, "legacy": 1, "vehicle": 3}
    with zipfile.ZipFile(path) as archive:
        members = set(archive.namelist())
        on_disk = json.loads(archive.read("manifest.json"))
    assert {"manifest.json", "definitions.json", "revisions.jsonl", "counters.json", "audit.jsonl"} <= members
    assert {
        "data/o_account.jsonl",
        "data/o_vehicle.jsonl",
        "data/o_legacy.jsonl",
        "data/m_vehicle_drivers.jsonl",
    } <= members
    assert on_disk["format"] == "metacrm-tenant" and on_disk["format_version"] == 1 and on_disk["slug"] == "src"
    assert "mileage" in on_disk["tables"]["o_vehicle"]["columns"]  # a field in the recycle bin keeps its column

    binding = transfer.import_tenant(instance, path, "copy")
    assert binding.slug == "copy" and binding.name == "Source Ltd 源"
    after = snapshot(instance, "copy")

    tables_before, audit_before = _split_audit(before)
    tables_after, audit_after = _split_audit(after)
    assert tables_after.keys() == tables_before.keys()
    for name, table in tables_before.items():
        assert tables_after[name]["columns"] == table["columns"], name
        assert tables_after[name]["rows"] == table["rows"], name
    assert audit_after[: len(audit_before)] == audit_before  # ids and all
    assert [row["action"] for row in audit_after[len(audit_before) :]] == ["tenant.imported"]
    assert audit_after[-1]["id"] == audit_before[-1]["id"] + 1

    # The copy goes on exactly as the source would: the same next id (PostgreSQL
    # does not reuse the purged one) and the next auto-number, without a gap.
    copy = instance.db.bind("copy")
    in_copy = _store(instance, copy).create("account", {"name": "After import"})
    in_source = _store(instance, instance.db.bind("src")).create("account", {"name": "After import"})
    assert (in_copy["id"], in_copy["number"]) == (in_source["id"], in_source["number"])
    assert in_copy["number"] == "ACC-0005"

    # The recycle bin comes back, and the API serves the copy's compiled model.
    service = MetadataService(copy, field_types(instance), ACTOR)
    with service.change("restore") as tx:
        tx.restore_field("vehicle", "mileage")
        tx.restore_object("legacy")
    store = _store(instance, copy)
    assert sorted(v["mileage"] for v in store.query("vehicle").data) == [5, 1200]
    assert [r["code"] for r in store.query("legacy").data] == ["X"]

    identities.create_user(
        instance, tenant="copy", email="admin@copy.test", password=PASSWORD, is_admin=True, role="admin"
    )
    user = {row["email"]: row for row in identities.list_users(instance, "copy")}["admin@copy.test"]
    token = identities.create_token(instance, identities.identity_for(instance, user["id"], "copy"))[1]
    client = app.test_client()
    response = client.get("/api/v1/data/vehicle?sort=name", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.json
    assert [v["name"] for v in response.json["data"]] == ["Van 1", "Van 2"]  # the deleted one stays deleted
    van = response.json["data"][0]
    assert van["account"]["name"] == "子公司 车辆"
    assert [d["name"] for d in van["drivers"]] == ["子公司 车辆", "Holding"]
    response = client.get(f"/api/v1/data/account/{van['account']['id']}", headers={"Authorization": f"Bearer {token}"})
    account = response.json
    assert account["labels"] == ["vip", "车辆"] and account["regions"] == ["north", "south"]
    assert account["rating"] == 1234.5678 and account["revenue"] == 9876543.21 and account["founded"] == "2001-02-03"
    assert datetime.fromisoformat(account["last_contact"]) == datetime(2024, 3, 1, 0, 30, 15, 123456, tzinfo=UTC)
    assert account["parent"]["name"] == "Holding"


def test_the_source_tenant_records_the_export_after_its_snapshot(instance, tmp_path):
    build_source(instance)
    transfer.export_tenant(instance, "src", tmp_path / "src.zip", actor=ACTOR)
    with instance.db.bind("src").connect() as conn:
        entries = audit.entries(conn, limit=1)
    assert entries[0]["action"] == "tenant.exported" and entries[0]["actor_email"] == ACTOR.email
    with zipfile.ZipFile(tmp_path / "src.zip") as archive:
        assert b"tenant.exported" not in archive.read("audit.jsonl")


def test_values_are_tagged_so_they_round_trip_exactly():
    values = [
        None,
        True,
        0,
        2**62,
        "车辆",
        Decimal("12.30"),
        Decimal("-0.0001"),
        datetime(2024, 3, 1, 0, 30, 15, 123456, tzinfo=UTC),
        datetime(2024, 3, 1).date(),
        b"\x00\xff",
    ]
    for value in values:
        encoded = json.loads(json.dumps(transfer.encode_value(value)))
        decoded = transfer.decode_value(encoded)
        assert decoded == value and type(decoded) is type(value)
        if isinstance(value, Decimal):
            assert str(decoded) == str(value)
    naive = datetime(2024, 3, 1, 12, 0)  # how SQLite returns timezone-aware columns
    assert transfer.decode_value(transfer.encode_value(naive)) == as_utc(naive)
    document = {"$decimal": "not a tag here", "list": [1, 2]}
    assert transfer.decode_value(transfer.encode_value(document, json_column=True)) == document
    with pytest.raises(ValueError):
        transfer.decode_value({"$what": "x"})


@pytest.mark.skipif(not PG_URL, reason="needs METACRM_TEST_DATABASE_URL")
def test_a_sqlite_tenant_moves_to_postgresql(tmp_path):
    lite = build_instance(make_config(tmp_path / "lite", "sqlite"), load_entry_points=False)
    pg = build_instance(make_config(tmp_path / "pg", "postgresql"), load_entry_points=False)
    try:
        for instance in (lite, pg):
            instance.upgrade_platform()
        build_source(lite)
        transfer.export_tenant(lite, "src", tmp_path / "src.zip")
        transfer.import_tenant(pg, tmp_path / "src.zip")

        def normal(tables):
            return {
                name: [{k: as_utc(v) if isinstance(v, datetime) else v for k, v in row.items()} for row in t["rows"]]
                for name, t in tables.items()
            }

        before, after = normal(snapshot(lite, "src")), normal(snapshot(pg, "src"))
        assert after.pop("audit_log")[:-1] == before.pop("audit_log")[:-1]  # the last: exported / imported
        assert after == before
        new = _store(pg, pg.db.bind("src")).create("account", {"name": "on PostgreSQL now"})
        assert new["number"] == "ACC-0005"
    finally:
        drop_namespaces(pg)
        pg.dispose()
        lite.dispose()


# -- refusals ----------------------------------------------------------------------------


def test_importing_onto_an_existing_slug_is_refused_and_changes_nothing(instance, tmp_path):
    build_source(instance)
    transfer.export_tenant(instance, "src", tmp_path / "src.zip")
    tenants = tenancy.list_tenants(instance)
    before = snapshot(instance, "src")
    with pytest.raises(Conflict, match="already exists"):
        transfer.import_tenant(instance, tmp_path / "src.zip")
    assert tenancy.list_tenants(instance) == tenants
    assert snapshot(instance, "src") == before


def _rewrite(path, out, change) -> None:
    """Copy the export ``path`` to ``out``, passing each member through ``change(name, data)``."""
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for name in source.namelist():
            data = change(name, source.read(name))
            if data is not None:
                target.writestr(name, data)


def _truncate_vehicles(name, data):
    return data[: len(data) // 2] if name == "data/o_vehicle.jsonl" else data


def _duplicate_a_driver_link(name, data):
    """Same row count, but one key twice: the database refuses it."""
    if name != "data/m_vehicle_drivers.jsonl":
        return data
    lines = data.splitlines(keepends=True)
    return b"".join([*lines[:-1], lines[0]])


def _ghost_column(name, data):
    """A physical column no definition covers."""
    if name == "manifest.json":
        manifest = json.loads(data)
        manifest["tables"]["o_account"]["columns"].append("ghost")
        return json.dumps(manifest).encode()
    if name == "data/o_account.jsonl":
        rows = [json.loads(line) for line in data.splitlines()]
        return "".join(json.dumps({**row, "ghost": "boo"}) + "\n" for row in rows).encode()
    return data


def _bad_decimal(name, data):
    return data.replace(b'{"$decimal":"1234.5678"}', b'{"$decimal":"12,34"}') if name.startswith("data/") else data


def _unknown_field_type(name, data):
    return data.replace(b'"type":"percent"', b'"type":"hologram"') if name == "definitions.json" else data


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_truncate_vehicles, "o_vehicle.jsonl"),
        (_duplicate_a_driver_link, "nothing was created"),
        (_ghost_column, "not covered by a definition: ['ghost']"),
        (_bad_decimal, "o_account.jsonl, row 1"),
        (_unknown_field_type, "'hologram', which no plugin installed here provides"),
        (lambda name, data: None if name == "counters.json" else data, "counters.json is missing"),
    ],
)
def test_a_damaged_export_is_refused_and_leaves_no_tenant_behind(instance, tmp_path, change, message):
    build_source(instance)
    transfer.export_tenant(instance, "src", tmp_path / "src.zip")
    _rewrite(tmp_path / "src.zip", tmp_path / "bad.zip", change)
    with pytest.raises(BadRequest) as raised:
        transfer.import_tenant(instance, tmp_path / "bad.zip", "copy")
    assert message in raised.value.message
    _assert_no_tenant(instance, "copy")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"PK\x03\x04 certainly not a zip", "not a readable zip file"),
        (None, "no manifest.json"),
        ({"format": "something-else"}, '"format": "metacrm-tenant"'),
        ({"format": "metacrm-tenant", "format_version": 99}, "newer metacrm"),
    ],
)
def test_a_foreign_file_is_refused_with_a_clear_error(instance, tmp_path, content, message):
    path = tmp_path / "foreign.zip"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("hello.txt", "hi")
            if content is not None:
                archive.writestr("manifest.json", json.dumps(content))
    with pytest.raises(BadRequest, match="metacrm") as raised:
        transfer.import_tenant(instance, path, "copy")
    assert message in raised.value.message
    _assert_no_tenant(instance, "copy")


def _assert_no_tenant(instance, slug: str) -> None:
    assert not tenancy.tenant_exists(instance, slug)
    if instance.db.dialect == "postgresql":
        with instance.db.engine.connect() as conn:
            found = conn.execute(
                sa.text("SELECT 1 FROM pg_namespace WHERE nspname = :n"), {"n": instance.db.tenant_schema(slug)}
            ).first()
        assert found is None
    else:
        assert not instance.db.tenant_file(slug).exists()


# -- tables of other plugins -------------------------------------------------------------

NOTES_MIGRATION = '''"""A plugin's table in every tenant namespace.

Revision ID: n0001
"""

import sqlalchemy as sa
from alembic import op

from metacrm.platform.migrations import target_schema

revision = "n0001"
down_revision = None
branch_labels = ("transfer_test_notes",)
depends_on = None


def upgrade() -> None:
    schema = target_schema()
    op.create_table(
        "plugin_notes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("body", sa.Text, nullable=False),
        schema=schema,
    )
    notes = sa.table("plugin_notes", sa.column("id"), sa.column("body"), schema=schema)
    op.bulk_insert(notes, [{"id": 1, "body": "seeded by the migration"}])
'''


class _NotesPlugin:
    def __init__(self, folder):
        self.folder = folder

    @hookimpl
    def tenant_migration_locations(self):
        return [self.folder]


def test_a_plugins_own_tables_travel_too(instance, tmp_path):
    folder = tmp_path / "notes_migrations"
    folder.mkdir()
    (folder / "n0001_notes.py").write_text(NOTES_MIGRATION)
    instance.pm.register(_NotesPlugin(folder))
    notes = sa.Table(
        "plugin_notes", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True), sa.Column("body", sa.Text)
    )
    source = tenancy.create_tenant(instance, "src")
    with source.begin() as conn:
        conn.execute(notes.update().values(body="seed, edited"))
        conn.execute(notes.insert(), [{"id": 10, "body": "mine"}, {"id": 11, "body": "gone"}])
        conn.execute(notes.delete().where(notes.c.id == 11))

    transfer.export_tenant(instance, "src", tmp_path / "src.zip")
    with zipfile.ZipFile(tmp_path / "src.zip") as archive:
        assert "tables/plugin_notes.jsonl" in archive.namelist()
    copy = transfer.import_tenant(instance, tmp_path / "src.zip", "copy")
    with copy.begin() as conn:  # the export's rows replace the migration's seed
        assert conn.execute(sa.select(notes).order_by(notes.c.id)).all() == [(1, "seed, edited"), (10, "mine")]
        assert conn.execute(notes.insert().values(body="next")).inserted_primary_key[0] == 11


# -- the command line --------------------------------------------------------------------


@pytest.fixture
def cli(tmp_path, backend, monkeypatch):
    """Run CLI verbs against a fresh instance named by environment variables (as in tests/test_cli.py)."""
    config = make_config(tmp_path, backend)
    for key in ("DATA_DIR", "DATABASE_URL", "PLATFORM_SCHEMA", "TENANT_SCHEMA_PREFIX", "SECRET_KEY"):
        if key in config:
            monkeypatch.setenv(f"METACRM_{key}", str(config[key]))
    runner = CliRunner()

    def run(*args, ok=True):
        result = runner.invoke(main, [str(arg) for arg in args], catch_exceptions=False)
        if ok:
            assert result.exit_code == 0, result.output
        return result

    yield run
    drop_namespaces(build_instance(config, load_entry_points=False))


def test_cli_exports_and_imports_a_tenant(cli, tmp_path):
    cli("tenant", "create", "acme")
    instance = build_instance(load_entry_points=False)  # the same instance, from the environment
    try:
        service = MetadataService(instance.db.bind("acme"), field_types(instance), ACTOR)
        with service.change("cars") as tx:
            tx.create_object({"api_name": "car", "label": "车辆"})
        _store(instance, instance.db.bind("acme")).create("car", {"name": "红旗"})

        path = tmp_path / "acme.zip"
        output = cli("tenant", "export", "acme", path).output
        assert "exported tenant acme" in output and "1 record(s)" in output
        assert "imported tenant acme2" in cli("tenant", "import", path, "--slug", "acme2").output
        assert "acme2" in cli("tenant", "list").output
        before, after = snapshot(instance, "acme"), snapshot(instance, "acme2")
        assert after["o_car"] == before["o_car"]
        # The source's last entry is its export; the copy's is its import.
        assert after["audit_log"]["rows"][:-1] == before["audit_log"]["rows"][:-1]
        assert before["audit_log"]["rows"][-1]["action"] == "tenant.exported"
        imported = after["audit_log"]["rows"][-1]
        assert imported["action"] == "tenant.imported" and imported["actor_email"] == "cli"

        result = cli("tenant", "import", path, ok=False)
        assert result.exit_code == 1 and "already exists" in result.output
        (tmp_path / "junk.zip").write_bytes(b"junk")
        result = cli("tenant", "import", tmp_path / "junk.zip", "--slug", "junk", ok=False)
        assert result.exit_code == 1 and "not a metacrm tenant export" in result.output
        assert "junk" not in cli("tenant", "list").output
    finally:
        instance.dispose()


def test_counters_travel_with_their_position(instance, tmp_path):
    build_source(instance)
    transfer.export_tenant(instance, "src", tmp_path / "src.zip")
    transfer.import_tenant(instance, tmp_path / "src.zip", "copy")
    for slug in ("src", "copy"):
        with instance.db.bind(slug).connect() as conn:
            counters = conn.execute(sa.select(autonumber_counters)).mappings().all()
        assert [dict(c) for c in counters] == [{"object": "account", "field": "number", "next_value": 5}]


def test_an_export_is_written_whole_or_not_at_all(instance, tmp_path, monkeypatch):
    build_source(instance)
    path = tmp_path / "src.zip"
    path.write_bytes(b"the previous export")

    def explode(*_args, **_kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(transfer, "encode_value", explode)
    with pytest.raises(RuntimeError):
        transfer.export_tenant(instance, "src", path)
    assert path.read_bytes() == b"the previous export"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")] == []
