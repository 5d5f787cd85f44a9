"""Plugin-local tests of the Standard CRM: the metadata package and the demo-data generator.

Run from the repository root: ``.venv/bin/pytest plugins/crm_core/tests -q``.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import yaml
from metacrm.plugins import PLATFORM_RESERVED, reserved_reason

from metacrm_crm_core import demo_data
from metacrm_crm_core.plugin import PACKAGE_DIR, metadata_packages

OBJECTS = [
    "account",
    "activity",
    "article",
    "campaign",
    "campaign_member",
    "case",
    "contact",
    "lead",
    "opportunity",
    "product",
    "quota",
]
# Lead to cash (issue 13 item 2; plugins/crm_core/tests/test_lead_to_cash.py).
LEAD_TO_CASH = {  # object → its optional rule files
    "price_book": 0,
    "price_book_entry": 1,
    "opportunity_line_item": 2,
    "quote": 4,
    "quote_line": 1,
    "sales_order": 0,
    "order_line": 1,
    "contract": 2,
    "payment_plan": 1,
    "payment": 2,
    "invoice": 1,
}
OBJECTS = sorted(OBJECTS + list(LEAD_TO_CASH))
OBJECT_FILES = ["object.yaml", "fields.yaml", "layouts.yaml", "list_views.yaml"]
RULE_FILES = {
    "automations.yaml",
    "validation_rules.yaml",
    "duplicate_rules.yaml",
    "segments.yaml",
    "conversions.yaml",
    "document_templates.yaml",
    "approval_processes.yaml",
}  # optional
NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
VALUE = re.compile(r"^[a-z0-9_]+$")
COLOR = re.compile(r"^#[0-9a-f]{6}$")
SORT = re.compile(r"^-?[a-z][a-z0-9_]{0,62}(,-?[a-z][a-z0-9_]{0,62})*$")
FIELD_TYPES = {
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
    "roll_up",
    "formula",
}
TEXT_LIKE = {"text", "long_text", "email", "phone", "url", "auto_number"}
RELATION_TYPES = {"lookup", "master_detail", "many_to_many"}
FIELD_KEYS = {
    "api_name",
    "label",
    "type",
    "required",
    "unique",
    "indexed",
    "default",
    "help",
    "translations",
    "options",
}
SYSTEM_FIELDS = {
    "id",
    "owner_id",
    "owner",
    "created_at",
    "created_by",
    "updated_at",
    "updated_by",
    "version",
    "deleted_at",
}
# A floor that holds even without the platform's own list (checked too, below, when importable).
RESERVED = SYSTEM_FIELDS | {
    "case",
    "order",
    "group",
    "user",
    "select",
    "from",
    "where",
    "to",
    "end",
    "type",
    "table",
    "key",
    "default",
    "check",
    "index",
    "limit",
    "offset",
    "desc",
    "asc",
    "all",
    "and",
    "or",
    "not",
    "null",
    "true",
    "false",
    "when",
    "then",
    "else",
    "primary",
    "references",
    "unique",
}
SCHEMA_DIR = Path(__file__).resolve().parents[3] / "metacrm" / "metadata" / "schemas"
TODAY = dt.date(2025, 6, 15)


def load(path: Path) -> Any:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


@pytest.fixture(scope="module")
def package() -> dict[str, dict[str, Any]]:
    """``{object: {"object": doc, "fields": {api_name: doc}, "layouts": [...], "list_views": [...]}}``."""
    result = {}
    for directory in sorted((PACKAGE_DIR / "objects").iterdir()):
        fields = load(directory / "fields.yaml")
        result[directory.name] = {
            "object": load(directory / "object.yaml"),
            "field_list": fields,
            "fields": {f["api_name"]: f for f in fields},
            "layouts": load(directory / "layouts.yaml"),
            "list_views": load(directory / "list_views.yaml"),
        }
    return result


def zh(translations: dict) -> Any:
    assert set(translations) == {"zh_CN"}, translations
    return translations["zh_CN"]


def zh_text(translations: dict) -> None:
    text = zh(translations)
    assert isinstance(text, str) and text.strip()


def zh_labels(translations: dict, *keys: str) -> None:
    texts = zh(translations)
    for key in keys:
        assert isinstance(texts.get(key), str) and texts[key].strip(), (key, texts)


# -- the package ------------------------------------------------------------------------------


def test_every_yaml_file_parses():
    files = sorted(PACKAGE_DIR.rglob("*.yaml"))
    rules = {
        "lead": 5,
        "opportunity": 2,
        "case": 1,
        "account": 2,
        "activity": 1,
        "contact": 2,
        "article": 1,
        **LEAD_TO_CASH,
    }  # automations.yaml, validation_rules.yaml, duplicate_rules.yaml, segments.yaml, conversions.yaml,
    # document_templates.yaml
    # package.yaml, access/pools.yaml, apps.yaml, 4 per object, and the rule files;
    # other top-level files are tenant-wide collections (reports.yaml…)
    collections = [f for f in PACKAGE_DIR.glob("*.yaml") if f.name not in ("package.yaml", "apps.yaml")]
    assert len(files) == 3 + len(collections) + 4 * len(OBJECTS) + sum(rules.values())
    for path in files:
        assert load(path) is not None, path


def test_apps_group_the_objects_for_the_sales_service_and_marketing_teams():
    apps = {app["api_name"]: app for app in load(PACKAGE_DIR / "apps.yaml")}
    assert list(apps) == ["sales", "service", "marketing"]
    for app in apps.values():
        assert set(app["objects"]) <= set(OBJECTS)
        zh_labels(app["translations"], "label")
    assert "opportunity" in apps["sales"]["objects"] and "case" in apps["service"]["objects"]


def test_package_document():
    doc = load(PACKAGE_DIR / "package.yaml")
    assert doc["name"] == "crm_core"
    assert doc["version"] == "1.0.0"
    assert doc["label"] == "Standard CRM"
    assert doc["description"].strip()
    assert doc["translations"] == {"zh_CN": {"label": "标准 CRM"}}


def test_objects_and_files(package):
    assert sorted(package) == OBJECTS
    for name in OBJECTS:
        files = {p.name for p in (PACKAGE_DIR / "objects" / name).iterdir()}
        assert files - RULE_FILES == set(OBJECT_FILES), name


def test_object_documents(package):
    for name, parts in package.items():
        obj, fields = parts["object"], parts["fields"]
        assert set(obj) <= {
            "api_name",
            "label",
            "plural_label",
            "description",
            "name_field",
            "search_fields",
            "nav_order",
            "nav_hidden",  # child records (a quote's lines) are reached from their parent
            "translations",
        }
        assert obj["api_name"] == name and NAME.match(name) and name not in {"user", "order", "group"}
        assert obj["label"] and obj["plural_label"] and obj["description"]
        zh_labels(obj["translations"], "label", "plural_label")
        assert fields[obj["name_field"]]["type"] in ("text", "auto_number")
        assert obj["search_fields"] and len(set(obj["search_fields"])) == len(obj["search_fields"])
        for field in obj["search_fields"]:
            assert fields[field]["type"] in TEXT_LIKE, (name, field)


def test_every_object_has_its_own_place_in_the_navigation(package):
    orders = [parts["object"]["nav_order"] for parts in package.values()]
    assert len(set(orders)) == len(orders) == len(package)
    first = sorted(package, key=lambda name: package[name]["object"]["nav_order"])[:4]
    assert first == ["account", "contact", "lead", "opportunity"]


def test_field_documents(package):
    for name, parts in package.items():
        names = [f["api_name"] for f in parts["field_list"]]
        assert len(names) == len(set(names)), name
        for field in parts["field_list"]:
            where = f"{name}.{field['api_name']}"
            # A field has a fixed value or an expression as its default; sensitive ones are encrypted.
            assert set(field) - {"default_expression", "encrypted", "audit_reads"} | {"default"} == FIELD_KEYS, where
            assert not ("default" in field and "default_expression" in field), where
            assert NAME.match(field["api_name"]) and field["api_name"] not in RESERVED, where
            assert field["type"] in FIELD_TYPES, where
            assert isinstance(field["label"], str) and 0 < len(field["label"]) <= 120, where
            assert isinstance(field["help"], str) and field["help"].strip(), where
            for flag in ("required", "unique", "indexed"):
                assert isinstance(field[flag], bool), where
            zh_labels(field["translations"], "label", "help")
            assert isinstance(field["options"], dict), where
            check_options(package, name, field)


def check_options(package, name: str, field: dict) -> None:
    where, kind, options = f"{name}.{field['api_name']}", field["type"], field["options"]
    expected_keys = {
        "text": {"max_length"},
        "decimal": {"precision", "scale"},
        "currency": {"currency", "scale"},
        "picklist": {"values"},
        "multi_picklist": {"values"},
        "lookup": {"target", "on_delete"},
        "master_detail": {"target"},
        "many_to_many": {"target"},
        "auto_number": {"format"},
        "roll_up": {"object", "relation", "function", "field", "filter"},
        "formula": {"expression", "return_type", "scale"},
    }.get(kind, set())
    # Options a field of the type may leave out (a count has no field; bounds are optional).
    optional = {
        "roll_up": {"field", "filter"},
        "percent": {"min", "max"},
        "integer": {"min", "max"},
        "formula": {"scale"},
    }.get(kind, set())
    assert set(options) - optional == expected_keys - optional, where
    if kind == "roll_up":  # a summary of a child's lookup to this object (the platform checks the rest)
        child = {f["api_name"]: f for f in package[options["object"]]["field_list"]}
        assert child[options["relation"]]["options"]["target"] == name, where
        assert options["function"] in ("count", "sum", "min", "max"), where
        assert options["function"] == "count" or options["field"] in child, where
    if kind == "text":
        assert isinstance(options["max_length"], int) and 0 < options["max_length"] <= 10_000, where
    if kind == "currency":
        assert options["currency"] in ("CNY", "USD") and options["scale"] == 2, where
    if kind in RELATION_TYPES:
        assert options["target"] in package, where
    if kind == "lookup":
        assert options["on_delete"] in ("restrict", "set_null", "cascade"), where
    if kind == "auto_number":
        assert re.fullmatch(r"[A-Z-]*\{0+\}", options["format"]), where
        assert not field["required"] and field["unique"], where
    if kind in ("picklist", "multi_picklist"):
        values = [v["value"] for v in options["values"]]
        assert values and len(values) == len(set(values)), where
        for value in options["values"]:
            assert set(value) <= {"value", "label", "color", "active", "translations"}, where
            assert VALUE.match(value["value"]) and value["label"].strip(), where
            assert COLOR.match(value["color"]), where
            zh_text(value["translations"])
        if field["default"] is not None:
            assert field["default"] in values, where
    elif kind == "boolean":
        assert isinstance(field["default"], bool), where
    elif kind in ("integer", "decimal"):  # a quantity of 1, a term of 12 months
        assert field.get("default") is None or isinstance(field["default"], int), where
    else:
        assert field.get("default") is None, where
    if field["unique"]:
        assert kind not in ("many_to_many", "multi_picklist", "tags", "long_text"), where


def test_names_are_not_reserved_by_the_platform(package):
    for name, parts in package.items():
        # Object names become table names o_<name>, so an SQL keyword is harmless there ("case" is one);
        # only the platform's own words must be avoided.
        assert name not in PLATFORM_RESERVED, name
        for field in parts["field_list"]:
            assert reserved_reason(field["api_name"]) is None, (name, field["api_name"])


def test_layouts(package):
    for name, parts in package.items():
        fields = parts["fields"]
        layouts = parts["layouts"]
        assert [x["api_name"] for x in layouts][0] == "default"
        for layout in layouts:
            assert set(layout) <= {"api_name", "label", "translations", "sections", "related_lists"}
            assert NAME.match(layout["api_name"]) and layout["label"]
            zh_labels(layout["translations"], "label")
            placed = []
            for section in layout["sections"]:
                assert set(section) <= {"label", "translations", "columns", "collapsed", "fields"}
                assert section["label"] and section["columns"] in (1, 2, 3) and section["fields"]
                zh_text(section["translations"])
                for field in section["fields"]:
                    assert field in fields, (name, layout["api_name"], field)
                placed += section["fields"]
            assert len(placed) == len(set(placed)), (name, "a field is placed twice")
            if layout["api_name"] == "default":
                assert set(placed) == set(fields), (name, "fields missing from the layout", set(fields) - set(placed))
            for related in layout.get("related_lists") or []:
                assert set(related) == {"object", "field", "label", "translations", "columns"}
                child = package[related["object"]]["fields"]
                link = child[related["field"]]
                assert link["type"] in RELATION_TYPES and link["options"]["target"] == name, related
                zh_text(related["translations"])
                assert related["columns"] and all(c in child for c in related["columns"]), related


def test_list_views(package):
    for name, parts in package.items():
        fields = parts["fields"]
        views = parts["list_views"]
        assert views[0]["api_name"] == "all"
        assert len({v["api_name"] for v in views}) == len(views)
        for view in views:
            where = f"{name}.{view['api_name']}"
            assert set(view) - {"filters", "home"} == {
                "api_name",
                "label",
                "translations",
                "columns",
                "sort",
                "filter",
            }, where
            assert view["filter"] is None or "home" in view, where  # the start page's views filter by date
            home = view.get("home") or {}
            if "group_by" in home:
                assert fields[home["group_by"]]["type"] == "picklist", where
                assert fields[home["sum"]]["type"] in ("currency", "decimal", "integer"), where
            zh_labels(view["translations"], "label")
            assert view["columns"] and all(c in fields for c in view["columns"]), where
            assert SORT.match(view["sort"]), where
            assert all(s.lstrip("-") in fields for s in view["sort"].split(",")), where
            for field, wanted in (view.get("filters") or {}).items():
                definition = fields[field]
                for value in wanted if isinstance(wanted, list) else [wanted]:
                    if definition["type"] == "picklist":
                        assert value in [v["value"] for v in definition["options"]["values"]], (where, value)
                    elif definition["type"] == "boolean":
                        assert isinstance(value, bool), where
                    else:
                        pytest.fail(f"{where}: unexpected filter on a {definition['type']} field")


def test_documents_match_the_platform_schemas(package):
    jsonschema = pytest.importorskip("jsonschema")
    if not SCHEMA_DIR.is_dir():
        pytest.skip("no platform schemas next to this checkout")
    schemas = {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in SCHEMA_DIR.glob("*.json")}
    kinds = {
        "object": lambda p: [p["object"]],
        "field": lambda p: p["field_list"],
        "layout": lambda p: p["layouts"],
        "list_view": lambda p: p["list_views"],
    }
    for kind, documents in kinds.items():
        if kind not in schemas:
            continue
        validator = jsonschema.Draft202012Validator(schemas[kind])
        for parts in package.values():
            for document in documents(parts):
                errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]
                assert not errors, (kind, document.get("api_name"), errors)


def test_expected_fields_are_there(package):
    expected = {
        "account": {
            "name",
            "industry",
            "annual_revenue",
            "employees",
            "phone",
            "website",
            "tier",
            "billing_street",
            "billing_city",
            "billing_state",
            "billing_postal_code",
            "billing_country",
            "description",
            "rating",
            "parent_account",
            "last_activity_at",
            "source",
        },
        "contact": {
            "first_name",
            "last_name",
            "full_name",
            "email",
            "phone",
            "mobile",
            "title",
            "department",
            "account",
            "mailing_city",
            "mailing_country",
            "birthdate",
            "do_not_call",
            "lead_source",
        },
        "lead": {
            "full_name",
            "company",
            "title",
            "email",
            "phone",
            "status",
            "source",
            "industry",
            "employees",
            "annual_revenue",
            "rating",
            "score",
            "city",
            "country",
            "description",
            "converted_account",
            "converted_contact",
            "converted_opportunity",
            "last_activity_at",
        },
        "opportunity": {
            "name",
            "account",
            "contact",
            "stage",
            "amount",
            "probability",
            "close_date",
            "lead_source",
            "next_step",
            "description",
            "forecast_category",
            "products",
            "campaign",
        },
        "case": {
            "case_number",
            "subject",
            "status",
            "priority",
            "origin",
            "account",
            "contact",
            "description",
            "resolution",
            "due_at",
            "closed_at",
            "escalated",
        },
        "activity": {
            "subject",
            "activity_type",
            "status",
            "priority",
            "due_date",
            "start_at",
            "end_at",
            "description",
            "account",
            "contact",
            "lead",
            "opportunity",
            "related_case",
            "related_object",
            "related_record_id",
            "completed_at",
        },
        "campaign": {
            "name",
            "status",
            "campaign_type",
            "start_date",
            "end_date",
            "budget",
            "actual_cost",
            "expected_revenue",
            "expected_response",
            "description",
            "parent_campaign",
        },
        "product": {"name", "product_code", "family", "list_price", "is_active", "description", "unit"},
    }
    for name, wanted in expected.items():
        assert wanted <= set(package[name]["fields"]), (name, wanted - set(package[name]["fields"]))
    assert package["case"]["fields"]["case_number"]["options"]["format"] == "CASE-{00000}"
    assert package["product"]["fields"]["product_code"]["unique"] is True
    assert package["product"]["fields"]["is_active"]["default"] is True
    assert package["opportunity"]["fields"]["products"]["options"] == {"target": "product"}


def test_plugin_hook_returns_the_package():
    assert metadata_packages() == [PACKAGE_DIR]
    assert (PACKAGE_DIR / "package.yaml").is_file()


def test_entry_point_is_registered():
    try:
        importlib.metadata.distribution("metacrm-crm-core")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("the plugin is not installed (pip install -e plugins/crm_core)")
    points = importlib.metadata.entry_points(group="metacrm.plugins")
    assert {ep.name: ep.value for ep in points}.get("crm_core") == "metacrm_crm_core.plugin"
    from metacrm.plugins import create_plugin_manager

    pm = create_plugin_manager()
    assert [PACKAGE_DIR] in pm.hook.metadata_packages()


# -- the demo-data generator ------------------------------------------------------------------


class FakeStore:
    """A ``create`` callable that checks every row against the package and hands out ids."""

    def __init__(self, package: dict, owner_ids: list[int]):
        self.package = package
        self.owner_ids = owner_ids
        self.rows: dict[str, list[dict]] = defaultdict(list)
        self.calls: list[tuple[str, int]] = []

    def ids(self, obj: str) -> range:
        return range(1, len(self.rows[obj]) + 1)

    def __call__(self, obj: str, rows: list[dict]) -> list[int]:
        assert 0 < len(rows) <= 1000
        self.calls.append((obj, len(rows)))
        fields = self.package[obj]["fields"]
        new_ids = []
        for row in rows:
            for key in row:
                assert key in fields or key == "owner_id", (obj, key)
            if self.owner_ids:
                assert row["owner_id"] in self.owner_ids
            else:
                assert "owner_id" not in row
            for name, field in fields.items():
                value = row.get(name)
                if field["type"] == "auto_number":
                    assert name not in row, (obj, name)
                if field["required"] and field["type"] != "auto_number":
                    assert value not in (None, "", []), (obj, name, row)
                if value is not None:
                    self.check_value(obj, field, value)
            self.rows[obj].append(row)
            new_ids.append(len(self.rows[obj]))
        return new_ids

    def check_value(self, obj: str, field: dict, value: Any) -> None:
        where, kind, options = f"{obj}.{field['api_name']}={value!r}", field["type"], field["options"]
        if kind in ("text", "long_text", "rich_text"):
            assert isinstance(value, str) and value.strip(), where
            assert len(value) <= options.get("max_length", 100_000), where
        elif kind == "email":
            assert re.fullmatch(r"[a-z0-9._]+@[a-z0-9.-]+\.[a-z]{2,}", value), where
        elif kind == "phone":
            assert re.fullmatch(r"\+\d{1,3}( \d{2,4})?[ -]\d{3,4}[ -]\d{4}", value), where
        elif kind == "url":
            assert re.fullmatch(r"https://www\.[a-z0-9.-]+\.[a-z]{2,}", value), where
        elif kind == "integer":
            assert isinstance(value, int) and not isinstance(value, bool) and value >= 0, where
        elif kind in ("currency", "decimal"):
            assert isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0, where
            assert round(value, options.get("scale", 2)) == value, where
        elif kind == "percent":
            assert isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 100, where
        elif kind == "boolean":
            assert isinstance(value, bool), where
        elif kind == "date":
            assert dt.date.fromisoformat(value).isoformat() == value, where
        elif kind == "datetime":
            parsed = dt.datetime.fromisoformat(value)
            assert parsed.utcoffset() == dt.timedelta(0), where
        elif kind == "picklist":
            assert value in [v["value"] for v in options["values"]], where
        elif kind == "multi_picklist":
            assert isinstance(value, list) and len(value) == len(set(value)), where
            assert set(value) <= {v["value"] for v in options["values"]}, where
        elif kind == "tags":
            assert isinstance(value, list) and all(isinstance(t, str) and t for t in value), where
        elif kind in ("lookup", "master_detail"):
            assert isinstance(value, int) and value in self.ids(options["target"]), where
        elif kind == "many_to_many":
            assert isinstance(value, list) and value and len(value) == len(set(value)), where
            assert all(isinstance(v, int) and v in self.ids(options["target"]) for v in value), where
        else:
            pytest.fail(f"unexpected {kind} value {where}")

    def get(self, obj: str, record_id: int) -> dict:
        return self.rows[obj][record_id - 1]


@pytest.fixture(scope="module")
def full_run(package):
    store = FakeStore(package, [7, 8, 9])
    reports: list[tuple[str, int, int]] = []
    counts = demo_data.generate(store, owner_ids=[7, 8, 9], progress=lambda *a: reports.append(a), today=TODAY)
    return store, counts, reports


def test_generator_counts_and_chunks(full_run):
    store, counts, reports = full_run
    assert counts == demo_data.BASE_COUNTS
    assert {obj: len(rows) for obj, rows in store.rows.items()} == counts
    assert max(n for _, n in store.calls) == 1000
    assert [n for obj, n in store.calls if obj == "activity"] == [1000, 200]
    # progress: grows per object and ends at the total
    last: dict[str, int] = {}
    for obj, done, total in reports:
        assert total == counts[obj] and done > last.get(obj, 0)
        last[obj] = done
    assert last == counts


def test_generator_rows_are_consistent(full_run):
    store, _, _ = full_run
    rows = store.rows
    # about half Chinese, half English
    cjk = sum(bool(re.search(r"[\u4e00-\u9fff]", a["name"])) for a in rows["account"])
    assert 0.35 < cjk / len(rows["account"]) < 0.65
    # opportunities: close dates within ±6 months; probability and stage agree; closed ones lie in the past
    for opp in rows["opportunity"]:
        close = dt.date.fromisoformat(opp["close_date"])
        assert abs((close - TODAY).days) <= 183
        assert opp["probability"] == demo_data.STAGE_PROBABILITY[opp["stage"]]
        if opp["stage"].startswith("closed_"):
            assert close <= TODAY and opp["next_step"] is None
        assert (opp["loss_reason"] is not None) == (opp["stage"] == "closed_lost")
        if opp["contact"]:
            assert store.get("contact", opp["contact"])["account"] == opp["account"]
    assert set(demo_data.STAGE_PROBABILITY) == {
        v["value"] for v in store.package["opportunity"]["fields"]["stage"]["options"]["values"]
    }
    # converted leads point at a consistent account, contact and opportunity
    converted = [lead for lead in rows["lead"] if lead["status"] == "converted"]
    assert converted
    for lead in converted:
        opp = store.get("opportunity", lead["converted_opportunity"])
        assert opp["account"] == lead["converted_account"] and opp["contact"] == lead["converted_contact"]
        assert store.get("contact", lead["converted_contact"])["full_name"] == lead["full_name"]
    assert all(lead.get("converted_opportunity") is None for lead in rows["lead"] if lead["status"] != "converted")
    # cases: closed ones carry a close time, open ones don't; times are ordered
    for case in rows["case"]:
        assert (case["closed_at"] is not None) == (case["status"] == "closed")
        if case["closed_at"] and case["first_response_at"]:
            assert case["first_response_at"] <= case["closed_at"]
    # activities: the generic link agrees with the typed lookup
    lookup_of = {
        "account": "account",
        "contact": "contact",
        "lead": "lead",
        "opportunity": "opportunity",
        "case": "related_case",
    }
    for activity in rows["activity"]:
        assert activity[lookup_of[activity["related_object"]]] == activity["related_record_id"]
        assert (activity["completed_at"] is not None) == (activity["status"] == "completed")
        if activity["end_at"]:
            assert activity["start_at"] < activity["end_at"]
    # sub-accounts and child campaigns point at records created before them
    assert any(a["parent_account"] for a in rows["account"])
    assert any(c.get("parent_campaign") for c in rows["campaign"])
    # product codes are unique
    codes = [p["product_code"] for p in rows["product"]]
    assert len(codes) == len(set(codes))


def test_generator_is_deterministic_and_scales(package):
    def run(seed: int, owner_ids: list[int]) -> dict:
        store = FakeStore(package, owner_ids)
        counts = demo_data.generate(store, owner_ids=owner_ids, scale=0.1, seed=seed, today=TODAY)
        return {"counts": counts, "rows": dict(store.rows)}

    first, again, other = run(1, []), run(1, []), run(2, [])
    assert first == again
    assert first["rows"]["account"] != other["rows"]["account"]
    assert first["counts"] == {obj: max(1, round(n * 0.1)) for obj, n in demo_data.BASE_COUNTS.items()}
    tiny = FakeStore(package, [1])
    assert demo_data.generate(tiny, owner_ids=[1], scale=0.001, today=TODAY) == dict.fromkeys(demo_data.BASE_COUNTS, 1)


def test_generator_rejects_bad_input(package):
    with pytest.raises(ValueError):
        demo_data.generate(FakeStore(package, []), owner_ids=[], scale=0)
    with pytest.raises(RuntimeError):
        demo_data.generate(lambda obj, rows: [1], owner_ids=[], scale=0.1, today=TODAY)


def test_generator_values_come_from_the_package():
    fields = demo_data.load_fields()
    assert sorted(fields) == OBJECTS
    assert demo_data.picklist_values(fields["opportunity"], "stage")[0] == "prospecting"
    gen = demo_data._Generator(lambda obj, rows: list(range(len(rows))), [], 1.0, 0, None, TODAY)
    with pytest.raises(KeyError):
        gen.pick("lead", "status", {"no_such_value": 1})
    with pytest.raises(KeyError):
        gen.check("case", "priority", "no_such_value")
