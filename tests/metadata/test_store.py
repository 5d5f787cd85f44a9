"""The record store, driven directly with the system guard: queries (keyset
and offset pagination, filters, search, counts, the recycle bin, related
records), writes (all-or-nothing bulk, optimistic locking, references,
auto-numbers), delete semantics of lookups, and the audit trail."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from metacrm.metadata import store as store_module
from metacrm.metadata.store import MAX_BULK
from metacrm.platform.errors import BadRequest, Conflict, NotFound, ValidationFailed
from tests.metadata.conftest import (
    audit_entries,
    change,
    create_object,
    snapshot,
    store,
)

INDUSTRIES = [{"value": v} for v in ("tech", "retail", "energy")]
ACCOUNT_FIELDS = [
    {"api_name": "industry", "label": "Industry", "type": "picklist", "options": {"values": INDUSTRIES}},
    {"api_name": "rating", "label": "Rating", "type": "integer"},
    {"api_name": "revenue", "label": "Revenue", "type": "currency"},
    {"api_name": "founded", "label": "Founded", "type": "date"},
    {"api_name": "active", "label": "Active", "type": "boolean"},
    {"api_name": "tags", "label": "Tags", "type": "tags"},
    {"api_name": "website", "label": "Website", "type": "url"},
    {"api_name": "ref", "label": "Ref", "type": "auto_number", "options": {"format": "A-{00000}"}},
]


def _account(i: int) -> dict:
    return {
        "name": f"Account {i:03d}",
        "industry": [None, "tech", "retail", "energy"][i % 4],
        "rating": None if i % 5 == 0 else i % 7,
        "revenue": None if i % 6 == 0 else f"{i * 1000}.{i % 100:02d}",
        "founded": None if i % 9 == 0 else (dt.date(2000, 1, 1) + dt.timedelta(days=i * 13)).isoformat(),
        "active": None if i % 8 == 0 else i % 2 == 0,
        "tags": ["vip"] if i % 10 == 0 else (["small", "Vip"] if i % 10 == 1 else None),
    }


@pytest.fixture
def accounts(instance, tenant) -> list[dict]:
    """Object ``account`` with 250 records; returns them as read back, in id order."""
    create_object(instance, "account", ACCOUNT_FIELDS)
    store(instance).bulk_create("account", [_account(i) for i in range(250)])
    return _walk(instance, sort="id", limit=200)


def _walk(instance, object_name: str = "account", **query) -> list[dict]:
    """Every page of a query, following next_cursor."""
    page = store(instance).query(object_name, **query)
    seen = list(page.data)
    while page.next_cursor:
        page = store(instance).query(object_name, cursor=page.next_cursor, **query)
        seen += page.data
    return seen


def _ids(records: list[dict]) -> list[int]:
    return [r["id"] for r in records]


def _ordered(records: list[dict], field: str, desc: bool) -> list[int]:
    """Python's idea of the order: by field, then id; NULL sorts as the
    largest value (last ascending, first descending)."""
    present = sorted((r for r in records if r[field] is not None), key=lambda r: r["id"])
    present.sort(key=lambda r: r[field], reverse=desc)
    absent = sorted(_ids([r for r in records if r[field] is None]))
    return absent + _ids(present) if desc else _ids(present) + absent


# -- queries --------------------------------------------------------------------------------


def test_keyset_pagination_on_a_nullable_field_visits_every_row_exactly_once(instance, accounts):
    for sort in ("rating", "-rating", "revenue", "-founded", "industry", "-active", "-created_at"):
        walked = _walk(instance, sort=sort, limit=17)
        assert len(walked) == 250 and len(set(_ids(walked))) == 250, sort
        assert _ids(walked) == _ordered(accounts, sort.lstrip("-"), sort.startswith("-")), sort


def test_keyset_pagination_on_two_keys(instance, accounts):
    walked = _walk(instance, sort="industry,-rating", limit=9)
    expected = sorted(
        accounts,
        key=lambda r: (
            r["industry"] is None,
            r["industry"] or "",
            r["rating"] is not None,  # descending: NULL first
            -(r["rating"] or 0),
            r["id"],
        ),
    )
    assert _ids(walked) == _ids(expected)


def test_offset_pagination_pages_through_in_order(instance, accounts):
    pages = [store(instance).query("account", sort="-rating", limit=40, offset=o).data for o in range(0, 250, 40)]
    assert [len(p) for p in pages] == [40, 40, 40, 40, 40, 40, 10]
    assert [r["id"] for p in pages for r in p] == _ordered(accounts, "rating", desc=True)
    with pytest.raises(BadRequest):
        store(instance).query("account", cursor=store(instance).query("account", limit=5).next_cursor, offset=5)


FILTERS = [
    ([("industry", "eq", "tech")], lambda r: r["industry"] == "tech"),
    ([("industry", "ne", "tech")], lambda r: r["industry"] != "tech"),
    ([("industry", "in", "tech,energy")], lambda r: r["industry"] in ("tech", "energy")),
    ([("industry", "isnull", "true")], lambda r: r["industry"] is None),
    ([("rating", "gte", "3"), ("rating", "lt", "5")], lambda r: r["rating"] is not None and 3 <= r["rating"] < 5),
    ([("rating", "isnull", "false"), ("rating", "ne", "0")], lambda r: r["rating"] not in (None, 0)),
    ([("revenue", "gt", "100000.5")], lambda r: r["revenue"] is not None and r["revenue"] > Decimal("100000.5")),
    ([("founded", "lte", "2001-01-01")], lambda r: r["founded"] is not None and r["founded"] <= "2001-01-01"),
    ([("active", "eq", "true")], lambda r: r["active"] is True),
    ([("tags", "contains", "VIP")], lambda r: any(t.lower() == "vip" for t in r["tags"])),
    ([("tags", "isnull", "true")], lambda r: not r["tags"]),
    ([("name", "contains", "ount 1")], lambda r: "ount 1" in r["name"]),
    ([("name", "startswith", "account 00")], lambda r: r["name"].startswith("Account 00")),
    ([("ref", "in", "A-00001,A-00250")], lambda r: r["ref"] in ("A-00001", "A-00250")),
    ([("id", "lte", "10")], lambda r: r["id"] <= 10),
]


def test_filters_select_exactly_the_matching_records(instance, accounts):
    for filters, expected in FILTERS:
        found = _walk(instance, filters=filters, limit=200, sort="id")
        assert _ids(found) == [r["id"] for r in accounts if expected(r)], filters
        assert found, filters  # every filter above matches something
        assert store(instance).query("account", filters=filters, limit=1, count=True).total == len(found)


def test_a_bad_filter_is_refused_naming_the_field(instance, accounts):
    for name, op, value in [
        ("nope", "eq", "1"),
        ("rating", "contains", "1"),
        ("rating", "gt", "many"),
        ("industry", "eq", "mining"),
        ("founded", "gt", "yesterday"),
        ("active", "lt", "true"),
    ]:
        with pytest.raises(ValidationFailed) as refused:
            store(instance).query("account", filters=[(name, op, value)])
        assert list(refused.value.details["fields"]) == [name]


def test_sorting_on_an_unknown_or_unsortable_field_is_refused(instance, accounts):
    for sort in ("nope", "-nope", "tags"):
        with pytest.raises(ValidationFailed):
            store(instance).query("account", sort=sort)
    for limit in (0, 201, "x"):
        with pytest.raises(ValidationFailed):
            store(instance).query("account", limit=limit)


def test_a_malformed_cursor_is_a_bad_request(instance, accounts):
    # garbage, not JSON, [1], ["a", "b"], [1, 2, 3]: none fits a sort on (rating, id)
    for cursor in ("%%%", "bm90IGpzb24", "WzFd", "WyJhIiwiYiJd", "WzEsMiwzXQ"):
        with pytest.raises(BadRequest):
            store(instance).query("account", sort="rating", cursor=cursor)


def test_search_is_case_insensitive_over_the_search_fields_and_escapes_like_wildcards(instance, tenant):
    create_object(
        instance, "note", [{"api_name": "body", "label": "Body", "type": "text"}], search_fields=["name", "body"]
    )
    names = ["100% pure", "1000 pure", "a_b", "axb", "Back\\slash", "BackXslash", "plain"]
    store(instance).bulk_create("note", [{"name": n, "body": "Hidden Word" if n == "plain" else None} for n in names])

    def search(q: str) -> list[str]:
        return [r["name"] for r in store(instance).query("note", q=q, sort="id").data]

    assert search("100%") == ["100% pure"]
    assert search("a_b") == ["a_b"]
    assert search("back\\") == ["Back\\slash"]
    assert search("PURE") == ["100% pure", "1000 pure"]
    assert search("hidden word") == ["plain"]
    assert search("%") == ["100% pure"]
    assert search("nothing") == []


def test_count_gives_the_total_of_every_page(instance, accounts):
    page = store(instance).query("account", filters=[("industry", "eq", "retail")], limit=5, count=True)
    assert page.total == sum(1 for r in accounts if r["industry"] == "retail") and len(page.data) == 5
    assert store(instance).query("account", limit=5).total is None


def test_the_recycle_bin_lists_deleted_records_only(instance, accounts):
    for record_id in (3, 7, 11):
        store(instance).delete("account", record_id)
    binned = store(instance).query("account", deleted=True, sort="id", count=True)
    assert _ids(binned.data) == [3, 7, 11] and binned.total == 3
    assert all("deleted_at" in r for r in binned.data)
    assert store(instance).query("account", count=True, limit=1).total == 247
    assert store(instance).get("account", 7, deleted=True)["id"] == 7
    with pytest.raises(NotFound):
        store(instance).get("account", 7)


def test_selected_fields_only_and_unknown_fields_are_refused(instance, accounts):
    record = store(instance).get("account", 5, fields=["name", "rating"])
    assert {k for k in record if k not in ("owner_id", "version", "created_at", "updated_at")} == {
        "id",
        "name",
        "rating",
        "created_by",
        "updated_by",
    }
    with pytest.raises(ValidationFailed) as refused:
        store(instance).query("account", fields=["name", "secret"])
    assert refused.value.details == {"fields": {"secret": ["no such field"]}}


# -- relations -------------------------------------------------------------------------------


@pytest.fixture
def crm(instance, tenant):
    """account ← contact (lookup, set_null) ; contact ↔ tag (many-to-many);
    account ← deal (lookup, restrict); account ⇐ line (master-detail) ⇐ sub
    (master-detail); account ← task (lookup, cascade)."""

    def lookup(name, target, **options):
        return {"api_name": name, "label": name, "type": "lookup", "options": {"target": target, **options}}

    def master(name, target):
        return {"api_name": name, "label": name, "type": "master_detail", "options": {"target": target}}

    create_object(instance, "account")
    create_object(instance, "tag")
    create_object(
        instance,
        "contact",
        [
            lookup("account", "account"),
            {"api_name": "tags", "label": "Tags", "type": "many_to_many", "options": {"target": "tag"}},
        ],
    )
    create_object(instance, "deal", [lookup("account", "account", on_delete="restrict")])
    create_object(instance, "line", [master("account", "account")])
    create_object(instance, "sub", [master("line", "line")])
    create_object(instance, "task", [lookup("account", "account", on_delete="cascade")])
    s = store(instance)
    acme, other = s.bulk_create("account", [{"name": "Acme"}, {"name": "Other"}])
    red, blue = s.bulk_create("tag", [{"name": "red"}, {"name": "blue"}])
    s.bulk_create(
        "contact",
        [
            {"name": "Ann", "account": acme["id"], "tags": [red["id"], blue["id"]]},
            {"name": "Bob", "account": acme["id"], "tags": [{"id": blue["id"]}]},
            {"name": "Cy", "account": other["id"]},
        ],
    )
    return {"acme": acme["id"], "other": other["id"], "red": red["id"], "blue": blue["id"]}


def test_lookups_and_many_to_many_resolve_to_id_and_name(instance, crm):
    ann = store(instance).get("contact", 1)
    assert ann["account"] == {"id": crm["acme"], "name": "Acme"}
    assert ann["tags"] == [{"id": crm["red"], "name": "red"}, {"id": crm["blue"], "name": "blue"}]
    store(instance).update("account", crm["acme"], {"name": "Acme Corp"})
    assert store(instance).query("contact", sort="id", limit=1).data[0]["account"]["name"] == "Acme Corp"


def test_related_records_through_lookups_many_to_many_and_related_lists(instance, crm):
    s = store(instance)
    assert _ids(s.related("contact", 1, "account").data) == [crm["acme"]]
    assert _ids(s.related("contact", 1, "tags", sort="name").data) == [crm["blue"], crm["red"]]
    assert _ids(s.related("contact", 3, "tags").data) == []
    assert [r["name"] for r in s.related("account", crm["acme"], "contact.account", sort="name").data] == ["Ann", "Bob"]
    assert s.related("account", crm["acme"], "contact.account", count=True, limit=1).total == 2
    for bad in ("name", "nope", "deal.nope", "contact.tags"):
        with pytest.raises(NotFound):
            s.related("contact" if "." not in bad else "account", 1, bad)


def test_filters_on_lookups_and_many_to_many(instance, crm):
    s = store(instance)
    assert _ids(s.query("contact", filters=[("account", "eq", str(crm["acme"]))], sort="id").data) == [1, 2]
    assert _ids(s.query("contact", filters=[("tags", "contains", str(crm["blue"]))], sort="id").data) == [1, 2]
    assert _ids(s.query("contact", filters=[("tags", "contains", f"{crm['blue']},{crm['red']}")]).data) == [1]
    assert _ids(s.query("contact", filters=[("tags", "isnull", "true")]).data) == [3]
    with pytest.raises(ValidationFailed):
        s.query("contact", filters=[("tags", "eq", "1")])


def test_references_must_name_live_records(instance, crm):
    s = store(instance)
    with pytest.raises(ValidationFailed) as refused:
        s.create("contact", {"name": "Dee", "account": 999, "tags": [crm["red"], 998]})
    assert refused.value.details == {"fields": {"account": ["no account 999"], "tags": ["no tag 998"]}}
    s.delete("tag", crm["red"])
    with pytest.raises(ValidationFailed):
        s.update("contact", 3, {"tags": [crm["red"]]})
    # A deleted target disappears from many-to-many values, and comes back with it.
    assert _ids(s.get("contact", 1)["tags"]) == [crm["blue"]]
    s.restore("tag", crm["red"])
    assert _ids(s.get("contact", 1)["tags"]) == [crm["red"], crm["blue"]]


# -- delete semantics --------------------------------------------------------------------------


def test_soft_delete_hides_a_record_and_restore_brings_it_back(instance, crm):
    s = store(instance)
    before = s.get("contact", 3)
    s.delete("contact", 3)
    with pytest.raises(NotFound):
        s.get("contact", 3)
    with pytest.raises(NotFound):
        s.delete("contact", 3)
    assert 3 not in _ids(s.query("contact").data)
    restored = s.restore("contact", 3)
    assert {k: v for k, v in restored.items() if k not in ("version", "updated_at")} == {
        k: v for k, v in before.items() if k not in ("version", "updated_at")
    }
    assert restored["version"] == before["version"] + 2
    with pytest.raises(NotFound):
        s.restore("contact", 3)  # not in the bin


def test_restrict_refuses_to_delete_a_referenced_record_and_changes_nothing(instance, crm):
    s = store(instance)
    s.create("deal", {"name": "Big deal", "account": crm["acme"]})
    s.create("line", {"name": "L1", "account": crm["acme"]})
    before = snapshot(instance)
    with pytest.raises(Conflict) as refused:
        s.delete("account", crm["acme"])
    assert refused.value.details == {"restricted_by": "deal.account", "count": 1}
    assert snapshot(instance) == before
    s.delete("deal", 1)  # a deleted deal no longer holds the account
    s.delete("account", crm["acme"])


def test_set_null_clears_the_lookups_of_the_referring_records(instance, crm):
    s = store(instance)
    s.delete("account", crm["acme"])
    contacts = {r["name"]: r for r in s.query("contact").data}
    assert contacts["Ann"]["account"] is None and contacts["Bob"]["account"] is None
    assert contacts["Cy"]["account"] == {"id": crm["other"], "name": "Other"}
    assert contacts["Ann"]["version"] == 2
    [entry] = audit_entries(instance, "record.deleted")
    assert entry["details"] == {"cleared": {"contact.account": 2}}


def test_cascade_and_master_detail_delete_and_restore_children_together(instance, crm):
    s = store(instance)
    lines = s.bulk_create("line", [{"name": f"L{i}", "account": crm["acme"]} for i in range(3)])
    s.bulk_create("line", [{"name": "kept", "account": crm["other"]}])
    subs = s.bulk_create("sub", [{"name": f"S{i}", "line": lines[i % 3]["id"]} for i in range(4)])
    tasks = s.bulk_create("task", [{"name": "T1", "account": crm["acme"]}, {"name": "T2"}])
    # A child deleted on its own before stays deleted when the master comes back.
    s.delete("sub", subs[3]["id"])

    s.delete("account", crm["acme"])
    assert [r["name"] for r in s.query("line").data] == ["kept"]
    assert s.query("sub").data == []
    assert [r["name"] for r in s.query("task").data] == ["T2"]
    [entry] = audit_entries(instance, "record.deleted", "acme")[:1]
    cascaded = entry["details"]["cascaded"]
    assert sorted(cascaded["line"]) == _ids(lines) and sorted(cascaded["sub"]) == _ids(subs[:3])
    assert cascaded["task"] == [tasks[0]["id"]]

    s.restore("account", crm["acme"])
    assert len(s.query("line").data) == 4
    assert _ids(s.query("sub", sort="id").data) == _ids(subs[:3])
    assert len(s.query("task").data) == 2
    assert s.get("line", lines[0]["id"])["account"] == {"id": crm["acme"], "name": "Acme"}


def test_purge_removes_records_for_good(instance, crm):
    s = store(instance)
    s.create("line", {"name": "L", "account": crm["acme"]})
    s.delete("tag", crm["red"])
    s.delete("account", crm["acme"])
    assert s.purge("tag") == 1
    assert s.purge("account", [crm["acme"]]) == 1
    assert s.purge("account") == 0
    for name, record_id in (("tag", crm["red"]), ("account", crm["acme"]), ("line", 1)):
        with pytest.raises(NotFound):
            s.get(name, record_id, deleted=True)
    assert s.query("line", deleted=True).data == []  # the detail went with its master
    state = snapshot(instance)
    assert (1, crm["red"]) not in state["tables"]["m_contact_tags"]["rows"]
    assert [e["details"]["count"] for e in audit_entries(instance, "record.purged")] == [1, 1]


# -- writes ----------------------------------------------------------------------------------------


def test_bulk_create_with_bad_rows_writes_nothing_and_names_every_bad_row(instance, accounts):
    before = snapshot(instance)
    rows = [{"name": "ok"}, {"name": "bad", "rating": "x"}, {"name": None}, {"nope": 1, "name": "n"}, "not a record"]
    with pytest.raises(ValidationFailed) as refused:
        store(instance).bulk_create("account", rows)
    assert refused.value.details == {
        "rows": {
            "1": {"fields": {"rating": ["not a valid integer"]}},
            "2": {"fields": {"name": ["is required"]}},
            "3": {"fields": {"nope": ["unknown field"]}},
            "4": {"fields": {"$": ["a record must be a JSON object"]}},
        }
    }
    assert snapshot(instance) == before
    for rows in ([], [{"name": "x"}] * (MAX_BULK + 1), {"name": "x"}):
        with pytest.raises(ValidationFailed):
            store(instance).bulk_create("account", rows)
    assert snapshot(instance) == before


def test_a_failure_while_writing_leaves_no_record_and_no_number_behind(instance, accounts, monkeypatch):
    before = snapshot(instance)

    def failing(*args, **kwargs):
        raise RuntimeError("injected after the rows were written")

    # The audit entries are written last, after the rows and their numbers.
    monkeypatch.setattr(store_module.audit, "record", failing)
    monkeypatch.setattr(store_module.audit, "record_many", failing)
    with pytest.raises(RuntimeError):
        store(instance).bulk_create("account", [{"name": f"n{i}"} for i in range(5)])
    with pytest.raises(RuntimeError):
        store(instance).bulk_update("account", [{"id": i, "rating": 99} for i in range(1, 5)])
    monkeypatch.undo()
    assert snapshot(instance) == before
    assert store(instance).create("account", {"name": "next"})["ref"] == "A-00251"


def test_auto_numbers_continue_and_cannot_be_written(instance, accounts):
    assert accounts[0]["ref"] == "A-00001" and accounts[-1]["ref"] == "A-00250"
    with pytest.raises(ValidationFailed) as refused:
        store(instance).create("account", {"name": "x", "ref": "A-99999"})
    assert refused.value.details == {"fields": {"ref": ["is read-only"]}}
    assert store(instance).create("account", {"name": "x"})["ref"] == "A-00251"


def test_system_fields_cannot_be_written(instance, accounts):
    for field in ("owner_id", "created_at", "deleted_at", "updated_by"):
        with pytest.raises(ValidationFailed) as refused:
            store(instance).update("account", 1, {field: 5})
        assert refused.value.details["fields"][field] == ["is a system field and cannot be written"]


def test_update_is_partial_and_bumps_the_version(instance, accounts):
    s = store(instance)
    before = s.get("account", 2)
    after = s.update("account", 2, {"rating": 42, "tags": []}, expected_version=1)
    assert after["rating"] == 42 and after["tags"] == [] and after["version"] == 2
    assert {k: v for k, v in after.items() if k not in ("rating", "tags", "version", "updated_at")} == {
        k: v for k, v in before.items() if k not in ("rating", "tags", "version", "updated_at")
    }


def test_a_stale_version_is_refused_and_nothing_is_written(instance, accounts):
    s = store(instance)
    s.update("account", 2, {"rating": 1})
    before = snapshot(instance)
    with pytest.raises(Conflict) as refused:
        s.update("account", 2, {"rating": 2}, expected_version=1)
    assert refused.value.details["current_version"] == 2
    with pytest.raises(Conflict):
        s.bulk_update("account", [{"id": 3, "rating": 3, "version": 1}, {"id": 2, "rating": 3, "version": 1}])
    assert snapshot(instance) == before
    with pytest.raises(NotFound):
        s.update("account", 9999, {"rating": 1})
    with pytest.raises(ValidationFailed) as refused:
        s.bulk_update("account", [{"id": 3, "rating": 3}, {"id": 9999, "rating": 3}])
    assert refused.value.details == {"rows": {"1": {"fields": {"id": ["no account 9999"]}}}}
    with pytest.raises(ValidationFailed) as refused:
        s.bulk_update("account", [{"id": 3, "rating": "x"}, {"rating": 1}])
    assert set(refused.value.details["rows"]) == {"0", "1"}
    assert snapshot(instance) == before


def test_unique_values_are_enforced(instance, tenant):
    create_object(instance, "item", [{"api_name": "code", "label": "Code", "type": "text", "unique": True}])
    store(instance).create("item", {"name": "a", "code": "X1"})
    with pytest.raises(Conflict) as refused:
        store(instance).create("item", {"name": "b", "code": "X1"})
    assert refused.value.details == {"fields": {"code": ["must be unique"]}}
    with pytest.raises(Conflict):
        store(instance).bulk_create("item", [{"name": "c", "code": "X2"}, {"name": "d", "code": "X2"}])
    assert store(instance).query("item", count=True).total == 1


# -- audit -------------------------------------------------------------------------------------------


def test_create_update_delete_and_restore_write_audit_entries_with_values(instance, tenant):
    create_object(
        instance,
        "item",
        [
            {"api_name": "qty", "label": "Qty", "type": "integer"},
            {"api_name": "price", "label": "Price", "type": "decimal"},
            {"api_name": "due", "label": "Due", "type": "date"},
        ],
    )
    s = store(instance)
    record = s.create("item", {"name": "Widget", "qty": 3, "price": "9.5", "due": "2026-12-01"})
    s.update("item", record["id"], {"qty": 4, "price": "9.50", "name": "Widget"})
    s.delete("item", record["id"])
    s.restore("item", record["id"])
    [created] = audit_entries(instance, "record.created")
    assert created["object"] == "item" and created["record_id"] == str(record["id"])
    assert created["actor_email"] == "tester@acme.test"
    assert created["details"] == {"values": {"name": "Widget", "qty": 3, "price": "9.50", "due": "2026-12-01"}}
    [updated] = audit_entries(instance, "record.updated")
    assert updated["details"] == {"changes": {"qty": [3, 4]}}  # unchanged values are not listed
    [deleted] = audit_entries(instance, "record.deleted")
    assert deleted["record_id"] == str(record["id"])
    assert len(audit_entries(instance, "record.restored")) == 1


def test_a_field_that_is_deleted_is_neither_read_nor_written(instance, accounts):
    with change(instance) as tx:
        tx.delete_field("account", "rating")
    s = store(instance)
    assert "rating" not in s.get("account", 2)
    with pytest.raises(ValidationFailed):
        s.query("account", filters=[("rating", "eq", "1")])
    with pytest.raises(ValidationFailed):
        s.query("account", sort="rating")
    with pytest.raises(ValidationFailed):
        s.create("account", {"name": "x", "rating": 1})


def test_keyset_pagination_keeps_stored_text_exactly_as_it_is(instance, tenant):
    # Text kept from a long text field (or an import) may have surrounding
    # blanks, or be empty: the cursor must not trim it.
    create_object(instance, "note", [{"api_name": "body", "label": "Body", "type": "long_text"}])
    bodies = ["b", " b", "b ", "", "  ", "a", None, "a\n", "c", " ", "b", ""] * 5
    store(instance).bulk_create("note", [{"name": f"n{i}"} for i in range(len(bodies))])
    binding = instance.db.bind("acme")
    table = store(instance).object("note").table
    with binding.begin() as conn:
        for record_id, body in enumerate(bodies, start=1):
            conn.execute(table.update().where(table.c.id == record_id).values(body=body))
    with change(instance) as tx:
        tx.update_field("note", "body", {"type": "text"})
    for sort in ("body", "-body"):
        walked = _walk(instance, "note", sort=sort, limit=4)
        assert sorted(_ids(walked)) == list(range(1, len(bodies) + 1)), sort
        # the database's own order (its collation decides where blanks go)
        assert _ids(walked) == _ids(store(instance).query("note", sort=sort, limit=200).data), sort
        nulls = [r["body"] for r in walked][:5] if sort.startswith("-") else [r["body"] for r in walked][-5:]
        assert nulls == [None] * 5


def test_many_to_many_changes_are_audited_with_old_and_new_links(instance, crm):
    s = store(instance)
    red, blue = crm["red"], crm["blue"]
    s.update("contact", 1, {"tags": [blue]})
    s.update("contact", 1, {"tags": [{"id": blue}], "name": "Ann"})  # no change at all
    s.update("contact", 3, {"tags": [red, blue, red]})
    updated = audit_entries(instance, "record.updated")
    assert [(e["record_id"], e["details"]) for e in updated] == [
        ("3", {"changes": {"tags": [[], sorted([red, blue])]}}),
        ("1", {"changes": {}}),
        ("1", {"changes": {"tags": [sorted([red, blue]), [blue]]}}),
    ]
    created = {
        e["record_id"]: e["details"]["values"]
        for e in audit_entries(instance, "record.created")
        if e["object"] == "contact"
    }
    assert created["1"]["tags"] == [red, blue] and "tags" not in created["3"]


def test_cascading_deletes_through_a_self_lookup_stop_at_records_already_deleted(instance, tenant):
    parent = {
        "api_name": "parent",
        "label": "Parent",
        "type": "lookup",
        "options": {"target": "node", "on_delete": "cascade"},
    }
    create_object(instance, "node", [parent])
    s = store(instance)
    root = s.create("node", {"name": "root"})["id"]
    child = s.create("node", {"name": "child", "parent": root})["id"]
    s.update("node", root, {"parent": child})  # a cycle: root ↔ child
    selfish = s.create("node", {"name": "selfish"})["id"]
    s.update("node", selfish, {"parent": selfish})
    s.delete("node", root)
    assert _ids(s.query("node").data) == [selfish]
    s.delete("node", selfish)
    assert s.query("node").data == []
    s.restore("node", root)
    assert _ids(s.query("node", sort="id").data) == [root, child]
    assert s.purge("node") == 1
