"""The compiled row loader (metacrm/metadata/store/loading.py) and the field
types' ``column_loader``: the same column values and the same error
messages as the per-field marshmallow path (``to_db(loader.deserialize(v))``)
for every registered type, good and bad values alike; and the store's bulk
calls still report bad rows per row, naming the field."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import marshmallow as ma
import pytest

from metacrm.metadata.fieldtypes import FieldType
from metacrm.metadata.fieldtypes.base import SLOW
from metacrm.metadata.fieldtypes.registry import builtin_registry
from metacrm.metadata.store.loading import RowLoader, row_loader
from metacrm.metadata.values import error_messages
from metacrm.platform.errors import Forbidden, ValidationFailed
from tests.metadata.conftest import EVERY_TYPE_FIELDS, PICK_VALUES, create_object, store

REGISTRY = builtin_registry()

# Definitions per type beyond EVERY_TYPE_FIELDS: limits, unrestricted lists.
EXTRA_DEFINITIONS = [
    {"api_name": "x_text", "type": "text", "options": {"max_length": 5, "min_length": 2}},
    {"api_name": "x_int", "type": "integer", "options": {"min": -5, "max": 100}},
    {"api_name": "x_dec", "type": "decimal", "options": {"precision": 5, "scale": 2, "min": -1, "max": 500}},
    {"api_name": "x_pct", "type": "percent", "options": {"min": 0, "max": 100}},
    {"api_name": "x_cur", "type": "currency", "options": {"scale": 0}},
    {
        "api_name": "x_pick",
        "type": "picklist",
        "options": {"values": [*PICK_VALUES, {"value": "old", "active": False}]},
    },
    {"api_name": "x_free", "type": "picklist", "options": {"values": PICK_VALUES, "restricted": False}},
    {"api_name": "x_auto", "type": "auto_number", "options": {"format": "N-{000}"}},
]

DEFINITIONS = [*EVERY_TYPE_FIELDS, *EXTRA_DEFINITIONS]

# Good and bad values of every shape a JSON body (or a caller) can send.
VALUES = [
    None,
    "",
    "   ",
    "a",
    "abc",
    "  abc  ",
    "abcdefgh",
    "a\x00b",
    "x" * 300,
    "a;b",
    "open",
    " won ",
    "old",
    "Open",
    0,
    1,
    -1,
    7,
    42,
    -7,
    99,
    100,
    101,
    2**63 - 1,
    2**63,
    -(2**63) - 1,
    True,
    False,
    1.5,
    3.0,
    -0.0,
    float("nan"),
    float("inf"),
    "1.5",
    " 12.345 ",
    "12.345",
    "123.455",
    "-0",
    "-0.001",
    "1e3",
    "1E+2",
    "NaN",
    "Infinity",
    "999999999999999999999",
    # decimals already in the stored shape (taken without quantizing) and next to it
    "12.34",
    "-12.34",
    "0.00",
    "-0.00",
    "-0.50",
    "500.00",
    "500.01",
    "999.99",
    "1000.00",
    "00.10",
    "9999999999999999.99",
    "99999999999999999.99",
    "42",
    "+42",
    "4 2",
    Decimal("1.005"),
    Decimal("NaN"),
    "2024-01-31",
    "2024-1-31",
    " 2024-01-31 ",
    "2024-02-30",
    "20240131",
    "2024-W01-1",
    "2024-01-31T10:00:00",
    "2024-01-31T10:00:00+08:00",
    "2024-01-31 10:00",
    dt.date(2024, 1, 31),
    dt.datetime(2024, 1, 31, 10, 0),
    "x@example.com",
    " Buyer@Example.COM ",
    "not an address",
    "+86 (10) 5555-0101",
    "12",
    "https://example.com/a?b=c",
    "ftp://example.com",
    "<p>hello<script>x</script></p>",
    [],
    ["open"],
    ["open", "won", "open"],
    ["open", "nope"],
    ["a", "A", "b"],
    [None],
    [3, 4],
    {"id": 3},
    {"name": "x"},
    {},
    b"bytes",
    object(),
]


def _bound(definition: dict) -> FieldType:
    return REGISTRY.bind({"label": definition["api_name"], **definition})


def _outcome(load, value):
    try:
        result = load(value)
    except ma.ValidationError as exc:
        return ("error", error_messages(exc))
    except Exception as exc:  # noqa: BLE001 - both paths must fail alike
        return ("raises", type(exc).__name__)
    # Same value, same type, and for decimals the same digits (1.50 is not 1.5).
    return ("ok", type(result).__name__, str(result) if isinstance(result, Decimal) else result)


def _marshmallow_path(field_type: FieldType):
    loader = field_type.marshmallow_field()  # a fresh field: no shared state with the compiled one
    return lambda value: field_type.to_db(loader.deserialize(value))


@pytest.mark.parametrize("definition", DEFINITIONS, ids=lambda d: f"{d['type']}:{d['api_name']}")
def test_column_loader_matches_the_marshmallow_path(definition):
    field_type = _bound(definition)
    for value in VALUES:
        expected = _outcome(_marshmallow_path(field_type), value)
        got = _outcome(field_type.column_loader, value)
        assert got == expected, f"{definition['type']} {value!r}: {got} != {expected}"


def test_every_registered_type_is_covered():
    assert {d["type"] for d in DEFINITIONS} == set(REGISTRY.names())


@pytest.mark.parametrize("definition", DEFINITIONS, ids=lambda d: f"{d['type']}:{d['api_name']}")
def test_shortcuts_never_raise_and_take_the_common_values(definition):
    field_type = _bound(definition)
    fast = field_type.fast_load()
    if fast is None:
        return
    taken = 0
    for value in VALUES:
        result = fast(value)  # never raises: a value it is unsure about is SLOW
        taken += result is not SLOW
    assert taken > 1, "a shortcut that takes nothing but null is no shortcut"


def test_types_with_shortcuts():
    # The types of a typical bulk load skip marshmallow's dispatch.
    fast = {d["type"] for d in DEFINITIONS if _bound(d).fast_load() is not None}
    assert {"text", "long_text", "email", "phone", "url", "integer", "decimal", "currency", "percent"} <= fast
    assert {"boolean", "date", "picklist", "lookup", "master_detail"} <= fast
    # Types whose loading does more (sanitising, lists, time zones) keep the loader.
    assert not fast & {"rich_text", "multi_picklist", "tags", "datetime", "many_to_many", "auto_number"}


def test_a_plugin_type_without_a_shortcut_loads_through_its_marshmallow_field():
    class Shouty(FieldType):
        name = "shouty"
        label = "Shouty"

        def marshmallow_field(self):
            return ma.fields.String(allow_none=True, validate=ma.validate.Length(max=3))

        def to_db(self, value):
            return None if value is None else value.upper()

    field_type = Shouty({"api_name": "s"})
    assert field_type.column_loader("abc") == "ABC"
    with pytest.raises(ma.ValidationError) as refused:
        field_type.column_loader("abcd")
    assert error_messages(refused.value) == ["Longer than maximum length 3."]


# -- the row loader in the store ---------------------------------------------------------------

FIELDS = [
    {"api_name": "status", "label": "Status", "type": "picklist", "options": {"values": PICK_VALUES}},
    {"api_name": "amount", "label": "Amount", "type": "currency"},
    {"api_name": "seats", "label": "Seats", "type": "integer", "default": 5},
    {"api_name": "due", "label": "Due", "type": "date"},
    {"api_name": "ref", "label": "Ref", "type": "auto_number", "options": {"format": "R-{000}"}},
]


@pytest.fixture
def deals(instance, tenant):
    create_object(instance, "deal", FIELDS)
    return instance


def _model(instance):
    return store(instance).model


def test_the_row_loader_is_built_once_per_compiled_model(deals):
    model = _model(deals)
    obj = model.object("deal")
    assert row_loader(model, obj) is row_loader(model, obj)
    assert isinstance(row_loader(model, obj), RowLoader)


def test_a_row_loads_as_the_field_types_say(deals):
    obj = _model(deals).object("deal")
    names = set(obj.fields)
    load = RowLoader(obj).bind(names, names)
    values, many, errors = load({"name": " A ", "status": "won", "amount": "12.345", "due": "2026-01-02"}, True)
    assert errors == {} and many == {}
    assert values == {"name": "A", "status": "won", "amount": Decimal("12.35"), "due": dt.date(2026, 1, 2), "seats": 5}
    # An update fills no defaults; identifiers are no values.
    assert load({"id": 3, "version": 2, "seats": 7}, False) == ({"seats": 7}, {}, {})
    values, _, errors = load(
        {"status": "nope", "amount": True, "due": "soon", "ref": "R-1", "created_at": "x", "bogus": 1}, True
    )
    assert errors == {
        "status": ["'nope' is not an allowed value; use one of: open, won, lost"],
        "amount": ["not a valid number"],
        "due": ["not a valid date; use YYYY-MM-DD"],
        "ref": ["is read-only"],
        "created_at": ["is a system field and cannot be written"],
        "bogus": ["unknown field"],
    }
    assert load(["not", "a", "record"], True) == ({}, {}, {"$": ["a record must be a JSON object"]})


def test_the_row_loader_follows_the_callers_readable_and_writable_fields(deals):
    obj = _model(deals).object("deal")
    names = set(obj.fields)
    hidden = RowLoader(obj).bind(names - {"amount"}, names)
    assert hidden({"amount": 5}, False)[2] == {"amount": ["unknown field"]}
    read_only_for_them = RowLoader(obj).bind(names, names - {"amount"})
    with pytest.raises(Forbidden):
        read_only_for_them({"amount": 5}, False)


def test_bad_rows_of_a_bulk_create_are_reported_per_row_naming_the_field(deals):
    rows = [{"name": f"d{i}", "amount": i, "due": "2026-01-02"} for i in range(20)]
    rows[3]["amount"] = "lots"
    rows[11]["due"] = "2026-02-30"
    rows[11]["status"] = "won"
    rows[17] = "nope"
    with pytest.raises(ValidationFailed) as refused:
        store(deals).bulk_create("deal", rows)
    assert refused.value.details == {
        "rows": {
            "3": {"fields": {"amount": ["not a valid number"]}},
            "11": {"fields": {"due": ["not a valid date; use YYYY-MM-DD"]}},
            "17": {"fields": {"$": ["a record must be a JSON object"]}},
        }
    }
    assert store(deals).query("deal").data == []  # nothing was written
    created = store(deals).bulk_create("deal", rows[:3] + rows[4:11])
    assert len(created) == 10
    first = store(deals).get("deal", created[0]["id"])
    assert (first["seats"], first["ref"], first["due"]) == (5, "R-001", "2026-01-02")
