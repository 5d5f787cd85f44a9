"""The metadata change pipeline (``MetadataService.change``) on a table full of
records: every schema change keeps every stored value, unsafe changes are
refused before anything is touched, a failure in the middle of a change
leaves metadata, physical schema and data exactly as before, and every change
is a revision that rollback can replay."""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa

from metacrm.metadata import changes as changes_module
from metacrm.metadata.changes import ChangeSet, purge_expired
from metacrm.metadata.ddl import SchemaEditor
from metacrm.metadata.fieldtypes.numbers import IntegerType
from metacrm.metadata.model import field_types, model_for
from metacrm.metadata.tables import meta_definitions
from metacrm.platform.errors import Conflict, NotFound, ValidationFailed
from tests.metadata.conftest import (
    ACTOR,
    EVERY_TYPE_FIELDS,
    audit_entries,
    change,
    column_values,
    create_object,
    insert_rows,
    physical_columns,
    service,
    snapshot,
    store,
    stored_column,
)

MANY = 10_000
SOME = 500
STATUS_VALUES = [
    {"value": "open", "label": "Open"},
    {"value": "won", "label": "Won"},
    {"value": "lost", "label": "Lost"},
    {"value": "x" * 80, "label": "The longest value"},
]
ITEM_FIELDS = [
    {"api_name": "code", "label": "Code", "type": "text"},
    {"api_name": "qty", "label": "Quantity", "type": "integer"},
    {"api_name": "note", "label": "Note", "type": "long_text"},
    {"api_name": "status", "label": "Status", "type": "picklist", "options": {"values": STATUS_VALUES}},
    {"api_name": "amount", "label": "Amount", "type": "currency"},
]


def _status(i: int) -> str | None:
    return [None, "open", "won", "lost", "x" * 80][i % 5]


def _item_rows(count: int) -> list[dict]:
    return [
        {
            "name": f"Item {i}",
            "code": None if i % 7 == 0 else f"C-{i:05d} ",
            "qty": None if i % 11 == 0 else i * 3 - 1000,
            "note": None if i % 13 == 0 else f"note {i}\n  spaced  ",
            "status": _status(i),
            "amount": None if i % 17 == 0 else Decimal(i) / 4,
        }
        for i in range(count)
    ]


def make_items(instance, count: int) -> dict[str, dict]:
    """Object ``item`` with ``count`` records; returns every field's values by id."""
    create_object(instance, "item", ITEM_FIELDS)
    insert_rows(instance, "item", _item_rows(count))
    return values_of(instance, "item", ["name", "code", "qty", "note", "status", "amount"])


def values_of(instance, object_name: str, fields: list[str]) -> dict[str, dict]:
    return {field: column_values(instance, object_name, field) for field in fields}


def assert_unchanged(instance, before: dict[str, dict], object_name: str = "item") -> None:
    for field, values in before.items():
        assert column_values(instance, object_name, field) == values, field


def field_doc(instance, object_name: str, field: str) -> dict:
    return model_for(instance, instance.db.bind("acme")).object(object_name).fields[field].definition


# -- changes that keep every value ------------------------------------------------------------


def test_adding_a_field_keeps_every_value_of_10000_records(instance, tenant):
    before = make_items(instance, MANY)
    with change(instance) as tx:
        tx.add_field("item", {"api_name": "region", "label": "Region", "type": "text", "default": "north"})
    assert_unchanged(instance, before)
    assert set(column_values(instance, "item", "region").values()) == {None}
    created = store(instance).create("item", {"name": "new"})
    assert created["region"] == "north"
    assert len(column_values(instance, "item", "name")) == MANY + 1


def test_adding_an_auto_number_numbers_existing_records_in_id_order(instance, tenant):
    make_items(instance, SOME)
    with change(instance) as tx:
        tx.add_field(
            "item", {"api_name": "ref", "label": "Ref", "type": "auto_number", "options": {"format": "I-{000}"}}
        )
    numbers = column_values(instance, "item", "ref")
    assert list(numbers.values()) == [f"I-{n:03d}" for n in range(1, SOME + 1)]
    assert store(instance).create("item", {"name": "next"})["ref"] == f"I-{SOME + 1}"


def test_changing_label_help_required_default_and_picklist_values_keeps_every_value(instance, tenant):
    before = make_items(instance, 2000)
    patches = [
        ("code", {"label": "Product code", "help": "As printed on the box"}),
        ("code", {"required": True}),
        ("qty", {"default": 1, "required": True}),
        ("note", {"required": False, "help": ""}),
        ("status", {"options": {"values": [*STATUS_VALUES, {"value": "pending", "label": "Pending"}]}}),
        ("status", {"options": {"values": [{**v, "active": v["value"] != "lost"} for v in STATUS_VALUES]}}),
        ("amount", {"label": "Amount (EUR)", "options": {"currency": "EUR"}}),
    ]
    for field, patch in patches:
        with change(instance) as tx:
            tx.update_field("item", field, patch)
        for key, value in patch.items():
            assert field_doc(instance, "item", field)[key] == value
        assert_unchanged(instance, before)
    # A required field is enforced on write, never by rewriting stored rows.
    with pytest.raises(ValidationFailed) as refused:
        store(instance).create("item", {"name": "no code"})
    assert refused.value.details["fields"] == {"code": ["is required"]}
    assert store(instance).create("item", {"name": "with code", "code": "X"})["qty"] == 1
    # An inactive value stays readable but is no longer accepted.
    lost_id = next(i for i, v in before["status"].items() if v == "lost")
    assert store(instance).get("item", lost_id)["status"] == "lost"
    with pytest.raises(ValidationFailed):
        store(instance).update("item", lost_id, {"status": "lost"})


def test_removing_a_picklist_value_still_in_use_is_refused_and_changes_nothing(instance, tenant):
    make_items(instance, SOME)
    before = snapshot(instance)
    with pytest.raises(Conflict) as refused, change(instance) as tx:
        tx.update_field("item", "status", {"options": {"values": STATUS_VALUES[:2]}})
    assert "options.values" in refused.value.details["fields"]
    assert snapshot(instance) == before
    # An unused value can go.
    with change(instance) as tx:
        tx.update_field("item", "status", {"options": {"values": [*STATUS_VALUES, {"value": "spare"}]}})
    with change(instance) as tx:
        tx.update_field("item", "status", {"options": {"values": STATUS_VALUES}})


def test_text_to_long_text_keeps_every_value_of_10000_records(instance, tenant):
    before = make_items(instance, MANY)
    with change(instance) as tx:
        tx.update_field("item", "code", {"type": "long_text"})
    assert_unchanged(instance, before)
    assert physical_columns(instance, "o_item")["code"] == "TEXT"
    assert field_doc(instance, "item", "code")["type"] == "long_text"


def test_long_text_to_text_keeps_values_that_fit(instance, tenant):
    before = make_items(instance, 2000)
    with change(instance) as tx:
        tx.update_field("item", "note", {"type": "text"})
    assert_unchanged(instance, before)
    assert physical_columns(instance, "o_item")["note"] == "VARCHAR(255)"


def test_long_text_to_text_is_refused_when_a_value_does_not_fit_and_nothing_changes(instance, tenant):
    make_items(instance, SOME)
    long_id = store(instance).create("item", {"name": "long", "note": "y" * 256})["id"]
    before = snapshot(instance)
    with pytest.raises(Conflict) as refused, change(instance) as tx:
        tx.update_field("item", "note", {"type": "text"})
    preview = refused.value.details["preview"]
    assert preview["unconvertible_count"] == 1
    assert preview["unconvertible"] == [{"value": "y" * 256, "count": 1}]
    assert snapshot(instance) == before
    # Asked to, the change empties what does not fit and keeps the rest.
    kept = column_values(instance, "item", "note")
    with change(instance) as tx:
        tx.update_field("item", "note", {"type": "text"}, clear_unconvertible=True)
    assert column_values(instance, "item", "note") == {**kept, long_id: None}


def test_integer_to_decimal_keeps_every_value_of_10000_records(instance, tenant):
    before = make_items(instance, MANY)
    with change(instance) as tx:
        tx.update_field("item", "qty", {"type": "decimal", "options": {"precision": 12, "scale": 2}})
    after = column_values(instance, "item", "qty")
    assert after == {k: None if v is None else Decimal(v) for k, v in before.pop("qty").items()}
    assert all(v is None or v.as_tuple().exponent == -2 for v in after.values())
    assert_unchanged(instance, before)
    assert physical_columns(instance, "o_item")["qty"] == "NUMERIC(12, 2)"
    assert store(instance).create("item", {"name": "half", "qty": "2.5"})["qty"] == Decimal("2.50")


def test_picklist_to_multi_picklist_keeps_every_value_of_10000_records(instance, tenant):
    before = make_items(instance, MANY)
    with change(instance) as tx:
        tx.update_field("item", "status", {"type": "multi_picklist"})
    after = column_values(instance, "item", "status")
    assert after == {k: [] if v is None else [v] for k, v in before.pop("status").items()}
    assert_unchanged(instance, before)
    assert store(instance).create("item", {"name": "two", "status": ["won", "open"]})["status"] == ["open", "won"]


def test_text_to_picklist_preview_lists_values_that_will_not_convert(instance, tenant):
    create_object(instance, "item", ITEM_FIELDS)
    labels = ["open", "Won", " LOST ", "weird", None, "won"]
    insert_rows(instance, "item", [{"name": f"i{i}", "code": labels[i % 6]} for i in range(MANY)])
    picklist = {"type": "picklist", "options": {"values": STATUS_VALUES[:3]}}
    before = snapshot(instance)
    with change(instance, "preview") as tx:  # what PATCH ?dry_run=true runs
        preview = tx.preview_field_change("item", "code", picklist)
    assert snapshot(instance) == before
    per_label = MANY // 6  # 10,000 = 6 * 1666 + 4: the first four labels have one more
    assert preview == {
        "from": "text",
        "to": "picklist",
        "convertible": 3 * (per_label + 1) + per_label,
        "unconvertible": [{"value": "weird", "count": per_label + 1}],
        "unconvertible_count": per_label + 1,
    }

    with pytest.raises(Conflict) as refused, change(instance) as tx:
        tx.update_field("item", "code", picklist)
    assert refused.value.details["preview"] == preview
    assert snapshot(instance) == before

    with change(instance) as tx:
        tx.update_field("item", "code", picklist, clear_unconvertible=True)
    converted = {"open": "open", "Won": "won", " LOST ": "lost", "weird": None, None: None, "won": "won"}
    assert list(column_values(instance, "item", "code").values()) == [converted[labels[i % 6]] for i in range(MANY)]
    assert physical_columns(instance, "o_item")["code"] == "VARCHAR(80)"


def test_a_type_change_that_could_lose_data_is_refused_and_changes_nothing(instance, tenant):
    make_items(instance, SOME)
    before = snapshot(instance)
    for field, new_type in [("code", "integer"), ("qty", "text"), ("status", "text"), ("amount", "integer")]:
        with pytest.raises(ValidationFailed) as refused, change(instance) as tx:
            tx.update_field("item", field, {"type": new_type, "options": {}})
        assert "type" in refused.value.details["fields"]
    assert snapshot(instance) == before


def test_making_a_field_unique_while_values_repeat_is_refused(instance, tenant):
    create_object(instance, "item", ITEM_FIELDS)
    insert_rows(instance, "item", [{"name": "a", "code": "same"}, {"name": "b", "code": "same"}])
    before = snapshot(instance)
    with pytest.raises(Conflict), change(instance) as tx:
        tx.update_field("item", "code", {"unique": True})
    assert snapshot(instance) == before
    with change(instance) as tx:
        tx.update_field("item", "name", {"unique": True})
    with pytest.raises(Conflict) as duplicate:
        store(instance).create("item", {"name": "a"})
    assert duplicate.value.details == {"fields": {"name": ["must be unique"]}}


def test_shortening_max_length_below_stored_values_is_refused(instance, tenant):
    create_object(instance, "item", ITEM_FIELDS)
    insert_rows(instance, "item", [{"name": "a", "code": "twelve chars"}])
    with pytest.raises(Conflict), change(instance) as tx:
        tx.update_field("item", "code", {"options": {"max_length": 10}})
    with change(instance) as tx:
        tx.update_field("item", "code", {"options": {"max_length": 12}})
    assert column_values(instance, "item", "code") == {1: "twelve chars"}


# -- delete, restore, purge --------------------------------------------------------------------


def test_deleting_a_field_keeps_its_data_and_restoring_brings_every_value_back(instance, tenant):
    before = make_items(instance, MANY)
    with change(instance) as tx:
        tx.delete_field("item", "qty")
    record = store(instance).get("item", 2)
    assert "qty" not in record
    assert "qty" in physical_columns(instance, "o_item")
    with pytest.raises(ValidationFailed):
        store(instance).update("item", 2, {"qty": 5})
    with pytest.raises(ValidationFailed) as reused, change(instance) as tx:
        tx.add_field("item", {"api_name": "qty", "label": "Again", "type": "text"})
    assert "recycle bin" in reused.value.details["fields"]["api_name"][0]
    with change(instance) as tx:
        tx.restore_field("item", "qty")
    assert_unchanged(instance, before)


def test_deleting_an_object_keeps_its_records_and_restoring_brings_them_back(instance, tenant):
    before = make_items(instance, MANY)
    with change(instance) as tx:
        tx.delete_object("item")
    with pytest.raises(NotFound):
        store(instance).get("item", 1)
    assert "o_item" in snapshot(instance)["tables"]
    with pytest.raises(ValidationFailed), change(instance) as tx:
        tx.create_object({"api_name": "item", "label": "Item"})
    with change(instance) as tx:
        tx.restore_object("item")
    assert_unchanged(instance, before)
    assert store(instance).get("item", 2)["code"] == "C-00001 "


def test_an_object_others_point_at_cannot_be_deleted(instance, tenant):
    create_object(instance, "account")
    create_object(
        instance, "contact", [{"api_name": "account", "label": "A", "type": "lookup", "options": {"target": "account"}}]
    )
    with pytest.raises(Conflict) as refused, change(instance) as tx:
        tx.delete_object("account")
    assert refused.value.details == {"referenced_by": ["contact.account"]}
    with pytest.raises(Conflict), change(instance) as tx:
        tx.delete_field("contact", "name")  # the name field


def test_purging_a_field_drops_its_column_and_purging_an_object_drops_its_tables(instance, tenant):
    create_object(instance, "tag")
    create_object(
        instance,
        "item",
        [
            *ITEM_FIELDS,
            {"api_name": "ref", "label": "Ref", "type": "auto_number", "options": {"format": "{0}"}},
            {"api_name": "tags", "label": "Tags", "type": "many_to_many", "options": {"target": "tag"}},
        ],
    )
    with pytest.raises(Conflict), change(instance) as tx:
        tx.purge_field("item", "qty")  # only from the recycle bin
    with change(instance) as tx:
        tx.delete_field("item", "qty")
    with change(instance) as tx:
        tx.purge_field("item", "qty")
    assert "qty" not in physical_columns(instance, "o_item")
    with change(instance) as tx:
        tx.add_field("item", {"api_name": "qty", "label": "Qty", "type": "text"})  # the name is free again
    with change(instance) as tx:
        tx.delete_object("item")
    with change(instance) as tx:
        tx.purge_object("item")
    state = snapshot(instance)
    assert not [t for t in state["tables"] if t.startswith(("o_item", "m_item"))]
    assert not [k for k in state["definitions"] if k[1] == "item" or k[1].startswith("item.")]
    assert state["counters"] == []


def test_purge_expired_empties_the_recycle_bin_after_the_retention_period(instance, tenant):
    make_items(instance, 10)
    with change(instance) as tx:
        tx.delete_field("item", "note")
    binding = instance.db.bind("acme")
    assert purge_expired(binding, field_types(instance), ACTOR, retention_days=1) == []
    assert purge_expired(binding, field_types(instance), ACTOR, retention_days=0) == ["field item.note"]
    assert "note" not in physical_columns(instance, "o_item")


def _physical_schema(instance, object_name: str) -> dict:
    """The object's table and junction tables as the database has them,
    with the object's name taken out of every table and index name."""
    state = snapshot(instance)["tables"]
    mine = {name: table for name, table in state.items() if name in (f"o_{object_name}",) or f"_{object_name}_" in name}

    def neutral(text):
        return text.replace(object_name, "OBJECT")

    return {
        neutral(name): {
            "columns": table["columns"],
            "indexes": [(neutral(n), columns, unique) for n, columns, unique in table["indexes"]],
            "foreign_keys": [(neutral(n), columns, neutral(target)) for n, columns, target in table["foreign_keys"]],
        }
        for name, table in mine.items()
    }


def test_an_object_created_with_its_fields_gets_the_table_it_would_get_field_by_field(instance, tenant):
    """A change creates a new object's table once, with its fields' columns,
    indexes and foreign keys (a package install creates dozens); the result
    is the table adding each field to the empty object makes."""
    create_object(instance, "target")
    create_object(instance, "whole", EVERY_TYPE_FIELDS)
    create_object(instance, "piece")
    for document in EVERY_TYPE_FIELDS:
        with change(instance) as tx:
            tx.add_field("piece", document)
    whole = _physical_schema(instance, "whole")
    assert whole == _physical_schema(instance, "piece")
    assert len(whole) == 2  # the table and the many-to-many's junction table
    # The auto-number was started, and the model reads and writes the new table.
    records = store(instance)
    target = records.create("target", {"name": "t"})["id"]
    created = records.create("whole", {"name": "first", "f_lookup": target, "f_master": target})
    assert created["f_auto"] == "S-0001" and created["f_master"]["id"] == target


def test_what_a_change_reads_on_its_connection_sees_the_tables_and_definitions_it_wrote(instance, tenant):
    with change(instance) as tx:
        tx.create_object({"api_name": "fresh", "label": "Fresh"}, [{"api_name": "code", "label": "C", "type": "text"}])
        conn = tx.conn
        table = sa.Table("o_fresh", sa.MetaData(), sa.Column("code"), schema=tenant.schema)
        assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar() == 0
        rows = conn.execute(sa.select(meta_definitions.c.key).where(meta_definitions.c.kind == "field")).scalars()
        assert {"fresh.name", "fresh.code"} <= set(rows)


# -- failure injection ---------------------------------------------------------------------------


class Injected(RuntimeError):
    pass


def _after(original, calls: int = 1):
    """A wrapper running ``original``, then raising once it has run ``calls`` times."""
    seen = {"n": 0}

    def wrapper(*args, **kwargs):
        result = original(*args, **kwargs)
        seen["n"] += 1
        if seen["n"] >= calls:
            raise Injected(f"injected after {original.__name__}")
        return result

    return wrapper


def _fail(*_args, **_kwargs):
    raise Injected("injected")


# (name, what to break, the change that then fails)
FAILURES = [
    (
        "add_field after its column was added",
        lambda mp: mp.setattr(SchemaEditor, "add_field", _after(SchemaEditor.add_field)),
        lambda tx: tx.add_field("item", {"api_name": "extra", "label": "E", "type": "text", "indexed": True}),
    ),
    (
        "the definition write after a lookup's column, index and foreign key",
        lambda mp: mp.setattr(ChangeSet, "_write", _fail),
        lambda tx: tx.add_field(
            "item", {"api_name": "other", "label": "O", "type": "lookup", "options": {"target": "other"}}
        ),
    ),
    (
        "create_object when its third field's column type breaks",
        lambda mp: mp.setattr(IntegerType, "column_type", _fail),
        lambda tx: tx.create_object(
            {"api_name": "fresh", "label": "Fresh"},
            [{"api_name": "a", "label": "A", "type": "text"}, {"api_name": "b", "label": "B", "type": "integer"}],
        ),
    ),
    (
        "the fourth definition write of create_object",
        lambda mp: mp.setattr(ChangeSet, "_write", _after(ChangeSet._write, 4)),
        lambda tx: tx.create_object(
            {"api_name": "fresh", "label": "Fresh"},
            [{"api_name": "a", "label": "A", "type": "text"}, {"api_name": "b", "label": "B", "type": "integer"}],
        ),
    ),
    (
        "new objects' tables, created whole with their indexes and foreign keys at the end",
        lambda mp: mp.setattr(SchemaEditor, "flush", _after(SchemaEditor.flush)),
        lambda tx: _two_new_objects(tx),
    ),
    (
        "new objects' definition rows, written together at the end",
        lambda mp: mp.setattr(ChangeSet, "flush", _after(ChangeSet.flush)),
        lambda tx: _two_new_objects(tx),
    ),
    (
        "a many-to-many after its junction table was created",
        lambda mp: mp.setattr(SchemaEditor, "_create_junction", _after(SchemaEditor._create_junction)),
        lambda tx: tx.add_field(
            "item", {"api_name": "links", "label": "L", "type": "many_to_many", "options": {"target": "other"}}
        ),
    ),
    (
        "an auto-number after existing records were numbered",
        lambda mp: mp.setattr(SchemaEditor, "_start_counter", _after(SchemaEditor._start_counter)),
        lambda tx: tx.add_field(
            "item", {"api_name": "ref", "label": "R", "type": "auto_number", "options": {"format": "{0}"}}
        ),
    ),
    (
        "text to picklist after values were converted and the column altered",
        lambda mp: mp.setattr(SchemaEditor, "alter_type", _after(SchemaEditor.alter_type)),
        lambda tx: tx.update_field(
            "item", "code", {"type": "picklist", "options": {"values": STATUS_VALUES}}, clear_unconvertible=True
        ),
    ),
    (
        "integer to decimal after the column was altered",
        lambda mp: mp.setattr(SchemaEditor, "alter_type", _after(SchemaEditor.alter_type)),
        lambda tx: tx.update_field("item", "qty", {"type": "decimal"}),
    ),
    (
        "making a field unique after its index was created",
        lambda mp: mp.setattr(SchemaEditor, "change_indexes", _after(SchemaEditor.change_indexes)),
        lambda tx: tx.update_field("item", "name", {"unique": True}),
    ),
    (
        "purging a field after its column was dropped",
        lambda mp: mp.setattr(SchemaEditor, "drop_field", _after(SchemaEditor.drop_field)),
        lambda tx: tx.purge_field("item", "binned"),
    ),
    (
        "purging an object after its tables were dropped",
        lambda mp: mp.setattr(SchemaEditor, "drop_object", _after(SchemaEditor.drop_object)),
        lambda tx: tx.purge_object("gone"),
    ),
    (
        "the audit entry, after the revision was written",
        lambda mp: mp.setattr(changes_module.audit, "record", _fail),
        lambda tx: (
            tx.delete_field("item", "note"),
            tx.add_field("item", {"api_name": "z", "label": "Z", "type": "date"}),
        ),
    ),
]


def _two_new_objects(tx) -> None:
    """What a package install does: objects created with their fields (their
    tables wait for the end of the change), one pointing at the other."""
    tx.create_object({"api_name": "fresh", "label": "Fresh"}, [{"api_name": "a", "label": "A", "type": "text"}])
    tx.create_object(
        {"api_name": "fresh_line", "label": "Fresh line"},
        [
            {"api_name": "code", "label": "Code", "type": "text", "unique": True},
            {"api_name": "ref", "label": "Ref", "type": "auto_number", "options": {"format": "{0}"}},
        ],
    )
    tx.add_field("fresh_line", {"api_name": "fresh", "label": "F", "type": "lookup", "options": {"target": "fresh"}})
    tx.add_field(
        "fresh_line", {"api_name": "tagged", "label": "T", "type": "many_to_many", "options": {"target": "other"}}
    )


def _failure_world(instance) -> None:
    create_object(instance, "other")
    create_object(
        instance, "gone", [{"api_name": "tags", "label": "T", "type": "many_to_many", "options": {"target": "other"}}]
    )
    create_object(instance, "item", [*ITEM_FIELDS, {"api_name": "binned", "label": "B", "type": "text"}])
    insert_rows(instance, "item", [{**row, "binned": f"b{i}"} for i, row in enumerate(_item_rows(300))])
    insert_rows(instance, "gone", [{"name": f"g{i}"} for i in range(20)])
    insert_rows(instance, "other", [{"name": f"o{i}"} for i in range(20)])
    with change(instance) as tx:
        tx.delete_field("item", "binned")
    with change(instance) as tx:
        tx.delete_object("gone")


@pytest.mark.parametrize(("name", "breakage", "action"), FAILURES, ids=[f[0] for f in FAILURES])
def test_a_failure_in_the_middle_of_a_change_leaves_nothing_half_done(
    instance, tenant, monkeypatch, name, breakage, action
):
    _failure_world(instance)
    model_before = model_for(instance, tenant)
    before = snapshot(instance)
    breakage(monkeypatch)
    with pytest.raises(Injected), change(instance, name) as tx:
        action(tx)
    monkeypatch.undo()
    assert snapshot(instance) == before
    assert model_for(instance, tenant) is model_before
    # Nothing is wedged: the same change now goes through.
    with change(instance, name) as tx:
        action(tx)
    assert snapshot(instance)["revision"] == before["revision"] + 1


def test_a_failing_rollback_leaves_nothing_half_done(instance, tenant, monkeypatch):
    _failure_world(instance)
    with change(instance) as tx:
        tx.add_field("item", {"api_name": "later", "label": "L", "type": "text"})
    before = snapshot(instance)
    monkeypatch.setattr(ChangeSet, "delete_field", _after(ChangeSet.delete_field))
    with pytest.raises(Injected):
        service(instance).rollback(before["revision"] - 3)
    monkeypatch.undo()
    assert snapshot(instance) == before


# -- revisions and rollback ------------------------------------------------------------------------


def test_every_change_is_a_revision_with_its_actor_and_the_before_and_after(instance, tenant):
    create_object(instance, "item", ITEM_FIELDS[:1])
    with change(instance, "relabel code") as tx:
        tx.update_field("item", "code", {"label": "Code no."})
    with change(instance, "nothing"):
        pass  # a change that changes nothing is no revision
    meta = service(instance)
    listed = meta.revisions()
    assert [r["revision"] for r in listed] == [2, 1]
    assert listed[0]["actor_email"] == ACTOR.email and listed[0]["summary"] == "relabel code"
    revision = meta.revision(2)
    [entry] = revision["changes"]
    assert entry["kind"] == "field" and entry["key"] == "item.code"
    assert entry["before"]["document"]["label"] == "Code"
    assert entry["after"]["document"]["label"] == "Code no."
    created = meta.revision(1)["changes"]
    assert {(e["kind"], e["key"]) for e in created} == {
        ("object", "item"),
        ("field", "item.name"),
        ("field", "item.code"),
    }
    assert all(e["before"] is None for e in created if e["kind"] == "field")
    logged = audit_entries(instance, "metadata.changed")
    assert [e["details"]["revision"] for e in logged] == [2, 1]
    with pytest.raises(NotFound):
        meta.revision(99)


def test_rollback_brings_back_deleted_fields_with_data_and_bins_fields_added_later(instance, tenant):
    before = make_items(instance, 2000)
    target = snapshot(instance)["revision"]
    with change(instance) as tx:
        tx.delete_field("item", "note")
    with change(instance) as tx:
        tx.add_field("item", {"api_name": "later", "label": "Later", "type": "integer"})
        tx.update_field("item", "code", {"label": "Renamed"})
        tx.add_field("item", {"api_name": "title", "label": "Title", "type": "text"})
        tx.update_object("item", {"name_field": "title", "search_fields": ["title", "code"]})
    insert_rows(instance, "item", [{"name": "after", "later": 7, "title": "T"}])
    revision = service(instance).rollback(target)
    assert revision == target + 3
    model = model_for(instance, tenant)
    assert "note" in model.object("item").fields and not {"later", "title"} & set(model.object("item").fields)
    assert model.object("item").name_field == "name" and model.object("item").search_fields == ["name"]
    assert field_doc(instance, "item", "code")["label"] == "Code"
    for field, values in before.items():
        assert {k: v for k, v in column_values(instance, "item", field).items() if k <= 2000} == values
    assert stored_column(instance, "o_item", "later")[2001] == 7  # binned, with its data
    # Rolling back the rollback brings the later field back, with its data.
    service(instance).rollback(revision - 1)
    assert column_values(instance, "item", "later")[2001] == 7
    assert "note" not in model_for(instance, tenant).object("item").fields


def test_rollback_past_the_creation_of_an_object_puts_it_in_the_recycle_bin(instance, tenant):
    create_object(instance, "account")
    target = snapshot(instance)["revision"]
    create_object(
        instance, "contact", [{"api_name": "account", "label": "A", "type": "lookup", "options": {"target": "account"}}]
    )
    with change(instance) as tx:
        tx.add_field(
            "account", {"api_name": "main_contact", "label": "M", "type": "lookup", "options": {"target": "contact"}}
        )
    create_object(
        instance, "deal", [{"api_name": "contact", "label": "C", "type": "lookup", "options": {"target": "contact"}}]
    )
    store(instance).create("contact", {"name": "Ann"})
    service(instance).rollback(target)
    model = model_for(instance, tenant)
    assert set(model.objects) == {"account"} and "main_contact" not in model.object("account").fields
    with change(instance) as tx:
        tx.restore_object("contact")
    assert store(instance).get("contact", 1)["name"] == "Ann"


def test_rollback_needing_an_unsafe_type_change_is_refused_and_changes_nothing(instance, tenant):
    make_items(instance, 50)
    target = snapshot(instance)["revision"]
    with change(instance) as tx:
        tx.update_field("item", "status", {"type": "multi_picklist"})
    before = snapshot(instance)
    with pytest.raises(ValidationFailed):
        service(instance).rollback(target)
    assert snapshot(instance) == before


def test_rollback_only_goes_to_an_earlier_revision(instance, tenant):
    create_object(instance, "item")
    meta = service(instance)
    for number in (1, 2, -1):
        with pytest.raises(ValidationFailed):
            meta.rollback(number)


def test_a_type_change_that_would_make_unique_values_repeat_is_refused(instance, tenant):
    create_object(instance, "item", [{"api_name": "code", "label": "Code", "type": "text", "unique": True}])
    insert_rows(instance, "item", [{"name": "a", "code": "Won"}, {"name": "b", "code": "won"}])
    before = snapshot(instance)
    with pytest.raises(Conflict) as refused, change(instance) as tx:
        tx.update_field("item", "code", {"type": "picklist", "options": {"values": STATUS_VALUES}})
    assert "unique" in refused.value.details["fields"]
    assert snapshot(instance) == before


def test_a_deleted_many_to_many_field_keeps_its_links_until_restored(instance, tenant):
    create_object(instance, "tag")
    create_object(
        instance, "item", [{"api_name": "tags", "label": "Tags", "type": "many_to_many", "options": {"target": "tag"}}]
    )
    s = store(instance)
    red, blue = s.bulk_create("tag", [{"name": "red"}, {"name": "blue"}])
    item = s.create("item", {"name": "i", "tags": [red["id"], blue["id"]]})
    with change(instance) as tx:
        tx.delete_field("item", "tags")
    assert "tags" not in store(instance).get("item", item["id"])
    with change(instance) as tx:
        tx.restore_field("item", "tags")
    assert [t["name"] for t in store(instance).get("item", item["id"])["tags"]] == ["red", "blue"]


def test_rollback_cannot_bring_back_what_was_purged_and_changes_nothing(instance, tenant):
    make_items(instance, 20)
    target = snapshot(instance)["revision"]
    with change(instance) as tx:
        tx.delete_field("item", "note")
    with change(instance) as tx:
        tx.purge_field("item", "note")
    before = snapshot(instance)
    with pytest.raises(Conflict):
        service(instance).rollback(target)
    assert snapshot(instance) == before


def test_rollback_puts_layouts_and_list_views_back_as_they_were(instance, tenant):
    make_items(instance, 5)
    layout = {"api_name": "main", "label": "Main", "sections": [{"label": "S", "fields": ["name", "code"]}]}
    with change(instance) as tx:
        tx.put_layout("item", layout)
        tx.put_list_view("item", {"api_name": "old", "label": "Old", "columns": ["name"]})
    target = snapshot(instance)["revision"]
    with change(instance) as tx:
        tx.put_layout("item", {**layout, "label": "Changed"})
        tx.delete_scoped("list_view", "item", "old")
        tx.put_list_view("item", {"api_name": "new", "label": "New", "columns": ["qty"]})
    service(instance).rollback(target)
    state = model_for(instance, tenant).definitions
    assert [d.document for d in state.scoped("layout", "item")] == [layout]
    assert [d.key for d in state.scoped("list_view", "item")] == ["item.old"]
