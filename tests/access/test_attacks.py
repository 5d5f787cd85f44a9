"""What a user might try to get past the access layer, and that it fails."""

from __future__ import annotations

import datetime as dt
import re

import sqlalchemy as sa

from metacrm.access.tables import record_shares
from metacrm.app import build_instance, create_app
from tests.access.conftest import USERS


def _hide_secret_from_reps(client, acl, **extra_fields):
    response = client.put(
        "/api/v1/access/roles/sales_rep/objects/deal",
        json={
            "create": True,
            "read": "own",
            "update": "own",
            "delete": "own",
            "fields": {"secret": "hidden", "amount": "read", **extra_fields},
        },
        headers=acl.headers("admin"),
    )
    assert response.status_code == 200, response.json


# -- other people's records ------------------------------------------------------------------------


def test_guessing_the_id_of_someone_elses_record_looks_exactly_like_a_missing_one(acl):
    client = acl.client()
    rep_a = acl.headers("rep_a")
    theirs = acl.record("deal-rep_b-1")
    for method, body in (("get", None), ("patch", {"note": "mine now"}), ("delete", None)):
        guessed = client.open(f"/api/v1/data/deal/{theirs.id}", method=method.upper(), json=body, headers=rep_a)
        missing = client.open("/api/v1/data/deal/999999", method=method.upper(), json=body, headers=rep_a)
        assert guessed.status_code == missing.status_code == 404
        assert guessed.json["error"]["code"] == missing.json["error"]["code"]
        assert re.sub(r"\d+", "N", guessed.json["error"]["message"]) == re.sub(
            r"\d+", "N", missing.json["error"]["message"]
        )
    bulk = client.post(
        "/api/v1/data/deal/bulk",
        json={"operation": "update", "records": [{"id": theirs.id, "note": "x"}]},
        headers=rep_a,
    )
    assert bulk.status_code == 422
    assert bulk.json["error"]["details"]["rows"]["0"]["fields"]["id"] == [f"no deal {theirs.id}"]
    assert acl.system_store().get("deal", theirs.id)["note"] == "n"
    related = client.get(f"/api/v1/data/deal/{theirs.id}/related/deal.name", headers=rep_a)
    assert related.status_code == 404


def test_a_record_in_the_recycle_bin_stays_out_of_reach_of_those_who_could_not_see_it(acl):
    client = acl.client()
    theirs = acl.record("deal-rep_b-1")
    acl.system_store().delete("deal", theirs.id)
    rep_a = acl.headers("rep_a")
    assert client.get(f"/api/v1/data/deal/{theirs.id}?deleted=true", headers=rep_a).status_code == 404
    assert client.post(f"/api/v1/data/deal/{theirs.id}/restore", headers=rep_a).status_code == 404
    binned = client.get("/api/v1/data/deal?deleted=true", headers=rep_a).json["data"]
    assert theirs.id not in {row["id"] for row in binned}


# -- field-level security -------------------------------------------------------------------------------


def test_a_hidden_field_is_absent_from_every_output(acl):
    client = acl.client()
    _hide_secret_from_reps(client, acl)
    rep_a = acl.headers("rep_a")
    mine = acl.record("deal-rep_a-0")
    listing = client.get("/api/v1/data/deal", headers=rep_a).json["data"]
    assert listing and all("secret" not in row and "amount" in row for row in listing)
    record = client.get(f"/api/v1/data/deal/{mine.id}", headers=rep_a).json
    assert "secret" not in record and record["amount"] == 0
    assert "s3cret" not in client.get(f"/api/v1/data/deal/{mine.id}", headers=rep_a).get_data(as_text=True)
    asked = client.get(f"/api/v1/data/deal/{mine.id}?fields=name,secret", headers=rep_a)
    assert asked.status_code == 422 and "secret" in asked.json["error"]["details"]["fields"]
    created = client.post("/api/v1/data/deal", json={"name": "new"}, headers=rep_a)
    assert created.status_code == 201 and "secret" not in created.json
    # The manager's role is not restricted: the same record shows its secret.
    manager = client.get(f"/api/v1/data/deal/{mine.id}", headers=acl.headers("manager")).json
    assert manager["secret"] == "s3cret-rep_a-0"


HIDDEN_FIELD_QUERIES = [
    "secret=s3cret-rep_a-0",
    "secret[startswith]=s3cret",
    "secret[isnull]=false",
    "sort=secret",
    "sort=-secret",
    "sort=name,secret",
]


def test_filtering_or_sorting_on_a_hidden_field_is_refused_as_if_it_did_not_exist(acl):
    client = acl.client()
    _hide_secret_from_reps(client, acl)
    for query in HIDDEN_FIELD_QUERIES:
        response = client.get(f"/api/v1/data/deal?{query}", headers=acl.headers("rep_a"))
        assert response.status_code == 422, query
        assert response.json["error"]["details"]["fields"] == {"secret": ["no such field"]}, query
        assert client.get(f"/api/v1/data/deal?{query}", headers=acl.headers("manager")).status_code == 200, query


def test_searching_never_matches_on_a_hidden_field(acl):
    client = acl.client()
    _hide_secret_from_reps(client, acl)
    rep_a, manager = acl.headers("rep_a"), acl.headers("manager")
    assert client.get("/api/v1/data/deal?q=s3cret-rep_a", headers=manager).json["data"]
    assert client.get("/api/v1/data/deal?q=s3cret-rep_a", headers=rep_a).json["data"] == []
    assert client.get("/api/v1/data/deal?q=deal-rep_a", headers=rep_a).json["data"]
    # When the hidden field is the only search field, searching is refused outright.
    response = client.patch(
        "/api/v1/meta/objects/deal", json={"search_fields": ["secret"]}, headers=acl.headers("admin")
    )
    assert response.status_code == 200, response.json
    assert client.get("/api/v1/data/deal?q=s3cret", headers=rep_a).status_code == 400
    assert client.get("/api/v1/data/deal?q=s3cret", headers=manager).json["data"]


def test_writing_a_read_only_field_is_forbidden_naming_it_and_nothing_is_written(acl):
    client = acl.client()
    _hide_secret_from_reps(client, acl)
    rep_a = acl.headers("rep_a")
    mine = acl.record("deal-rep_a-1")
    response = client.patch(f"/api/v1/data/deal/{mine.id}", json={"note": "ok", "amount": 5}, headers=rep_a)
    assert response.status_code == 403
    assert response.json["error"]["details"] == {"fields": {"amount": ["not writable for you"]}}
    assert "amount" in response.json["error"]["message"]
    stored = acl.system_store().get("deal", mine.id)
    assert (stored["amount"], stored["note"]) == (100, "n")
    created = client.post("/api/v1/data/deal", json={"name": "x", "amount": 1}, headers=rep_a)
    assert created.status_code == 403 and "amount" in created.json["error"]["details"]["fields"]


def test_writing_a_hidden_field_is_refused_naming_it_without_confirming_it_exists(acl):
    client = acl.client()
    _hide_secret_from_reps(client, acl)
    rep_a = acl.headers("rep_a")
    mine = acl.record("deal-rep_a-0")
    hidden = client.patch(f"/api/v1/data/deal/{mine.id}", json={"secret": "overwritten"}, headers=rep_a)
    missing = client.patch(f"/api/v1/data/deal/{mine.id}", json={"no_such_field": "x"}, headers=rep_a)
    assert hidden.status_code == missing.status_code == 422
    assert hidden.json["error"]["details"]["fields"] == {"secret": ["unknown field"]}
    assert missing.json["error"]["details"]["fields"] == {"no_such_field": ["unknown field"]}
    assert acl.system_store().get("deal", mine.id)["secret"] == "s3cret-rep_a-0"
    bulk = client.post(
        "/api/v1/data/deal/bulk", json={"records": [{"name": "a"}, {"name": "b", "secret": "x"}]}, headers=rep_a
    )
    assert bulk.status_code == 422 and bulk.json["error"]["details"]["rows"]["1"]["fields"]["secret"]
    names = {r["name"] for r in acl.system_store().query("deal", limit=200).data}
    assert not {"a", "b"} & names


def test_system_fields_cannot_be_mass_assigned(acl):
    client = acl.client()
    rep_a = acl.headers("rep_a")
    mine, theirs = acl.record("deal-rep_a-0"), acl.record("deal-rep_b-0")
    for member, value in (("owner_id", acl.ids["rep_b"]), ("created_by", acl.ids["rep_b"]), ("updated_at", "2020")):
        response = client.patch(f"/api/v1/data/deal/{mine.id}", json={member: value}, headers=rep_a)
        assert response.status_code == 422, member
        assert response.json["error"]["details"]["fields"][member] == ["is a system field and cannot be written"]
        created = client.post("/api/v1/data/deal", json={"name": "x", member: value}, headers=rep_a)
        assert created.status_code == 422, member
    stored = acl.system_store().get("deal", mine.id)
    assert (stored["owner_id"], stored["created_by"], stored["version"]) == (acl.ids["rep_a"], None, 1)
    # "version" is the optimistic lock, never a value: a made-up one is a conflict.
    stale = client.patch(f"/api/v1/data/deal/{mine.id}", json={"note": "x", "version": 999}, headers=rep_a)
    assert stale.status_code == 409
    assert acl.system_store().get("deal", mine.id)["version"] == 1
    # The id in the body never redirects the write to another record.
    moved = client.patch(f"/api/v1/data/deal/{mine.id}", json={"id": theirs.id, "note": "x"}, headers=rep_a)
    assert moved.status_code == 200 and moved.json["id"] == mine.id
    assert acl.system_store().get("deal", theirs.id)["note"] == "n"


# -- users without rights ---------------------------------------------------------------------------------


def test_a_member_without_a_role_can_do_nothing_with_records(acl):
    client = acl.client()
    nobody = acl.headers("nobody")
    record = acl.record("deal-admin-0")
    assert client.get("/api/v1/data/deal", headers=nobody).status_code == 403
    assert client.get(f"/api/v1/data/deal/{record.id}", headers=nobody).status_code == 403
    assert client.post("/api/v1/data/deal", json={"name": "x"}, headers=nobody).status_code == 403
    assert client.patch(f"/api/v1/data/deal/{record.id}", json={"note": "x"}, headers=nobody).status_code == 403
    assert client.delete(f"/api/v1/data/deal/{record.id}", headers=nobody).status_code == 403
    me = client.get("/api/v1/access/me", headers=nobody).json
    assert me["roles"] == [] and me["objects"]["deal"]["read"] == []


def _example_url(rule) -> str:
    values = {
        "role": "sales_rep",
        "object_name": "deal",
        "team": "north",
        "user_id": 1,
        "share_id": 1,
        "pool": "p",
        "rule": "r",
    }
    return re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(values[m[1]]), rule.rule)


def test_only_holders_of_manage_access_reach_the_access_admin_endpoints(acl):
    client = acl.client()
    rules = [r for r in acl.app.url_map.iter_rules() if r.rule.startswith("/api/v1/access/")]
    assert len(rules) > 15
    for user in (u for u in USERS if u != "admin"):
        for rule in rules:
            if rule.rule == "/api/v1/access/me":
                continue
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                response = client.open(_example_url(rule), method=method, json={}, headers=acl.headers(user))
                assert response.status_code == 403, (user, method, rule.rule)
        assert client.get("/api/v1/access/me", headers=acl.headers(user)).status_code == 200


def test_changing_metadata_needs_the_manage_metadata_permission(acl):
    client = acl.client()
    body = {"api_name": "gadget", "label": "Gadget"}
    assert client.post("/api/v1/meta/objects", json=body, headers=acl.headers("rep_a")).status_code == 403
    response = client.patch(
        "/api/v1/access/roles/sales_rep", json={"permissions": {"manage_metadata": True}}, headers=acl.headers("admin")
    )
    assert response.status_code == 200, response.json
    assert client.post("/api/v1/meta/objects", json=body, headers=acl.headers("rep_a")).status_code == 201
    # manage_metadata is not manage_access.
    assert client.get("/api/v1/access/roles", headers=acl.headers("rep_a")).status_code == 403


# -- one's own rights --------------------------------------------------------------------------------------


def test_nobody_changes_their_own_roles_or_the_policies_of_a_role_they_hold(acl):
    client = acl.client()
    admin = acl.headers("admin")
    me = acl.ids["admin"]
    entry = {"create": True, "read": "all"}
    assert client.put(f"/api/v1/access/users/{me}/roles", json={"roles": []}, headers=admin).status_code == 403
    assert client.put("/api/v1/access/roles/admin/objects/deal", json=entry, headers=admin).status_code == 403
    assert client.patch("/api/v1/access/roles/admin", json={"label": "Boss"}, headers=admin).status_code == 403
    assert client.delete("/api/v1/access/roles/admin", headers=admin).status_code == 403

    # A second administrator holding sales_rep plus a role with manage_access.
    response = client.post(
        "/api/v1/access/roles",
        json={"api_name": "access_admin", "label": "Access admin", "permissions": {"manage_access": True}},
        headers=admin,
    )
    assert response.status_code == 201, response.json
    rep_b = acl.ids["rep_b"]
    roles = {"roles": ["sales_rep", "access_admin"]}
    assert client.put(f"/api/v1/access/users/{rep_b}/roles", json=roles, headers=admin).status_code == 200
    deputy = acl.headers("rep_b")
    assert client.put("/api/v1/access/roles/sales_rep/objects/deal", json=entry, headers=deputy).status_code == 403
    assert client.patch("/api/v1/access/roles/access_admin", json={"label": "x"}, headers=deputy).status_code == 403
    grant = {"roles": ["admin"]}
    assert client.put(f"/api/v1/access/users/{rep_b}/roles", json=grant, headers=deputy).status_code == 403
    # Nor by putting another role under one's own in the hierarchy (its records would become visible).
    under = {"parent_role": "sales_rep"}
    assert client.patch("/api/v1/access/roles/service_agent", json=under, headers=deputy).status_code == 403
    # Nor through a role that inherits the one being changed.
    response = client.post(
        "/api/v1/access/roles",
        json={"api_name": "senior_agent", "label": "Senior agent", "inherits": ["service_agent"]},
        headers=admin,
    )
    assert response.status_code == 201, response.json
    roles = {"roles": ["senior_agent", "access_admin"]}
    assert client.put(f"/api/v1/access/users/{rep_b}/roles", json=roles, headers=admin).status_code == 200
    change = {"create": True, "read": "all", "update": "all"}
    response = client.put("/api/v1/access/roles/service_agent/objects/deal", json=change, headers=deputy)
    assert response.status_code == 403
    # Other roles are theirs to administer.
    response = client.put("/api/v1/access/roles/marketing/objects/deal", json=change, headers=deputy)
    assert response.status_code == 200, response.json
    other = acl.ids["rep_a"]
    assert client.put(f"/api/v1/access/users/{other}/roles", json={"roles": []}, headers=deputy).status_code == 200


# -- tenants --------------------------------------------------------------------------------------------------


def test_access_never_crosses_tenants(acl):
    client = acl.client()
    acme, globex = acl.headers("admin"), acl.tokens["globex_admin"]
    first = acl.records[0]
    assert client.get(f"/api/v1/data/{first.object}/{first.id}", headers=acme).json["name"] == first.name
    globex_deal = client.get("/api/v1/data/deal/1", headers=globex).json
    assert globex_deal["name"] == "globex-secret-deal"
    rep_a = acl.ids["rep_a"]
    assert client.get(f"/api/v1/access/users/{rep_a}/roles", headers=globex).status_code == 404
    assert (
        client.put(f"/api/v1/access/users/{rep_a}/roles", json={"roles": ["admin"]}, headers=globex).status_code == 404
    )
    share = {"object": "deal", "record_id": 1, "user_id": rep_a, "access": "read"}
    response = client.post("/api/v1/access/shares", json=share, headers=globex)
    assert response.status_code == 422 and "user_id" in response.json["error"]["details"]["fields"]
    assert client.get(f"/api/v1/access/explain?user={rep_a}&object=deal", headers=globex).status_code == 404
    # A policy change in acme leaves globex's policy alone.
    entry = {"create": True, "read": "all", "update": "all"}
    assert client.put("/api/v1/access/roles/sales_rep/objects/deal", json=entry, headers=acme).status_code == 200
    matrix = client.get("/api/v1/access/matrix", headers=globex).json["matrix"]
    assert matrix["sales_rep"]["deal"]["read"] == "own" and matrix["sales_rep"]["deal"]["source"] == "default"
    assert client.get("/api/v1/access/teams", headers=globex).json["data"] == []


# -- other workers ------------------------------------------------------------------------------------------------


def test_a_change_made_through_another_app_instance_is_seen_on_the_next_request(acl, config):
    client = acl.client()
    rep_a = acl.headers("rep_a")
    mine_only = {r["id"] for r in client.get("/api/v1/data/deal", headers=rep_a).json["data"]}
    assert len(mine_only) == 4  # two own deals and two shared with them
    other_instance = build_instance(config, load_entry_points=False)
    try:
        other = create_app(instance=other_instance).test_client()
        admin = acl.headers("admin")
        entry = {"create": True, "read": "all", "update": "own", "fields": {"secret": "hidden"}}
        assert other.put("/api/v1/access/roles/sales_rep/objects/deal", json=entry, headers=admin).status_code == 200
        rows = client.get("/api/v1/data/deal", headers=rep_a).json["data"]
        assert len(rows) == len([r for r in acl.records if r.object == "deal"])
        assert all("secret" not in row for row in rows)

        response = other.put(f"/api/v1/access/users/{acl.ids['rep_a']}/roles", json={"roles": []}, headers=admin)
        assert response.status_code == 200
        assert client.get("/api/v1/data/deal", headers=rep_a).status_code == 403

        response = other.put("/api/v1/access/objects/ticket", json={"org_wide_default": "public_read"}, headers=admin)
        assert response.status_code == 200
        tickets = client.get("/api/v1/data/ticket", headers=acl.headers("rep_b")).json["data"]
        assert len(tickets) == len([r for r in acl.records if r.object == "ticket"])
    finally:
        other_instance.dispose()  # the fixture's instance drops the shared namespaces


# -- condition scopes ---------------------------------------------------------------------------------------------


def test_a_condition_scope_cannot_be_turned_into_sql(acl):
    """Text in a condition is a bound value, never SQL; a condition may not
    read another object; and only manage_access holders set one."""
    client = acl.client()
    sneaky = {"condition": "name = \"x' OR '1'='1\" or owner_id = $User.Id"}
    entry = {"create": True, "read": sneaky, "update": sneaky}
    assert (
        client.put("/api/v1/access/roles/sales_rep/objects/deal", json=entry, headers=acl.headers("rep_a")).status_code
        == 403
    )
    response = client.put("/api/v1/access/roles/sales_rep/objects/deal", json=entry, headers=acl.headers("admin"))
    assert response.status_code == 200, response.json
    rows = client.get("/api/v1/data/deal?limit=200", headers=acl.headers("rep_a")).json["data"]
    # Own two and the two shared with rep_a: the quote did not open anything.
    assert {row["name"] for row in rows} == {"deal-rep_a-0", "deal-rep_a-1", "deal-rep_b-0", "deal-marketer-1"}
    for text in ("1; DROP TABLE o_deal", "owner_id = $User.Id; --", "EVAL('1')"):
        bad = {"create": True, "read": {"condition": text}}
        response = client.put("/api/v1/access/roles/sales_rep/objects/deal", json=bad, headers=acl.headers("admin"))
        assert response.status_code == 422, text
        assert "read.condition" in response.json["error"]["details"]["fields"]
    assert acl.system_store().query("deal", limit=1).data


def test_a_share_older_than_the_record_does_not_open_it(acl):
    """A share is for the record its id named when it was granted: where an
    id can be handed out again (SQLite, after a purge), an older share must
    not open the new record."""
    client, rep_a = acl.client(), acl.headers("rep_a")
    visible = {r["id"] for r in client.get("/api/v1/data/deal", headers=rep_a).json["data"]}
    with acl.binding.begin() as conn:
        share = conn.execute(
            sa.select(record_shares).where(
                record_shares.c.object == "deal", record_shares.c.user_id == acl.ids["rep_a"]
            )
        ).first()
        assert share is not None and share.record_id in visible
        deals = acl.system_store().model.object("deal").table
        created = conn.execute(sa.select(deals.c.created_at).where(deals.c.id == share.record_id)).scalar_one()
        conn.execute(
            record_shares.update().where(record_shares.c.id == share.id).values(at=created - dt.timedelta(days=1))
        )
    now_visible = {r["id"] for r in client.get("/api/v1/data/deal", headers=rep_a).json["data"]}
    assert now_visible == visible - {share.record_id}
    assert client.get(f"/api/v1/data/deal/{share.record_id}", headers=rep_a).status_code == 404
