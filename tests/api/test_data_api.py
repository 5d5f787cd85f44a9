"""``/api/v1/data``: records of every field type over HTTP, optimistic locking,
bad input (refused with details, nothing written), list parameters, delete
and restore, related records and the audit trail."""

from __future__ import annotations

import pytest

from tests.metadata.conftest import EVERY_TYPE_FIELDS, AcmeWorld, snapshot

META = "/api/v1/meta"
DATA = "/api/v1/data"
SYSTEM = ("id", "owner_id", "version", "created_at", "updated_at", "created_by", "updated_by")


@pytest.fixture
def world(instance, app):
    return AcmeWorld(instance, app)


@pytest.fixture
def admin(world) -> dict:
    return world.bearer("admin@acme.test", "acme")


def define(client, headers, api_name: str, fields: list[dict], **document) -> None:
    body = {"api_name": api_name, "label": api_name.title(), "fields": fields, **document}
    response = client.post(f"{META}/objects", json=body, headers=headers)
    assert response.status_code == 201, response.json


@pytest.fixture
def sample(client, admin) -> dict:
    """Objects ``target`` (records T1, T2) and ``sample`` (a field of every type)."""
    define(client, admin, "target", [])
    define(client, admin, "sample", EVERY_TYPE_FIELDS)
    made = client.post(f"{DATA}/target/bulk", json={"records": [{"name": "T1"}, {"name": "T2"}]}, headers=admin)
    t1, t2 = (r["id"] for r in made.json["data"])
    return {"t1": t1, "t2": t2}


def count(client, headers, object_name: str) -> int:
    return client.get(f"{DATA}/{object_name}?count=true&limit=1", headers=headers).json["total"]


# -- every field type ------------------------------------------------------------------------

RICH = (
    '<p onclick="steal()">Hi <script>alert(1)</script><b>there</b> '
    '<a href="javascript:alert(1)">bad</a> <a href="https://example.com">good</a></p>'
    "<style>p{}</style><iframe src='https://evil.test'></iframe>"
)


def test_every_field_type_round_trips_through_the_api(client, admin, sample):
    t1, t2 = sample["t1"], sample["t2"]
    sent = {
        "name": "Sample",
        "f_text": "  Hello  ",
        "f_long": "line 1\n  line 2  ",
        "f_rich": RICH,
        "f_email": "Ann.Lee@Example.com",
        "f_phone": "+1 (555) 010-2000",
        "f_url": "https://example.com/a?b=c&d=e",
        "f_int": 9007199254740993,
        "f_dec": "1234.5675",
        "f_cur": 99.99,
        "f_pct": "12.5",
        "f_bool": False,
        "f_date": "2028-02-29",
        "f_dt": "2026-11-22T09:30:00+08:00",
        "f_pick": "won",
        "f_multi": ["lost", "open"],
        "f_tags": ["x", "Y", "y", " z "],
        "f_lookup": t1,
        "f_master": {"id": t2},
        "f_many": [t2, t1, t2],
    }
    created = client.post(f"{DATA}/sample", json=sent, headers=admin)
    assert created.status_code == 201, created.json
    expected = {
        "name": "Sample",
        "f_text": "Hello",
        "f_long": "line 1\n  line 2  ",
        "f_email": "Ann.Lee@Example.com",
        "f_phone": "+1 (555) 010-2000",
        "f_url": "https://example.com/a?b=c&d=e",
        "f_int": 9007199254740993,
        "f_dec": 1234.568,
        "f_cur": 99.99,
        "f_pct": 12.5,
        "f_bool": False,
        "f_date": "2028-02-29",
        "f_dt": "2026-11-22T01:30:00+00:00",
        "f_pick": "won",
        "f_multi": ["open", "lost"],
        "f_tags": ["x", "Y", "z"],
        "f_lookup": {"id": t1, "name": "T1"},
        "f_master": {"id": t2, "name": "T2"},
        "f_many": [{"id": t1, "name": "T1"}, {"id": t2, "name": "T2"}],
        "f_auto": "S-0001",
    }
    record = created.json
    assert {k: v for k, v in record.items() if k in expected} == expected
    rich = record["f_rich"]
    assert "<b>there</b>" in rich and 'href="https://example.com"' in rich
    for bad in ("script", "alert", "onclick", "javascript", "style", "iframe"):
        assert bad not in rich
    for name in ("f_dec", "f_cur", "f_pct"):
        assert isinstance(record[name], float)  # JSON numbers, not strings
    fetched = client.get(f"{DATA}/sample/{record['id']}", headers=admin)
    assert fetched.json == record
    assert client.get(f"{DATA}/sample", headers=admin).json["data"] == [record]
    # What a client reads it may send back unchanged.
    echo = {k: v for k, v in record.items() if k not in (*SYSTEM, "f_auto")}
    again = client.patch(f"{DATA}/sample/{record['id']}", json=echo, headers=admin)
    assert again.status_code == 200, again.json
    assert {k: v for k, v in again.json.items() if k not in ("version", "updated_at")} == {
        k: v for k, v in record.items() if k not in ("version", "updated_at")
    }
    second = client.post(f"{DATA}/sample", json={"name": "Second", "f_master": t1}, headers=admin).json
    assert second["f_auto"] == "S-0002"
    empty = {k: v for k, v in second.items() if k.startswith("f_") and k not in ("f_auto", "f_master")}
    assert empty == {
        **{k: None for k in empty},
        "f_multi": [],
        "f_tags": [],
        "f_many": [],
    }


WRONG_VALUES = [
    ("f_text", 5),
    ("f_text", "x" * 256),
    ("f_text", "nul\x00byte"),
    ("f_long", ["a"]),
    ("f_rich", {"html": "<p>"}),
    ("f_email", "not-an-email"),
    ("f_phone", "call me"),
    ("f_url", "ftp://example.com"),
    ("f_url", "javascript:alert(1)"),
    ("f_int", "1.5"),
    ("f_int", 1.5),
    ("f_int", True),
    ("f_int", 2**63),
    ("f_dec", "abc"),
    ("f_dec", "1e12"),
    ("f_dec", "NaN"),
    ("f_cur", [1]),
    ("f_pct", True),
    ("f_bool", 1),
    ("f_bool", "maybe"),
    ("f_date", "2026-02-30"),
    ("f_date", "22/11/2026"),
    ("f_dt", "yesterday"),
    ("f_pick", "maybe"),
    ("f_pick", ["open"]),
    ("f_multi", "open"),
    ("f_multi", ["open", "nope"]),
    ("f_tags", "a"),
    ("f_tags", ["a;b"]),
    ("f_lookup", "abc"),
    ("f_lookup", 0),
    ("f_lookup", 999),
    ("f_master", None),
    ("f_many", [1, "x"]),
    ("f_many", 5),
    ("f_many", [999]),
    ("f_auto", "S-9999"),
    ("nope", 1),
    ("owner_id", 1),
    ("created_at", "2026-01-01T00:00:00Z"),
]


def test_a_wrong_value_for_any_field_is_refused_naming_the_field_and_nothing_is_written(
    client, admin, instance, sample
):
    valid = {"name": "ok", "f_master": sample["t1"]}
    record = client.post(f"{DATA}/sample", json=valid, headers=admin).json
    before = snapshot(instance)
    for field, value in WRONG_VALUES:
        for method, url in (("post", f"{DATA}/sample"), ("patch", f"{DATA}/sample/{record['id']}")):
            response = getattr(client, method)(url, json={**valid, field: value}, headers=admin)
            assert response.status_code == 422, (method, field, value, response.json)
            error = response.json["error"]
            assert error["code"] == "validation_failed"
            assert list(error["details"]["fields"]) == [field], (field, value, error)
            assert error["details"]["fields"][field] and all(
                isinstance(m, str) for m in error["details"]["fields"][field]
            )
    assert snapshot(instance) == before


def test_values_shaped_like_sql_injection_are_stored_verbatim(client, admin, instance):
    define(client, admin, "note", [{"api_name": "body", "label": "Body", "type": "long_text"}])
    values = [
        'name"; DROP TABLE o_note;--',
        "'; DELETE FROM meta_definitions; --",
        "Robert'); DROP TABLE students;--",
        "100% _real_ \\ back'slash",
        "%' OR '1'='1",
    ]
    ids = []
    for value in values:
        response = client.post(f"{DATA}/note", json={"name": value, "body": value}, headers=admin)
        assert response.status_code == 201
        assert response.json["name"] == value and response.json["body"] == value
        ids.append(response.json["id"])
    for record_id, value in zip(ids, values, strict=True):
        assert client.get(f"{DATA}/note/{record_id}", headers=admin).json["name"] == value
        found = client.get(f"{DATA}/note", query_string={"name": value}, headers=admin).json["data"]
        assert [r["id"] for r in found] == [record_id]
        searched = client.get(f"{DATA}/note", query_string={"q": value}, headers=admin).json["data"]
        assert [r["id"] for r in searched] == [record_id]
    assert count(client, admin, "note") == len(values)
    assert "o_note" in snapshot(instance)["tables"]


# -- bulk -------------------------------------------------------------------------------------


def test_bulk_create_with_some_bad_rows_is_422_per_row_and_writes_nothing(client, admin, instance, sample):
    before = snapshot(instance)
    rows = [
        {"name": "fine", "f_master": sample["t1"]},
        {"name": "bad int", "f_master": sample["t1"], "f_int": "x"},
        {"name": "fine too", "f_master": sample["t2"]},
        {"f_master": sample["t1"], "f_pick": "maybe", "nope": 1},
        {"name": "dangling", "f_master": 999},
    ]
    response = client.post(f"{DATA}/sample/bulk", json={"records": rows}, headers=admin)
    assert response.status_code == 422
    details = response.json["error"]["details"]
    assert set(details["rows"]) == {"1", "3", "4"}
    assert set(details["rows"]["1"]["fields"]) == {"f_int"}
    assert set(details["rows"]["3"]["fields"]) == {"f_pick", "nope", "name"}
    assert details["rows"]["4"]["fields"] == {"f_master": ["no target 999"]}
    assert snapshot(instance) == before
    too_many = [{"name": f"r{i}", "f_master": sample["t1"]} for i in range(1001)]
    for body in (
        {"records": too_many},
        {"records": []},
        {"records": {"name": "x"}},
        {"operation": "merge", "records": rows[:1]},
    ):
        response = client.post(f"{DATA}/sample/bulk", json=body, headers=admin)
        assert response.status_code == 422, response.json
    assert snapshot(instance) == before
    exactly = client.post(f"{DATA}/sample/bulk", json={"records": too_many[:1000]}, headers=admin)
    assert exactly.status_code == 201 and exactly.json["count"] == 1000
    assert count(client, admin, "sample") == 1000


def test_bulk_update_is_all_or_nothing_with_optimistic_locking(client, admin, instance, sample):
    made = client.post(
        f"{DATA}/sample/bulk",
        json={"records": [{"name": f"r{i}", "f_master": sample["t1"]} for i in range(3)]},
        headers=admin,
    ).json["data"]
    ids = [r["id"] for r in made]
    client.patch(f"{DATA}/sample/{ids[2]}", json={"f_int": 1}, headers=admin)
    before = snapshot(instance)
    stale = [{"id": i, "version": 1, "f_int": 7} for i in ids]
    response = client.post(f"{DATA}/sample/bulk", json={"operation": "update", "records": stale}, headers=admin)
    assert response.status_code == 409 and response.json["error"]["details"]["id"] == ids[2]
    assert snapshot(instance) == before
    fresh = [{"id": i, "f_int": 7} for i in ids]
    response = client.post(f"{DATA}/sample/bulk", json={"operation": "update", "records": fresh}, headers=admin)
    assert response.status_code == 200 and [r["f_int"] for r in response.json["data"]] == [7, 7, 7]


# -- optimistic locking ---------------------------------------------------------------------------------


def test_stale_versions_are_refused_with_409_and_the_record_is_unchanged(client, admin, sample):
    record = client.post(f"{DATA}/sample", json={"name": "v1", "f_master": sample["t1"]}, headers=admin)
    assert record.headers["ETag"] == '"1"'
    url = f"{DATA}/sample/{record.json['id']}"
    fetched = client.get(url, headers=admin)
    assert fetched.headers["ETag"] == '"1"'

    updated = client.patch(url, json={"name": "v2"}, headers={**admin, "If-Match": '"1"'})
    assert updated.status_code == 200 and updated.headers["ETag"] == '"2"' and updated.json["version"] == 2
    current = client.get(url, headers=admin).json

    for headers, body in (
        ({"If-Match": '"1"'}, {"name": "lost"}),
        ({"If-Match": 'W/"1"'}, {"name": "lost"}),
        ({}, {"name": "lost", "version": 1}),
        ({"If-Match": '"1"'}, {"name": "lost", "version": 2}),  # the header wins
    ):
        response = client.patch(url, json=body, headers={**admin, **headers})
        assert response.status_code == 409, (headers, body)
        assert response.json["error"]["details"]["current_version"] == 2
        assert client.get(url, headers=admin).json == current

    assert client.patch(url, json={"name": "x", "version": "2"}, headers=admin).status_code == 422
    assert client.patch(url, json={"name": "x"}, headers={**admin, "If-Match": "*"}).status_code == 400
    assert client.get(url, headers=admin).json == current
    assert client.patch(url, json={"name": "v3", "version": 2}, headers=admin).headers["ETag"] == '"3"'


# -- lists ---------------------------------------------------------------------------------------------


@pytest.fixture
def accounts(client, admin):
    """Object ``account`` with 250 records: rating NULL for every fifth."""
    industries = {"values": [{"value": v} for v in ("tech", "retail", "energy")]}
    define(
        client,
        admin,
        "account",
        [
            {"api_name": "rating", "label": "Rating", "type": "integer"},
            {"api_name": "industry", "label": "Industry", "type": "picklist", "options": industries},
        ],
    )
    rows = [
        {
            "name": f"Acct {i:03d}",
            "rating": None if i % 5 == 0 else i % 9,
            "industry": ["tech", "retail", "energy"][i % 3],
        }
        for i in range(250)
    ]
    assert client.post(f"{DATA}/account/bulk", json={"records": rows}, headers=admin).status_code == 201
    return [{"id": i + 1, **row} for i, row in enumerate(rows)]


@pytest.mark.parametrize("sort", ["rating", "-rating"])
def test_keyset_pages_over_a_nullable_sort_visit_every_record_exactly_once(client, admin, accounts, sort):
    seen, url = [], f"{DATA}/account?sort={sort}&limit=23&fields=rating"
    page = client.get(url, headers=admin).json
    while True:
        seen += page["data"]
        if not page["next_cursor"]:
            break
        page = client.get(f"{url}&cursor={page['next_cursor']}", headers=admin).json
    assert sorted(r["id"] for r in seen) == list(range(1, 251)) and len(seen) == 250
    rated = sorted((r for r in accounts if r["rating"] is not None), key=lambda r: r["id"])
    rated.sort(key=lambda r: r["rating"], reverse=sort.startswith("-"))
    # NULL sorts as the largest value: last ascending, first descending.
    nulls = [r["id"] for r in accounts if r["rating"] is None]
    rated_ids = [r["id"] for r in rated]
    assert [r["id"] for r in seen] == (nulls + rated_ids if sort.startswith("-") else rated_ids + nulls)
    assert set(seen[0]) == {
        "id",
        "rating",
        "owner_id",
        "version",
        "created_at",
        "updated_at",
        "created_by",
        "updated_by",
    }


def test_offset_pages_filters_counts_and_search(client, admin, accounts):
    def ids(query: str) -> list[int]:
        response = client.get(f"{DATA}/account?sort=id&limit=200&{query}", headers=admin)
        assert response.status_code == 200, response.json
        return [r["id"] for r in response.json["data"]]

    def expect(predicate) -> list[int]:
        return [r["id"] for r in accounts if predicate(r)][:200]

    assert ids("offset=240") == list(range(241, 251))
    assert ids("industry=tech") == expect(lambda r: r["industry"] == "tech")
    assert ids("industry[ne]=tech&rating[gte]=3&rating[lt]=5") == expect(
        lambda r: r["industry"] != "tech" and r["rating"] is not None and 3 <= r["rating"] < 5
    )
    assert ids("rating[in]=1,8") == expect(lambda r: r["rating"] in (1, 8))
    assert ids("rating=1&rating=2") == []  # repeated filters all apply
    assert ids("rating[isnull]=true") == expect(lambda r: r["rating"] is None)
    assert ids("name[contains]=CT 1") == expect(lambda r: "ct 1" in r["name"].lower())
    assert ids("name[startswith]=acct 24") == expect(lambda r: r["name"].startswith("Acct 24"))
    assert ids("q=acct 00") == expect(lambda r: r["name"].startswith("Acct 00"))
    assert ids("id[gt]=245") == [246, 247, 248, 249, 250]
    counted = client.get(f"{DATA}/account?industry=energy&limit=1&count=true", headers=admin).json
    assert counted["total"] == len(expect(lambda r: r["industry"] == "energy")) and len(counted["data"]) == 1
    assert "total" not in client.get(f"{DATA}/account?limit=1", headers=admin).json


BAD_LISTS = [
    ("limit=201", 422, "limit"),
    ("limit=0", 422, "limit"),
    ("limit=many", 422, "limit"),
    ("offset=-1", 422, "offset"),
    ("cursor=not-a-cursor", 400, None),
    ("sort=name&cursor=WzFd", 400, None),
    ("cursor=WyJ4Il0", 400, None),
    ("nope=1", 422, "nope"),
    ("Name=x", 422, "Name"),
    ("name[regex]=a", 422, "name"),
    ("name[EQ]=a", 422, "name[EQ]"),
    ("filter.name=x", 422, "filter.name"),  # the screens' spelling, not the API's
    ("filter.rating[gte]=3", 422, "filter.rating[gte]"),
    ("rating[contains]=1", 422, "rating"),
    ("rating[gt]=high", 422, "rating"),
    ("industry=mining", 422, "industry"),
    ("sort=nope", 422, "nope"),
    ("sort=-nope", 422, "nope"),
    ("fields=name,secret", 422, "secret"),
]


def test_bad_list_parameters_are_refused_with_details(client, admin, accounts):
    for query, status, field in BAD_LISTS:
        response = client.get(f"{DATA}/account?{query}", headers=admin)
        assert response.status_code == status, (query, response.json)
        if field:
            assert field in response.json["error"]["details"]["fields"], (query, response.json)


def test_unknown_objects_records_and_bodies(client, admin, accounts):
    assert client.get(f"{DATA}/nothing", headers=admin).status_code == 404
    assert client.get(f"{DATA}/account/9999", headers=admin).status_code == 404
    assert client.patch(f"{DATA}/account/9999", json={"name": "x"}, headers=admin).status_code == 404
    assert client.delete(f"{DATA}/account/9999", headers=admin).status_code == 404
    assert client.post(f"{DATA}/account", data="{", content_type="application/json", headers=admin).status_code == 400
    assert client.post(f"{DATA}/account", json=["x"], headers=admin).status_code == 400
    assert client.get(f"{DATA}/account", headers={"Authorization": "Bearer nope"}).status_code == 401
    too_big = b'{"name": "' + b"x" * (11 * 1024 * 1024) + b'"}'
    response = client.post(f"{DATA}/account", data=too_big, content_type="application/json", headers=admin)
    assert response.status_code == 413 and response.json["error"]["code"] == "payload_too_large"
    assert count(client, admin, "account") == 250


# -- delete, restore, related ---------------------------------------------------------------------------


def test_delete_restore_and_the_recycle_bin_over_the_api(client, admin, accounts):
    url = f"{DATA}/account/7"
    before = client.get(url, headers=admin).json
    assert client.delete(url, headers=admin).status_code == 204
    assert client.get(url, headers=admin).status_code == 404
    assert client.get(f"{url}?deleted=true", headers=admin).json["deleted_at"]
    binned = client.get(f"{DATA}/account?deleted=true&count=true", headers=admin).json
    assert [r["id"] for r in binned["data"]] == [7] and binned["total"] == 1
    assert count(client, admin, "account") == 249
    restored = client.post(f"{url}/restore", headers=admin)
    assert restored.status_code == 200 and restored.headers["ETag"] == f'"{before["version"] + 2}"'
    assert {k: v for k, v in restored.json.items() if k not in ("version", "updated_at")} == {
        k: v for k, v in before.items() if k not in ("version", "updated_at")
    }
    assert client.post(f"{url}/restore", headers=admin).status_code == 404


def test_related_records_and_on_delete_rules_over_the_api(client, admin):
    define(client, admin, "account", [])
    define(client, admin, "tag", [])
    define(
        client,
        admin,
        "contact",
        [
            {"api_name": "account", "label": "Account", "type": "lookup", "options": {"target": "account"}},
            {"api_name": "tags", "label": "Tags", "type": "many_to_many", "options": {"target": "tag"}},
        ],
    )
    define(
        client,
        admin,
        "deal",
        [
            {
                "api_name": "account",
                "label": "A",
                "type": "lookup",
                "options": {"target": "account", "on_delete": "restrict"},
            }
        ],
    )
    acme = client.post(f"{DATA}/account", json={"name": "Acme"}, headers=admin).json["id"]
    red = client.post(f"{DATA}/tag", json={"name": "red"}, headers=admin).json["id"]
    ann = client.post(f"{DATA}/contact", json={"name": "Ann", "account": acme, "tags": [red]}, headers=admin).json
    assert ann["account"] == {"id": acme, "name": "Acme"} and ann["tags"] == [{"id": red, "name": "red"}]

    def names(path: str) -> list[str]:
        response = client.get(f"{DATA}/{path}", headers=admin)
        assert response.status_code == 200, response.json
        return [r["name"] for r in response.json["data"]]

    assert names(f"contact/{ann['id']}/related/account") == ["Acme"]
    assert names(f"contact/{ann['id']}/related/tags") == ["red"]
    assert names(f"account/{acme}/related/contact.account") == ["Ann"]
    assert client.get(f"{DATA}/contact/{ann['id']}/related/name", headers=admin).status_code == 404
    assert names(f"contact?tags[contains]={red}") == ["Ann"]

    deal = client.post(f"{DATA}/deal", json={"name": "Big", "account": acme}, headers=admin).json
    refused = client.delete(f"{DATA}/account/{acme}", headers=admin)
    assert refused.status_code == 409 and refused.json["error"]["details"]["restricted_by"] == "deal.account"
    assert client.get(f"{DATA}/contact/{ann['id']}", headers=admin).json["account"]["id"] == acme
    client.delete(f"{DATA}/deal/{deal['id']}", headers=admin)
    assert client.delete(f"{DATA}/account/{acme}", headers=admin).status_code == 204
    assert client.get(f"{DATA}/contact/{ann['id']}", headers=admin).json["account"] is None  # set_null


def test_record_changes_are_in_the_audit_log_with_old_and_new_values(client, admin, accounts):
    client.patch(f"{DATA}/account/3", json={"rating": 42, "name": "Acct 002"}, headers=admin)
    client.delete(f"{DATA}/account/3", headers=admin)
    log = client.get("/api/v1/audit?limit=500", headers=admin).json["data"]
    mine = [e for e in log if e["object"] == "account" and e["record_id"] == "3"]
    assert [e["action"] for e in mine] == ["record.deleted", "record.updated", "record.created"]
    deleted, updated, created = mine
    assert updated["details"] == {"changes": {"rating": [accounts[2]["rating"], 42]}}
    assert created["details"]["values"] == {"name": "Acct 002", "rating": 2, "industry": "energy"}
    assert all(e["actor_email"] == "admin@acme.test" and e["request_id"] for e in mine)
