"""Typed rows (issue 16 item 3, issue 12 item 8): the import types each cell
once (``engine.cell_parser``) and hands the store column values
(``bulk_create``/``bulk_update`` with ``typed=True``). The records, their
audit entries and the errors must be what the same rows as JSON give."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import marshmallow as ma
import pytest

from metacrm.data.imports.engine import MEMO_TEXTS, cell_parser
from metacrm.metadata.fieldtypes import FieldType
from metacrm.metadata.fieldtypes.base import SLOW
from metacrm.metadata.fieldtypes.registry import builtin_registry
from metacrm.metadata.store.loading import RowLoader
from metacrm.metadata.store.write import _AS_JSON
from metacrm.metadata.values import json_safe
from metacrm.platform import audit
from metacrm.platform.errors import Forbidden
from tests.metadata.conftest import PICK_VALUES, create_object, store

REGISTRY = builtin_registry()

FIELDS = [
    {"api_name": "status", "label": "Status", "type": "picklist", "options": {"values": PICK_VALUES}},
    {"api_name": "amount", "label": "Amount", "type": "currency"},
    {"api_name": "seats", "label": "Seats", "type": "integer", "default": 5},
    {"api_name": "due", "label": "Due", "type": "date"},
    {"api_name": "vip", "label": "VIP", "type": "boolean"},
    {"api_name": "mail", "label": "Mail", "type": "email"},
    {"api_name": "ref", "label": "Ref", "type": "auto_number", "options": {"format": "R-{000}"}},
]


def _bound(definition: dict):
    return REGISTRY.bind({"label": definition["api_name"], **definition})


def _outcome(function, text):
    try:
        value = function(text)
    except ValueError as exc:
        return ("error", str(exc))
    except ma.ValidationError as exc:
        return ("error", json_safe(exc.messages))
    return ("ok", type(value).__name__, str(value) if isinstance(value, Decimal) else value)


CELLS = {
    "text": ["abc", "  abc ", "x" * 300],
    "integer": ["42", "-7", "4 2", "1.5", "99999999999999999999"],
    "currency": ["12.345", "1,5", "1e3", "NaN", "42", "999999999999999999999"],
    "percent": ["50", "50.5", "abc"],
    "date": ["2024-01-31", "2024/01/31", "31.01.2024", "2024-02-30", "soon"],
    "boolean": ["true", "YES", "是", "n", "0", "maybe"],
    "email": ["x@example.com", " Buyer@Example.COM ", "not an address"],
    "picklist": ["open", "Open", "won", "nope"],
}


@pytest.mark.parametrize("type_name", sorted(CELLS))
def test_a_cell_parses_to_the_value_the_store_would_load_from_the_old_hand_off(type_name):
    """Before: the cell went to the store as text (when the fast loader took
    it) or as the JSON of ``parse_import``, and the store loaded it. Now the
    import loads it; the column value (or the message) is the same, also
    when the text comes again (the memo)."""
    options = {"values": PICK_VALUES} if type_name == "picklist" else {}
    field_type = _bound({"api_name": "f", "type": type_name, "options": options})
    fast, load = field_type.column_loaders[0], field_type.column_loader

    def old_hand_off(text):
        if fast is not None and fast(text) is not SLOW:
            return load(text)
        return load(json_safe(field_type.parse_import(text)))

    parse = cell_parser(field_type)
    for text in CELLS[type_name] * 2:  # the second round answers from the memo
        expected = _outcome(old_hand_off, text)
        got = _outcome(parse, text)
        if expected[0] == "error":
            assert got[0] == "error", f"{type_name} {text!r}: {got}"
        else:
            assert got == expected, f"{type_name} {text!r}: {got} != {expected}"


def test_the_memo_keeps_a_bounded_number_of_texts_and_never_shares_a_list():
    field_type = _bound({"api_name": "n", "type": "integer"})
    parse = cell_parser(field_type)
    for number in range(MEMO_TEXTS + 50):
        assert parse(str(number)) == number
    memo = next(c.cell_contents for c in parse.__closure__ if isinstance(c.cell_contents, dict))
    assert len(memo) == MEMO_TEXTS

    class Listed(FieldType):  # a plugin type whose column value is a list
        name = "listed"
        label = "Listed"

        def marshmallow_field(self):
            return ma.fields.List(ma.fields.String(), allow_none=True)

        def parse_import(self, text):
            return text.split(";")

    parse_listed = cell_parser(Listed({"api_name": "l"}))
    first, second = parse_listed("a;b"), parse_listed("a;b")
    assert first == second == ["a", "b"] and first is not second


def test_the_audit_conversions_are_json_safes():
    values = [
        Decimal("1.00"),
        Decimal("-0.50"),
        Decimal("1E+2"),
        Decimal("0"),
        Decimal("123456789012345678.12"),
        dt.date(2024, 1, 2),
        dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        dt.datetime(2024, 1, 2, 3, 4, 5, 123),
    ]
    for value in values:
        got, expected = _AS_JSON[type(value)](value), json_safe(value)
        assert (got, type(got)) == (expected, type(expected)), value


@pytest.fixture
def deals(instance, tenant):
    create_object(instance, "deal", FIELDS)
    return instance


def test_typed_rows_check_names_like_any_write_and_take_values_as_they_are(deals):
    obj = store(deals).model.object("deal")
    names = set(obj.fields)
    load = RowLoader(obj).bind(names, names, typed=True)
    values, many, errors = load({"name": "A", "amount": Decimal("1.50"), "due": dt.date(2026, 1, 2)}, True)
    assert (values, many, errors) == (
        {"name": "A", "amount": Decimal("1.50"), "due": dt.date(2026, 1, 2), "seats": 5},
        {},
        {},
    )
    _, _, errors = load({"ref": "R-1", "created_at": "x", "bogus": 1}, True)
    assert errors == {
        "ref": ["is read-only"],
        "created_at": ["is a system field and cannot be written"],
        "bogus": ["unknown field"],
    }
    assert RowLoader(obj).bind(names - {"amount"}, names, typed=True)({"amount": 1}, False)[2] == {
        "amount": ["unknown field"]
    }
    with pytest.raises(Forbidden):
        RowLoader(obj).bind(names, names - {"amount"}, typed=True)({"amount": 1}, False)


def test_a_typed_bulk_create_and_update_store_and_audit_what_json_rows_do(deals):
    records = store(deals)
    obj = records.model.object("deal")
    json_rows = [
        {"name": f"d{i}", "status": "won", "amount": f"{i}.455", "due": "2026-03-04", "vip": i % 2 == 0}
        for i in range(5)
    ]
    typed_rows = [{k: obj.fields[k].column_loader(v) for k, v in row.items()} for row in json_rows]
    assert typed_rows[1]["amount"] == Decimal("1.46") and typed_rows[1]["due"] == dt.date(2026, 3, 4)
    from_json = records.bulk_create("deal", json_rows, read_back=False)
    from_typed = store(deals).bulk_create("deal", typed_rows, read_back=False, typed=True)
    system = {"id", "ref", "created_at", "updated_at", "version", "owner"}

    def shown(ids):
        return [{k: v for k, v in records.get("deal", i["id"]).items() if k not in system} for i in ids]

    assert shown(from_json) == shown(from_typed)
    with deals.db.bind("acme").connect() as conn:
        logged = {int(e["record_id"]): e["details"] for e in audit.entries(conn, action="record.created", limit=20)}
    for a, b in zip(from_json, from_typed, strict=True):
        details_a, details_b = dict(logged[a["id"]]["values"]), dict(logged[b["id"]]["values"])
        assert details_a.pop("ref") != details_b.pop("ref")
        assert details_a == details_b
    changes = [{"id": r["id"], "amount": Decimal("9.99"), "seats": 7} for r in from_typed]
    store(deals).bulk_update("deal", changes, read_back=False, typed=True)
    assert [records.get("deal", r["id"])["amount"] for r in from_typed] == [Decimal("9.99")] * 5


def test_the_statistics_check_is_skipped_while_a_batch_is_under_a_tenth_of_the_known_rows(monkeypatch):
    from metacrm.metadata.store.write import KnownRows

    known = KnownRows()
    assert known.may_be_stale(1000)  # never asked
    known.remember(50_000.0)
    assert not known.may_be_stale(1000) and known.may_be_stale(5000)
    known.remember(None)  # analysed (or SQLite): ask again next time
    assert known.may_be_stale(1000)
    known.remember(50_000.0)
    monkeypatch.setattr(KnownRows, "FOR_SECONDS", -1.0)  # a minute later
    assert known.may_be_stale(1000)


def test_an_import_raises_the_collectors_first_threshold_and_the_last_to_end_restores_it():
    import gc

    from metacrm.data.imports.engine import GC_FIRST_GENERATION, _fewer_collections

    before = gc.get_threshold()
    with _fewer_collections():
        raised = gc.get_threshold()
        with _fewer_collections():  # a second import at once, in another thread
            assert gc.get_threshold() == raised
        assert gc.get_threshold() == raised  # the first still runs
    assert raised == (max(GC_FIRST_GENERATION, before[0]), *before[1:])
    assert gc.get_threshold() == before
