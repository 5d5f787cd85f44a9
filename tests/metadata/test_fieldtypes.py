"""The built-in field types, their registry and type-change conversions.

Values go the whole way: marshmallow load → to_db → a row in an in-memory
SQLite table → from_db; filters run against real rows.
"""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

import marshmallow as ma
import pytest
import sqlalchemy as sa
from jsonschema import Draft202012Validator

from metacrm.metadata.fieldtypes import (
    BUILTIN_TYPES,
    FieldType,
    FieldTypeRegistry,
    FilterError,
    builtin_field_types,
    builtin_registry,
    can_convert,
    convert_value,
    registry_from_plugins,
)
from metacrm.platform.errors import ValidationFailed
from metacrm.platform.hooks import create_plugin_manager, hookimpl

REGISTRY = builtin_registry()
_TABLE_NUMBERS = itertools.count(1)

PICK_VALUES = [
    {"value": "open", "label": "Open", "color": "#0a0", "translations": {"zh_CN": "打开"}},
    {"value": "won", "label": "Won"},
    {"value": "lost", "label": "Lost", "active": False},
]


def bind(type_name: str, api_name: str = "f", **definition) -> FieldType:
    return REGISTRY.bind({"api_name": api_name, "type": type_name, **definition})


def load(field_type: FieldType, value):
    return field_type.marshmallow_field().deserialize(value)


def error_of(field_type: FieldType, value) -> str:
    with pytest.raises(ma.ValidationError) as info:
        load(field_type, value)
    return str(info.value.messages)


@pytest.fixture(scope="module")
def engine():
    return sa.create_engine("sqlite://")


def make_table(engine, field_type: FieldType, name: str) -> sa.Table:
    metadata = sa.MetaData()
    table = sa.Table(name, metadata, sa.Column("id", sa.Integer, primary_key=True), *field_type.columns())
    metadata.create_all(engine)
    return table


def matching_ids(engine, table, condition) -> list[int]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(table.c.id).where(condition).order_by(table.c.id)).scalars())


def insert_rows(engine, table, column: str, stored: list) -> None:
    with engine.begin() as conn:
        conn.execute(table.insert(), [{"id": i + 1, column: v} for i, v in enumerate(stored)])


# -- the set of types ---------------------------------------------------------------

WIDGETS = {
    "text", "textarea", "richtext", "email", "tel", "url", "number", "decimal", "currency", "percent",
    "checkbox", "date", "datetime", "select", "multiselect", "tags", "lookup", "lookup_multi", "readonly",
}  # fmt: skip


def test_builtin_names_and_class_attributes():
    assert REGISTRY.names() == [
        "text", "long_text", "rich_text", "email", "phone", "url", "integer", "decimal", "currency",
        "percent", "boolean", "date", "datetime", "picklist", "multi_picklist", "tags", "lookup",
        "master_detail", "many_to_many", "auto_number",
    ]  # fmt: skip
    for cls in BUILTIN_TYPES:
        assert cls.widget in WIDGETS, cls.name
        assert cls.label and len(cls.label) <= 30
    searchable = {cls.name for cls in BUILTIN_TYPES if cls.searchable}
    assert {"text", "long_text", "email", "phone", "url", "auto_number"} <= searchable
    assert not any(cls.searchable for cls in BUILTIN_TYPES if cls.name in ("integer", "date", "lookup"))


@pytest.mark.parametrize("cls", BUILTIN_TYPES, ids=lambda c: c.name)
def test_options_schema_is_self_contained_draft_2020_12(cls):
    schema = cls.options_schema
    Draft202012Validator.check_schema(schema)
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    assert "$ref" not in repr(schema)
    # Plugged into a field schema at properties.options, it still works.
    field_schema = {"type": "object", "properties": {"options": schema}}
    errors = list(Draft202012Validator(field_schema).iter_errors({"options": {"no_such_option": 1}}))
    assert errors and errors[0].absolute_path[0] == "options"


@pytest.mark.parametrize(
    ("type_name", "options", "valid"),
    [
        ("text", {"max_length": 80, "min_length": 2}, True),
        ("text", {"max_length": 20000}, False),
        ("decimal", {"precision": 10, "scale": 3, "min": 0}, True),
        ("decimal", {"precision": 39}, False),
        ("currency", {"currency": "CNY", "scale": 0}, True),
        ("currency", {"currency": "yuan"}, False),
        ("currency", {"precision": 10}, False),
        ("picklist", {"values": PICK_VALUES, "restricted": True}, True),
        ("picklist", {"values": []}, False),
        ("picklist", {"values": [{"value": "a;b"}]}, False),
        ("picklist", {"values": [{"value": "a", "color": "red"}]}, False),
        ("picklist", {"values": [{"value": "a", "translations": {"chinese": "x"}}]}, False),
        ("lookup", {"target": "account", "on_delete": "cascade", "relationship_name": "contacts"}, True),
        ("lookup", {"on_delete": "set_null"}, False),
        ("lookup", {"target": "account", "on_delete": "nothing"}, False),
        ("master_detail", {"target": "account", "on_delete": "cascade"}, True),
        ("master_detail", {"target": "account", "on_delete": "restrict"}, False),
        ("many_to_many", {"target": "Bad-Name"}, False),
        ("auto_number", {"format": "CASE-{0000}", "starting_number": 1000}, True),
        ("auto_number", {"format": "CASE-{0000}-{00}"}, False),
        ("auto_number", {"format": "CASE-0000"}, False),
        ("boolean", {}, True),
        ("tags", {"max": 3}, False),
    ],
)
def test_options_schemas_accept_and_refuse(type_name, options, valid):
    validator = Draft202012Validator(REGISTRY.get(type_name).options_schema)
    assert validator.is_valid(options) is valid


# -- round trips through SQLite ------------------------------------------------------

ROUND_TRIPS = [
    ("text", {}, "  Hello world ", "Hello world"),
    ("long_text", {}, "line one\n  line two  ", "line one\n  line two  "),
    ("rich_text", {}, "<p>Hi <b>there</b></p>", "<p>Hi <b>there</b></p>"),
    ("email", {}, " Bob@Example.com ", "Bob@Example.com"),
    ("phone", {}, "+1 (555) 123-4567", "+1 (555) 123-4567"),
    ("url", {}, "https://example.com/a?b=1", "https://example.com/a?b=1"),
    ("integer", {}, 9007199254740993, 9007199254740993),
    ("integer", {}, "-42", -42),
    ("integer", {}, 7.0, 7),
    ("decimal", {}, 12.345, Decimal("12.35")),
    ("decimal", {}, "-0.005", Decimal("-0.01")),
    ("decimal", {"precision": 6, "scale": 3}, "123.4564", Decimal("123.456")),
    ("currency", {"currency": "CNY"}, "1999.995", Decimal("2000.00")),
    ("currency", {"scale": 0}, 10, Decimal("10")),
    ("percent", {}, 12.5, Decimal("12.5000")),
    ("boolean", {}, "true", True),
    ("boolean", {}, False, False),
    ("date", {}, "2026-11-22", "2026-11-22"),
    ("datetime", {}, "2026-11-22T09:30:00+08:00", "2026-11-22T01:30:00+00:00"),
    ("datetime", {}, "2026-11-22T09:30:00Z", "2026-11-22T09:30:00+00:00"),
    ("datetime", {}, "2026-11-22T09:30:00", "2026-11-22T09:30:00+00:00"),
    ("picklist", {"values": PICK_VALUES}, "won", "won"),
    ("multi_picklist", {"values": PICK_VALUES}, ["won", "open", "won"], ["open", "won"]),
    ("multi_picklist", {"values": PICK_VALUES}, [], []),
    ("tags", {}, [" VIP ", "vip", "Partner"], ["VIP", "Partner"]),
    ("lookup", {"target": "account"}, {"id": 7, "name": "Acme"}, 7),
    ("master_detail", {"target": "account"}, 3, 3),
]


@pytest.mark.parametrize(("type_name", "options", "value", "expected"), ROUND_TRIPS)
def test_round_trip(engine, type_name, options, value, expected):
    field_type = bind(type_name, api_name="value", options=options)
    table = make_table(engine, field_type, f"rt_{next(_TABLE_NUMBERS)}")
    with engine.begin() as conn:
        conn.execute(table.insert(), {"id": 1, "value": field_type.to_db(load(field_type, value))})
        stored = conn.execute(sa.select(table.c.value)).scalar_one()
    result = field_type.from_db(stored)
    assert result == expected
    assert type(result) is type(expected)


def test_null_round_trips_for_every_type():
    for cls in BUILTIN_TYPES:
        field_type = bind(cls.name, options={"target": "account", "values": PICK_VALUES, "format": "A-{0}"})
        if cls.read_only:
            continue
        loaded = load(field_type, None)
        assert loaded is None
        assert field_type.from_db(field_type.to_db(loaded)) in (None, [])


def test_blank_text_loads_as_none():
    assert load(bind("text"), "   ") is None
    assert load(bind("long_text"), " \n ") is None
    assert load(bind("email"), "") is None


def test_storage_columns():
    assert isinstance(bind("text", options={"max_length": 80}).column_type(), sa.String)
    assert bind("text", options={"max_length": 80}).column_type().length == 80
    assert bind("text").column_type().length == 255
    assert isinstance(bind("long_text").column_type(), sa.Text)
    assert isinstance(bind("integer").column_type(), sa.BigInteger)
    numeric = bind("decimal", options={"precision": 10, "scale": 4}).column_type()
    assert (numeric.precision, numeric.scale) == (10, 4)
    currency = bind("currency", options={"scale": 3}).column_type()
    assert (currency.precision, currency.scale) == (18, 3)
    percent = bind("percent").column_type()
    assert (percent.precision, percent.scale) == (9, 4)
    assert isinstance(bind("datetime").column_type(), sa.DateTime) and bind("datetime").column_type().timezone
    assert bind("multi_picklist", options={"values": PICK_VALUES}).column_type().length == 4000
    lookup_columns = bind("lookup", options={"target": "account"}).columns()
    assert len(lookup_columns) == 1 and not lookup_columns[0].foreign_keys and lookup_columns[0].nullable
    assert bind("many_to_many", options={"target": "tag"}).columns() == []
    assert bind("auto_number", options={"format": "{0}"}).column_type().length == 60


def test_multi_picklist_storage_is_sorted_and_delimited():
    field_type = bind("multi_picklist", options={"values": PICK_VALUES})
    assert field_type.to_db(["won", "open"]) == ";open;won;"
    assert field_type.to_db(load(field_type, [])) is None
    assert field_type.from_db(";lost;open;") == ["open", "lost"]  # inactive values pass through
    assert field_type.from_db(None) == []


def test_datetime_from_db_treats_naive_as_utc():
    field_type = bind("datetime")
    assert field_type.from_db(dt.datetime(2026, 1, 2, 3, 4, 5)) == "2026-01-02T03:04:05+00:00"
    assert field_type.from_db("2026-01-02 03:04:05.000000") == "2026-01-02T03:04:05+00:00"


# -- invalid values -------------------------------------------------------------------

INVALID = [
    ("text", {"max_length": 5}, "abcdef", "at most 5 characters"),
    ("text", {"min_length": 3}, "ab", "at least 3 characters"),
    ("text", {}, 5, "Not a valid string"),
    ("text", {}, "a\x00b", "NUL"),
    ("long_text", {"max_length": 10}, "x" * 11, "at most 10 characters"),
    ("email", {}, "not-an-address", "not a valid e-mail address"),
    ("email", {}, "a" * 250 + "@example.com", "at most 254 characters"),
    ("phone", {}, "555-CALL", "may contain only digits"),
    ("phone", {}, "12+3", "may contain only digits"),
    ("phone", {}, "+1 2", "at least 3 digits"),
    ("url", {}, "javascript:alert(1)", "absolute http"),
    ("url", {}, "ftp://example.com/file", "absolute http"),
    ("url", {}, "/relative/path", "absolute http"),
    ("integer", {}, True, "not a valid integer"),
    ("integer", {}, 1.5, "whole number"),
    ("integer", {}, "1.5", "not a valid integer"),
    ("integer", {}, "twelve", "not a valid integer"),
    ("integer", {}, 2**63, "out of range"),
    ("integer", {"min": 1, "max": 10}, 0, "at least 1"),
    ("integer", {"min": 1, "max": 10}, 11, "at most 10"),
    ("decimal", {}, "abc", "not a valid number"),
    ("decimal", {}, True, "not a valid number"),
    ("decimal", {}, "NaN", "finite"),
    ("decimal", {}, float("inf"), "finite"),
    ("decimal", {"precision": 5, "scale": 2}, 1234.5, "at most 3 digits before the decimal point"),
    ("decimal", {"precision": 5, "scale": 2}, 999.995, "at most 3 digits before the decimal point"),
    ("decimal", {}, "1e999999999", "digits before the decimal point"),
    ("currency", {"min": 0}, -1, "at least 0"),
    ("percent", {"max": 100}, "100.001", "at most 100"),
    ("boolean", {}, 1, "must be true or false"),
    ("boolean", {}, "maybe", "must be true or false"),
    ("date", {}, "22/11/2026", "not a valid date"),
    ("date", {}, "2026-02-30", "not a valid date"),
    ("datetime", {}, "tomorrow", "not a valid date and time"),
    ("picklist", {"values": PICK_VALUES}, "closed", "use one of: open, won"),
    ("picklist", {"values": PICK_VALUES}, "lost", "not an allowed value"),  # inactive
    ("picklist", {"values": PICK_VALUES}, "Open", "not an allowed value"),
    ("multi_picklist", {"values": PICK_VALUES}, "open", "must be a list"),
    ("multi_picklist", {"values": PICK_VALUES}, ["open", "nope"], "'nope' is not an allowed value"),
    ("tags", {}, ["a;b"], "must not contain ';'"),
    ("tags", {}, ["x" * 51], "at most 50 characters"),
    ("tags", {}, [f"t{i}" for i in range(51)], "at most 50 values"),
    ("tags", {}, "vip", "must be a list"),
    ("lookup", {"target": "account"}, 0, "between 1 and"),
    ("lookup", {"target": "account"}, True, "must be a record id"),
    ("lookup", {"target": "account"}, "7", "must be a record id"),
    ("lookup", {"target": "account"}, {"name": "Acme"}, "must be a record id"),
    ("many_to_many", {"target": "tag"}, [1, "x"], "must be a record id"),
    ("many_to_many", {"target": "tag"}, 5, "must be a list of record ids"),
]


@pytest.mark.parametrize(("type_name", "options", "value", "message"), INVALID)
def test_invalid_values_have_messages(type_name, options, value, message):
    assert message in error_of(bind(type_name, options=options), value)


def test_unrestricted_picklist_takes_free_values():
    field_type = bind("picklist", options={"values": PICK_VALUES, "restricted": False})
    assert load(field_type, "Something else") == "Something else"
    assert "no ';'" in error_of(field_type, "a;b")


def test_many_to_many_values():
    field_type = bind("many_to_many", options={"target": "tag"})
    assert load(field_type, [3, {"id": 1}, 3]) == [3, 1]
    assert field_type.to_db([3, 1]) == [3, 1]
    assert field_type.from_db([3, 1]) == [1, 3]


def test_auto_number_is_never_written():
    field_type = bind("auto_number", options={"format": "CASE-{0000}"})
    assert field_type.read_only
    assert field_type.marshmallow_field().dump_only
    schema = ma.Schema.from_dict({"number": field_type.marshmallow_field()})()
    with pytest.raises(ma.ValidationError):
        schema.load({"number": "CASE-0001"})


# -- rich text ---------------------------------------------------------------------------


def test_rich_text_is_sanitised():
    field_type = bind("rich_text")
    html = (
        '<p onclick="steal()">Hello <script>alert(1)</script><img src=x onerror="alert(2)">'
        '<a href="javascript:alert(3)">bad</a> <a href="https://example.com" title="t" target="_blank">good</a>'
        '<style>p{}</style><iframe src="https://evil.example"></iframe><h2>T</h2><ul><li>x</li></ul></p>'
    )
    clean = load(field_type, html)
    for forbidden in ("<script", "alert(1)", "onerror", "onclick", "javascript:", "<img", "<style", "<iframe"):
        assert forbidden not in clean
    assert '<a href="https://example.com" title="t" rel="noopener noreferrer">good</a>' in clean
    assert "<h2>T</h2>" in clean and "<li>x</li>" in clean
    assert load(field_type, "<script>alert(1)</script>") is None


# -- picklist definitions ------------------------------------------------------------------


def test_picklist_definition_errors_point_at_paths():
    values = [
        {"value": "open"},
        {"value": "won", "color": "#12"},
        {"value": "a;b"},
        {"value": "OPEN"},
        {"value": "fine", "color": "#aabbcc"},
    ]
    errors = dict(bind("picklist", options={"values": values}).validate_definition(lambda name: None))
    assert set(errors) == {"options.values[1].color", "options.values[2].value", "options.values[3].value"}
    assert "duplicates options.values[0].value" in errors["options.values[3].value"]
    assert bind("picklist", options={"values": PICK_VALUES}).validate_definition(lambda name: None) == []
    assert bind("picklist", options={}).validate_definition(lambda name: None) == [
        ("options.values", "must list at least one value")
    ]
    only_inactive = bind("picklist", options={"values": [{"value": "x", "active": False}]})
    assert only_inactive.validate_definition(lambda name: None) == [
        ("options.values", "at least one value must be active")
    ]


def test_picklist_labels_and_choices():
    field_type = bind("picklist", options={"values": PICK_VALUES})
    assert field_type.label_for("open") == "Open"
    assert field_type.label_for("open", "zh_CN") == "打开"
    assert field_type.label_for("gone") == "gone"
    assert [c["value"] for c in field_type.choices()] == ["open", "won"]
    assert [c["value"] for c in field_type.choices(include_inactive=True)] == ["open", "won", "lost"]


# -- other definition checks ----------------------------------------------------------------


def test_relation_definitions_check_the_target():
    objects = {"account": {"api_name": "account"}}
    lookup = bind("lookup", options={"target": "acount"})
    assert lookup.validate_definition(objects.get) == [("options.target", "unknown object 'acount'")]
    assert bind("lookup", options={"target": "account"}).validate_definition(objects.get) == []
    assert bind("lookup", options={}).validate_definition(objects.get)[0][0] == "options.target"
    required_set_null = bind("lookup", required=True, options={"target": "account", "on_delete": "set_null"})
    assert required_set_null.validate_definition(objects.get)[0][0] == "options.on_delete"
    assert bind("lookup", options={"target": "account"}).on_delete == "set_null"
    assert bind("lookup", required=True, options={"target": "account"}).on_delete == "restrict"
    assert bind("lookup", options={"target": "account"}).target == "account"
    master = bind("master_detail", options={"target": "account"})
    assert master.required and master.is_master_detail and master.on_delete == "cascade"
    assert not bind("lookup", options={"target": "account"}).is_master_detail
    assert bind("many_to_many", options={"target": "nope"}).validate_definition(objects.get)[0][0] == "options.target"


@pytest.mark.parametrize(
    ("type_name", "options", "path"),
    [
        ("text", {"max_length": 10, "min_length": 20}, "options.min_length"),
        ("decimal", {"precision": 4, "scale": 6}, "options.scale"),
        ("integer", {"min": 10, "max": 1}, "options.min"),
        ("auto_number", {"format": "x" * 41 + "{0}"}, "options.format"),
        ("auto_number", {}, "options.format"),
    ],
)
def test_definition_cross_checks(type_name, options, path):
    assert [p for p, _ in bind(type_name, options=options).validate_definition(lambda n: None)] == [path]


def test_auto_number_render():
    field_type = bind("auto_number", options={"format": "CASE-{0000}"})
    assert field_type.render(7) == "CASE-0007"
    assert field_type.render(12345) == "CASE-12345"
    assert field_type.starting_number == 1
    assert bind("auto_number", options={"format": "INV{000}-CN", "starting_number": 0}).render(0) == "INV000-CN"
    assert bind("auto_number", options={"format": "{0}", "starting_number": 0}).starting_number == 0


# -- defaults ------------------------------------------------------------------------------------


def test_default_values_load_like_api_values():
    assert bind("integer", default="5").default_value() == 5
    assert bind("decimal", default=1.005).default_value() == Decimal("1.01")
    assert bind("picklist", options={"values": PICK_VALUES}, default="open").default_value() == "open"
    assert bind("multi_picklist", options={"values": PICK_VALUES}, default=["won"]).default_value() == ["won"]
    assert bind("boolean", default=True).default_value() is True
    assert bind("text").default_value() is None
    assert bind("text", default="x").validate_default() == []


def test_invalid_defaults_are_reported():
    field_type = bind("picklist", options={"values": PICK_VALUES}, default="lost")
    with pytest.raises(ValidationFailed) as info:
        field_type.default_value()
    assert "not an allowed value" in info.value.details["fields"]["default"][0]
    assert field_type.validate_default()[0][0] == "default"
    assert bind("integer", options={"max": 3}, default=4).validate_default() == [("default", "must be at most 3")]
    assert bind("auto_number", options={"format": "{0}"}, default="x").validate_default()[0][0] == "default"


# -- filters ------------------------------------------------------------------------------------


def test_multi_picklist_contains_matches_whole_values_only(engine):
    values = [{"value": v} for v in ("a", "ab", "b", "a_b", "axb")]
    field_type = bind("multi_picklist", api_name="m", options={"values": values})
    table = make_table(engine, field_type, "mp_filter")
    insert_rows(engine, table, "m", [";a;", ";ab;", ";a;b;", None, ";b;", ";a_b;", ";axb;"])
    column = table.c.m
    assert matching_ids(engine, table, field_type.filter(column, "contains", "a")) == [1, 3]
    assert matching_ids(engine, table, field_type.filter(column, "contains", ["a"])) == [1, 3]
    assert matching_ids(engine, table, field_type.filter(column, "contains", "a_b")) == [6]
    assert matching_ids(engine, table, field_type.filter(column, "contains", "a,b")) == [3]
    assert matching_ids(engine, table, field_type.filter(column, "eq", ["b", "a"])) == [3]
    assert matching_ids(engine, table, field_type.filter(column, "eq", "b")) == [5]
    assert matching_ids(engine, table, field_type.filter(column, "isnull", "true")) == [4]
    assert matching_ids(engine, table, field_type.filter(column, "isnull", False)) == [1, 2, 3, 5, 6, 7]
    with pytest.raises(FilterError, match="not an allowed value"):
        field_type.filter(column, "contains", "zzz")


def test_picklist_filters_accept_inactive_values(engine):
    field_type = bind("picklist", api_name="stage", options={"values": PICK_VALUES})
    table = make_table(engine, field_type, "pl_filter")
    insert_rows(engine, table, "stage", ["open", "lost", None, "won"])
    assert matching_ids(engine, table, field_type.filter(table.c.stage, "eq", "lost")) == [2]
    assert matching_ids(engine, table, field_type.filter(table.c.stage, "in", "open,won")) == [1, 4]
    assert matching_ids(engine, table, field_type.filter(table.c.stage, "ne", "open")) == [2, 3, 4]


def test_tags_contains_ignores_case(engine):
    field_type = bind("tags", api_name="tags")
    table = make_table(engine, field_type, "tag_filter")
    insert_rows(engine, table, "tags", [";VIP;Partner;", ";vipx;", ";100%;", ";1000;", None])
    column = table.c.tags
    assert matching_ids(engine, table, field_type.filter(column, "contains", "vip")) == [1]
    assert matching_ids(engine, table, field_type.filter(column, "contains", ["vip", "partner"])) == [1]
    assert matching_ids(engine, table, field_type.filter(column, "contains", "100%")) == [3]
    assert matching_ids(engine, table, field_type.filter(column, "isnull", True)) == [5]


def test_text_contains_escapes_like_wildcards_and_ignores_case(engine):
    field_type = bind("text", api_name="name")
    table = make_table(engine, field_type, "text_filter")
    insert_rows(engine, table, "name", ["100%", "1000", "a_b", "axb", "Alpha", None])
    column = table.c.name
    assert matching_ids(engine, table, field_type.filter(column, "contains", "%")) == [1]
    assert matching_ids(engine, table, field_type.filter(column, "contains", "_")) == [3]
    assert matching_ids(engine, table, field_type.filter(column, "startswith", "ALP")) == [5]
    assert matching_ids(engine, table, field_type.filter(column, "eq", "a_b")) == [3]
    assert matching_ids(engine, table, field_type.filter(column, "ne", "a_b")) == [1, 2, 4, 5, 6]
    assert matching_ids(engine, table, field_type.filter(column, "in", ["1000", "axb"])) == [2, 4]
    assert matching_ids(engine, table, field_type.filter(column, "isnull", "1")) == [6]
    assert matching_ids(engine, table, field_type.filter(column, "gte", "a")) == [3, 4]


def test_email_eq_ignores_case_and_contains_takes_fragments(engine):
    field_type = bind("email", api_name="email")
    table = make_table(engine, field_type, "email_filter")
    insert_rows(engine, table, "email", ["Bob@Example.com", "ann@example.org", None])
    assert matching_ids(engine, table, field_type.filter(table.c.email, "eq", "bob@example.COM")) == [1]
    assert matching_ids(engine, table, field_type.filter(table.c.email, "contains", "example.org")) == [2]
    assert matching_ids(engine, table, field_type.filter(table.c.email, "ne", "bob@example.com")) == [2, 3]


def test_number_and_date_range_filters(engine):
    integer = bind("integer", api_name="n", options={"min": 10})
    table = make_table(engine, integer, "int_filter")
    insert_rows(engine, table, "n", [1, 5, 10, None])
    assert matching_ids(engine, table, integer.filter(table.c.n, "gt", "4")) == [2, 3]  # limits don't apply to filters
    assert matching_ids(engine, table, integer.filter(table.c.n, "in", "1,10")) == [1, 3]
    with pytest.raises(FilterError, match="not a valid integer"):
        integer.filter(table.c.n, "eq", "abc")

    amount = bind("currency", api_name="amount")
    table = make_table(engine, amount, "cur_filter")
    insert_rows(engine, table, "amount", [Decimal("9.99"), Decimal("10.00"), Decimal("10.01")])
    assert matching_ids(engine, table, amount.filter(table.c.amount, "lte", "10")) == [1, 2]

    day = bind("date", api_name="d")
    table = make_table(engine, day, "date_filter")
    insert_rows(engine, table, "d", [dt.date(2026, 11, 21), dt.date(2026, 11, 22), dt.date(2026, 11, 23)])
    assert matching_ids(engine, table, day.filter(table.c.d, "gte", "2026-11-22")) == [2, 3]

    moment = bind("datetime", api_name="t")
    table = make_table(engine, moment, "dt_filter")
    stored = [moment.to_db(load(moment, v)) for v in ("2026-11-22T08:00:00+08:00", "2026-11-22T01:00:00Z")]
    insert_rows(engine, table, "t", stored)
    assert matching_ids(engine, table, moment.filter(table.c.t, "lt", "2026-11-22T00:30:00Z")) == [1]
    assert matching_ids(engine, table, moment.filter(table.c.t, "eq", "2026-11-22T09:00:00+08:00")) == [2]

    flag = bind("boolean", api_name="b")
    table = make_table(engine, flag, "bool_filter")
    insert_rows(engine, table, "b", [True, False, None])
    assert matching_ids(engine, table, flag.filter(table.c.b, "eq", "true")) == [1]
    assert matching_ids(engine, table, flag.filter(table.c.b, "ne", "true")) == [2, 3]


def test_lookup_filters_take_ids_and_objects(engine):
    field_type = bind("lookup", api_name="account_id", options={"target": "account"})
    table = make_table(engine, field_type, "lookup_filter")
    insert_rows(engine, table, "account_id", [7, 8, None])
    column = table.c.account_id
    assert matching_ids(engine, table, field_type.filter(column, "eq", "7")) == [1]
    assert matching_ids(engine, table, field_type.filter(column, "eq", {"id": 8})) == [2]
    assert matching_ids(engine, table, field_type.filter(column, "in", "7,8")) == [1, 2]


def test_many_to_many_junction(engine):
    field_type = bind("many_to_many", api_name="tags", options={"target": "tag"})
    assert field_type.junction_table_name("contact") == "m_contact_tags"
    long_name = field_type.junction_table_name("o" * 60)
    assert len(long_name) == 63 and long_name == field_type.junction_table_name("o" * 60)
    assert long_name != bind("many_to_many", api_name="tagz").junction_table_name("o" * 60)
    assert [c.name for c in field_type.junction_columns()] == ["source_id", "target_id"]

    metadata = sa.MetaData()
    source = sa.Table("contact", metadata, sa.Column("id", sa.Integer, primary_key=True))
    junction = field_type.junction_table("contact", metadata)
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(source.insert(), [{"id": i} for i in (1, 2, 3)])
        conn.execute(junction.insert(), [{"source_id": s, "target_id": t} for s, t in ((1, 10), (1, 11), (2, 10))])

    def ids(op, value):
        return matching_ids(engine, source, field_type.junction_filter(source.c.id, junction, op, value))

    assert ids("contains", 10) == [1, 2]
    assert ids("contains", "10,11") == [1]
    assert ids("contains", [{"id": 11}]) == [1]
    assert ids("isnull", True) == [3]
    assert ids("isnull", "false") == [1, 2]
    with pytest.raises(FilterError):
        field_type.junction_filter(source.c.id, junction, "eq", 10)
    with pytest.raises(FilterError):
        field_type.junction_filter(source.c.id, junction, "contains", "x")


@pytest.mark.parametrize(
    ("type_name", "op"),
    [
        ("long_text", "lt"),
        ("rich_text", "eq"),
        ("boolean", "lt"),
        ("picklist", "contains"),
        ("multi_picklist", "in"),
        ("tags", "eq"),
        ("integer", "contains"),
        ("many_to_many", "eq"),
    ],
)
def test_unsupported_operator_names_the_field(type_name, op):
    field_type = bind(type_name, api_name="my_field", options={"values": PICK_VALUES, "target": "x"})
    with pytest.raises(FilterError) as info:
        field_type.filter(sa.column("my_field"), op, "x")
    assert "my_field" in info.value.message and repr(op) in info.value.message
    assert "my_field" in info.value.details["fields"]


def test_filter_values_are_bound_parameters():
    field_type = bind("text", api_name="name")
    condition = field_type.filter(sa.column("name"), "eq", "x' OR 1=1 --")
    assert "OR 1=1" not in str(condition.compile())


# -- import ---------------------------------------------------------------------------------------


def test_parse_import():
    assert bind("boolean").parse_import("是") is True
    assert bind("boolean").parse_import("No") is False
    assert bind("boolean").parse_import("") is None
    with pytest.raises(ValueError, match="yes or no"):
        bind("boolean").parse_import("perhaps")
    assert bind("date").parse_import("2026/11/2") == dt.date(2026, 11, 2)
    assert bind("date").parse_import("2026-11-22") == dt.date(2026, 11, 22)
    assert bind("datetime").parse_import("2026/11/22 10:30").isoformat() == "2026-11-22T10:30:00+00:00"
    pick = bind("picklist", options={"values": PICK_VALUES})
    assert pick.parse_import("Won") == "won"
    assert pick.parse_import("打开") == "open"
    with pytest.raises(ValueError, match="not an allowed value"):
        pick.parse_import("Lost")  # inactive
    multi = bind("multi_picklist", options={"values": PICK_VALUES})
    assert multi.parse_import("Open; won") == ["open", "won"]
    assert bind("tags").parse_import("vip, partner,VIP") == ["vip", "partner"]
    assert bind("integer").parse_import(" 12 ") == 12
    assert bind("decimal").parse_import("3.14159") == Decimal("3.14")
    assert bind("lookup", options={"target": "a"}).parse_import("42") == 42
    with pytest.raises(ValueError, match="at most 5 characters"):
        bind("text", options={"max_length": 5}).parse_import("too long")


# -- registry ------------------------------------------------------------------------------------


def test_registry_refuses_duplicates_and_bad_classes():
    registry = builtin_registry()

    class Text2(FieldType):
        name = "text"
        label = "Another text"

    with pytest.raises(ValueError, match="already registered"):
        registry.register(Text2)

    class BadSchema(FieldType):
        name = "bad"
        label = "Bad"
        options_schema = {"type": "object"}

    with pytest.raises(ValueError, match="additionalProperties"):
        registry.register(BadSchema)

    with pytest.raises(ValueError, match="not a FieldType"):
        registry.register(dict)


def test_registry_reports_unknown_types():
    with pytest.raises(ValidationFailed) as info:
        REGISTRY.get("txt")
    message = info.value.details["fields"]["type"][0]
    assert "'txt'" in message and "text" in message and "auto_number" in message
    with pytest.raises(ValidationFailed):
        REGISTRY.bind({"api_name": "x"})
    assert "text" in REGISTRY and "txt" not in REGISTRY and len(REGISTRY) == 20


def test_registry_from_plugins():
    class Rating(FieldType):
        name = "rating"
        label = "Rating"
        widget = "number"
        operators = ("eq", "isnull")

        def column_type(self):
            return sa.SmallInteger()

        def marshmallow_field(self):
            return ma.fields.Integer(allow_none=True)

    class RatingPlugin:
        @hookimpl
        def register_field_types(self):
            return [Rating]

    pm = create_plugin_manager([builtin_field_types, RatingPlugin()], load_entry_points=False)
    registry = registry_from_plugins(pm)
    assert registry.names()[0] == "text" and registry.names()[-1] == "rating"
    assert isinstance(registry.bind({"api_name": "stars", "type": "rating"}), Rating)

    class Thief:
        @hookimpl
        def register_field_types(self):
            return [REGISTRY.get("text")]

    pm = create_plugin_manager([builtin_field_types, Thief()], load_entry_points=False)
    with pytest.raises(ValueError, match="already registered"):
        registry_from_plugins(pm)


def test_registry_works_as_a_decorator():
    registry = FieldTypeRegistry()

    @registry.register
    class Stars(FieldType):
        name = "stars"
        label = "Stars"

    assert registry.get("stars") is Stars


# -- type changes ------------------------------------------------------------------------------------

CONVERTIBLE = {
    "text": {"long_text", "picklist"},
    "long_text": {"text"},
    "integer": {"decimal", "currency", "percent"},
    "decimal": {"currency", "percent"},
    "currency": {"decimal", "percent"},
    "percent": {"decimal", "currency"},
    "picklist": {"multi_picklist"},
    "multi_picklist": {"tags"},
    "email": {"text"},
    "phone": {"text"},
    "url": {"text"},
}


def test_convertible_to_lists_exactly_the_safe_changes():
    for cls in BUILTIN_TYPES:
        assert set(cls.CONVERTIBLE_TO) == CONVERTIBLE.get(cls.name, set()), cls.name
        assert all(isinstance(text, str) and text for text in cls.CONVERTIBLE_TO.values())
    assert can_convert("text", "long_text") and not can_convert("text", "integer")
    assert can_convert(REGISTRY.get("integer"), "decimal")


@pytest.mark.parametrize(
    ("old", "new", "value", "expected"),
    [
        (("text", {}), ("long_text", {}), "abc", (True, "abc")),
        (("long_text", {}), ("text", {"max_length": 3}), "abc", (True, "abc")),
        (("long_text", {}), ("text", {"max_length": 3}), "abcd", (False, None)),
        (("url", {}), ("text", {}), "https://x.example", (True, "https://x.example")),
        (("email", {}), ("text", {"max_length": 5}), "a@b.example", (False, None)),
        (("integer", {}), ("decimal", {}), 12, (True, Decimal("12.00"))),
        (("integer", {}), ("decimal", {"precision": 4, "scale": 2}), 123, (False, None)),
        (("integer", {}), ("percent", {}), 5, (True, Decimal("5.0000"))),
        (("decimal", {"scale": 3}), ("currency", {"scale": 2}), Decimal("1.005"), (True, Decimal("1.01"))),
        (("currency", {}), ("percent", {}), Decimal("123456.78"), (False, None)),
        (("percent", {}), ("decimal", {}), Decimal("12.5000"), (True, Decimal("12.50"))),
        (("picklist", {"values": PICK_VALUES}), ("multi_picklist", {"values": PICK_VALUES}), "a", (True, ";a;")),
        (("text", {}), ("picklist", {"values": PICK_VALUES}), "open", (True, "open")),
        (("text", {}), ("picklist", {"values": PICK_VALUES}), " Won ", (True, "won")),
        (("text", {}), ("picklist", {"values": PICK_VALUES}), "maybe", (False, None)),
        (("multi_picklist", {"values": PICK_VALUES}), ("tags", {}), ";open;won;", (True, ";open;won;")),
        (("multi_picklist", {"values": PICK_VALUES}), ("tags", {}), ";" + "x" * 60 + ";", (False, None)),
        (("text", {}), ("long_text", {}), None, (True, None)),
    ],
)
def test_convert_value(old, new, value, expected):
    old_type = bind(old[0], options=old[1])
    new_type = bind(new[0], options=new[1])
    assert convert_value(old_type, new_type, value) == expected


def test_convert_value_refuses_unsafe_pairs():
    with pytest.raises(ValueError, match="cannot be converted"):
        convert_value(bind("text"), bind("integer"), "1")
