"""Field types answer the JSON Schema of their values (as read and as
written) and of one filter value; a plugin's type gets a default from its
column's Python type, or describes itself."""

from __future__ import annotations

import marshmallow as ma
import pytest
import sqlalchemy as sa
from jsonschema import Draft202012Validator

from metacrm.metadata.fieldtypes import BUILTIN_TYPES, FieldType, builtin_registry

REGISTRY = builtin_registry()
PICK = {"values": [{"value": "open"}, {"value": "won"}, {"value": "lost", "active": False}]}

# (type, options, a value a write accepts, a value it refuses)
WRITES = [
    ("text", {"max_length": 5}, "abc", "abcdef"),
    ("long_text", {}, "  spaced  ", 12),
    ("rich_text", {}, "<p>hi</p>", ["x"]),
    ("email", {}, "a@b.example", "not an address"),
    ("phone", {}, "+86 10 1234", 5),
    ("url", {}, "https://x.example/a", 5),
    ("integer", {"min": 1, "max": 9}, 5, 10),
    ("decimal", {"precision": 6, "scale": 2}, "1234.50", "1,5"),
    ("currency", {"currency": "CNY"}, 99.5, "lots"),
    ("percent", {}, 12.5, True),
    ("boolean", {}, True, "yes"),
    ("date", {}, "2026-01-31", 20260131),
    ("datetime", {}, "2026-01-31T09:30:00+08:00", 1),
    ("picklist", PICK, "open", "lost"),
    ("multi_picklist", PICK, ["open", "won"], ["lost"]),
    ("tags", {}, ["blue", "fast"], ["a;b"]),
    ("lookup", {"target": "account"}, {"id": 3}, "three"),
    ("master_detail", {"target": "account"}, 3, 0),
    ("many_to_many", {"target": "account"}, [1, {"id": 2}], [0]),
]


def bind(type_name: str, options: dict | None = None, **definition) -> FieldType:
    return REGISTRY.bind({"api_name": "f", "type": type_name, "options": options or {}, **definition})


def validator(schema: dict) -> Draft202012Validator:
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def test_every_builtin_type_describes_its_values_and_filters():
    described = {type_name for type_name, *_ in WRITES} | {"auto_number"}
    assert described == {cls.name for cls in BUILTIN_TYPES}
    for cls in BUILTIN_TYPES:
        field_type = bind(cls.name, {"target": "account"} if "target" in str(cls.options_schema) else None)
        assert cls.json_schema is not FieldType.json_schema, cls.name  # not the plugin default
        validator(field_type.json_schema(output=True))
        validator(field_type.json_schema(output=False))
        validator(field_type.filter_schema())


@pytest.mark.parametrize(("type_name", "options", "good", "bad"), WRITES, ids=[w[0] for w in WRITES])
def test_the_write_schema_accepts_what_the_type_loads_and_refuses_what_it_refuses(type_name, options, good, bad):
    field_type = bind(type_name, options)
    schema = validator(field_type.json_schema(output=False))
    field_type.loader.deserialize(good)
    assert schema.is_valid(good)
    assert schema.is_valid(None)  # null empties a field
    with pytest.raises(ma.ValidationError):
        field_type.loader.deserialize(bad)
    assert not schema.is_valid(bad)


def test_read_schemas_follow_what_records_hold():
    picklist = bind("picklist", PICK)
    # Stored data may hold an inactive value; a write may not.
    assert validator(picklist.json_schema(output=True)).is_valid("lost")
    assert not validator(picklist.json_schema(output=False)).is_valid("lost")
    assert validator(picklist.filter_schema()).is_valid("lost")
    free = bind("picklist", {**PICK, "restricted": False})
    assert validator(free.json_schema(output=False)).is_valid("anything")
    assert free.filter_schema() == {"type": "string"}
    lookup = validator(bind("lookup", {"target": "account"}).json_schema(output=True))
    assert lookup.is_valid({"id": 1, "name": "Acme"}) and not lookup.is_valid(1)
    links = validator(bind("many_to_many", {"target": "account"}).json_schema(output=True))
    assert links.is_valid([{"id": 1, "name": None}]) and not links.is_valid(None)
    assert bind("auto_number", {"format": "A-{000}"}).json_schema(output=True)["readOnly"] is True
    assert "Amount in CNY" in bind("currency", {"currency": "CNY"}).json_schema(output=True)["description"]
    assert "minLength" in bind("text", {"min_length": 2}).json_schema(output=False)
    assert "minLength" not in bind("text", {"min_length": 2}).json_schema(output=True)


def test_filter_query_values():
    assert bind("integer").filter_schema() == {"type": "integer"}
    assert bind("lookup", {"target": "account"}).filter_schema()["type"] == "integer"
    assert bind("picklist", PICK).filter_schema()["enum"] == ["open", "won", "lost"]
    # in takes a list everywhere; a multi-picklist's eq (this exact set) and contains (all of them) too.
    assert bind("text").filter_list_operators == ("in",)
    assert set(bind("multi_picklist", PICK).filter_list_operators) == {"eq", "in", "contains"}
    # contains on a many-to-many names a linked record by its id, not a piece of text.
    assert "contains" in bind("text").filter_text_operators
    assert bind("many_to_many", {"target": "account"}).filter_text_operators == ()


class Rating(FieldType):
    name = "rating"
    label = "Rating"

    def column_type(self):
        return sa.SmallInteger()


class Sketch(FieldType):
    name = "sketch"
    label = "Sketch"

    def column_type(self):
        return sa.LargeBinary()


def test_a_plugin_type_is_described_by_its_column_unless_it_describes_itself():
    assert Rating({"api_name": "r"}).json_schema(output=True) == {"type": ["integer", "null"]}
    assert Rating({"api_name": "r"}).filter_schema() == {"type": "string"}
    assert Sketch({"api_name": "s"}).json_schema(output=False) == {"description": "a sketch value"}

    class Stars(Rating):
        def json_schema(self, *, output: bool) -> dict:
            return {"type": "integer", "minimum": 1, "maximum": 5}

    assert Stars({"api_name": "s"}).json_schema(output=False)["maximum"] == 5
