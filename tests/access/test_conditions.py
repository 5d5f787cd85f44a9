"""Rule-language conditions as record scopes: validated when saved (422
naming ``<action>.condition`` and line:column), compiled into the one scope
clause (list and record paths agree with an oracle), explained, and failing
closed — never a 500 — when a field they read is deleted."""

from __future__ import annotations

import sqlalchemy as sa

from metacrm.access.tables import casbin_rule, scope_conditions
from metacrm.metadata.changes import MetadataService
from metacrm.metadata.model import field_types
from tests.access.conftest import ACTOR, expected

ENTRY = "/api/v1/access/roles/sales_rep/objects/deal"
RICH_OR_MINE = "amount >= 100 or owner_id = $User.Id"


def _put(acl, body, role="sales_rep", obj="deal"):
    return acl.client().put(f"/api/v1/access/roles/{role}/objects/{obj}", json=body, headers=acl.headers("admin"))


def _condition_entry(text, *, delete="none"):
    return {"create": True, "read": {"condition": text}, "update": {"condition": text}, "delete": delete}


BROKEN = [
    ("amount >= ", "line 1, column"),  # syntax
    ("amount >= 100 and\n  colour = 'red'", "line 2, column 3"),  # unknown field, on line 2
    ("amount + 1", "line 1, column 8"),  # not a condition (the operator)
    ('ISPICKVAL(name, "x")', "line 1, column"),  # wrong argument type
]


def test_a_condition_is_checked_when_saved_with_its_line_and_column(acl):
    for condition, reason in BROKEN:
        response = _put(acl, _condition_entry(condition))
        assert response.status_code == 422, response.json
        error = response.json["error"]
        messages = error["details"]["fields"]["read.condition"]
        assert reason in messages[0], messages
        assert error["details"]["positions"]["read.condition"]["line"] >= 1
    with acl.binding.connect() as conn:
        assert conn.execute(sa.select(scope_conditions)).first() is None


def test_a_condition_must_fit_the_entry(acl):
    # Not on *: a condition reads the fields of one object.
    response = _put(acl, {"read": {"condition": "owner_id = $User.Id"}}, obj="*")
    assert response.status_code == 422
    assert "read.condition" in response.json["error"]["details"]["fields"]
    # Update may not reach beyond read: only read all or the same condition covers a condition.
    response = _put(acl, {"read": "own", "update": {"condition": "owner_id = $User.Id"}})
    assert response.status_code == 422 and "update" in response.json["error"]["details"]["fields"]
    response = _put(acl, {"read": {"condition": "amount > 1"}, "update": "own"})
    assert response.status_code == 422 and "update" in response.json["error"]["details"]["fields"]
    for bad in ({"condition": ""}, {"condition": 3}, {"condition": "x", "more": 1}, {"when": "x"}):
        response = _put(acl, {"read": bad})
        assert response.status_code == 422, bad
        assert "read.condition" in response.json["error"]["details"]["fields"]
    assert _put(acl, {"read": "all", "update": {"condition": "amount > 1"}}).status_code == 200
    # Not through a lookup: the records on the way are not guarded by the scope.
    with MetadataService(acl.binding, field_types(acl.instance), ACTOR).change("lookup") as tx:
        tx.add_field(
            "deal", {"api_name": "ticket", "label": "Ticket", "type": "lookup", "options": {"target": "ticket"}}
        )
    response = _put(acl, _condition_entry('Ticket.Name = "x"'))
    assert response.status_code == 422
    assert "lookup traversal" in response.json["error"]["details"]["fields"]["read.condition"][0]
    # The lookup's own id is a field of deal, and fine.
    assert _put(acl, _condition_entry("ISBLANK(ticket)")).status_code == 200


def test_a_saved_condition_is_stored_mirrored_and_shown(acl):
    response = _put(acl, _condition_entry(RICH_OR_MINE, delete={"condition": RICH_OR_MINE}))
    assert response.status_code == 200, response.json
    assert response.json["read"] == response.json["delete"] == {"condition": RICH_OR_MINE}
    with acl.binding.connect() as conn:
        stored = conn.execute(
            sa.select(casbin_rule.c.v4).where(casbin_rule.c.v0 == "sales_rep", casbin_rule.c.v2 == "deal")
        ).scalars()
        assert "condition" in set(stored)
        texts = dict(conn.execute(sa.select(scope_conditions.c.action, scope_conditions.c.condition)).all())
    assert texts == {"read": RICH_OR_MINE, "update": RICH_OR_MINE, "delete": RICH_OR_MINE}
    admin = acl.headers("admin")
    revision = acl.client().get("/api/v1/meta/revisions", headers=admin).json["data"][0]
    assert "sales_rep" in revision["summary"]
    me = acl.client().get("/api/v1/access/me", headers=acl.headers("rep_a")).json
    assert me["objects"]["deal"]["read"] == [{"condition": RICH_OR_MINE}]
    # $User.Id is bound per user.
    client = acl.client()
    for user in ("rep_a", "rep_b"):
        rows = client.get("/api/v1/data/deal?limit=200", headers=acl.headers(user)).json["data"]
        assert {row["name"] for row in rows} >= {f"deal-{user}-0", f"deal-{user}-1"}
        assert not {row["name"] for row in rows if row["name"].endswith("-0")} - {
            f"deal-{user}-0",
            "deal-rep_b-0",  # shared with rep_a
        }
    # Back to the * default removes the condition text too.
    assert acl.client().delete(ENTRY, headers=admin).status_code == 204
    with acl.binding.connect() as conn:
        assert conn.execute(sa.select(scope_conditions)).first() is None


def _in_condition(acl, user, record) -> bool:
    """The oracle of RICH_OR_MINE, written in Python."""
    amount = 100 if record.name.endswith("-1") else 0
    return amount >= 100 or record.owner == user


def test_list_and_record_paths_agree_with_the_condition(acl):
    assert _put(acl, _condition_entry(RICH_OR_MINE)).status_code == 200
    client = acl.client()
    deals = [r for r in acl.records if r.object == "deal"]
    for user in ("rep_a", "rep_b", "manager", "agent_a"):
        headers = acl.headers(user)
        listed = {row["id"] for row in client.get("/api/v1/data/deal?limit=200", headers=headers).json["data"]}
        for record in deals:
            if user.startswith("rep"):
                shared = expected(acl, user, record, "read") == "in"  # own or shared (a share still opens it)
                visible = _in_condition(acl, user, record) or shared
            else:
                visible = expected(acl, user, record, "read") == "in"
            got = client.get(f"/api/v1/data/deal/{record.id}", headers=headers)
            assert got.status_code == (200 if visible else 404), (user, record.name)
            assert (record.id in listed) == visible, (user, record.name)
            if user.startswith("rep"):
                updatable = _in_condition(acl, user, record) or expected(acl, user, record, "update") == "in"
                patched = client.patch(f"/api/v1/data/deal/{record.id}", json={"note": user}, headers=headers)
                assert patched.status_code == (200 if updatable else 404), (user, record.name)
    # Tickets keep the role's * default (own).
    tickets = client.get("/api/v1/data/ticket", headers=acl.headers("rep_a")).json["data"]
    assert {row["name"] for row in tickets} == {"ticket-rep_a-0", "ticket-rep_a-1"}


def test_explain_names_the_condition_that_granted(acl):
    assert _put(acl, _condition_entry(RICH_OR_MINE)).status_code == 200
    client = acl.client()
    theirs = acl.record("deal-manager-1")  # amount 100
    answer = client.get(
        f"/api/v1/access/explain?user={acl.ids['rep_a']}&object=deal&action=read&id={theirs.id}",
        headers=acl.headers("admin"),
    ).json
    assert answer["allowed"] is True
    granted = [r for r in answer["record"]["reasons"] if r["matches"]]
    assert granted == [{"kind": "condition", "value": RICH_OR_MINE, "matches": True}]
    assert answer["roles"][0]["scope"] == {"condition": RICH_OR_MINE}
    assert answer["roles"][0]["policy"][-1] == "condition"
    poor = acl.record("deal-manager-0")
    answer = client.get(
        f"/api/v1/access/explain?user={acl.ids['rep_a']}&object=deal&action=read&id={poor.id}",
        headers=acl.headers("admin"),
    ).json
    assert answer["allowed"] is False and "outside every scope" in answer["reason"]


def test_a_condition_broken_by_a_field_deletion_fails_closed_and_explain_says_why(acl):
    only_rich = "amount >= 100"
    assert _put(acl, _condition_entry(only_rich)).status_code == 200
    client = acl.client()
    rep_a = acl.headers("rep_a")
    rich = acl.record("deal-manager-1")
    assert client.get(f"/api/v1/data/deal/{rich.id}", headers=rep_a).status_code == 200
    response = client.delete("/api/v1/meta/objects/deal/fields/amount", headers=acl.headers("admin"))
    assert response.status_code in (200, 204), response.json
    # No 500 anywhere, and the condition grants nothing: only shares remain.
    assert client.get(f"/api/v1/data/deal/{rich.id}", headers=rep_a).status_code == 404
    listing = client.get("/api/v1/data/deal?limit=200", headers=rep_a)
    assert listing.status_code == 200
    shared = {r.id for r in acl.records if r.name in ("deal-rep_b-0", "deal-marketer-1")}
    assert {row["id"] for row in listing.json["data"]} == shared
    assert client.patch(f"/api/v1/data/deal/{rich.id}", json={"note": "x"}, headers=rep_a).status_code == 404
    answer = client.get(
        f"/api/v1/access/explain?user={acl.ids['rep_a']}&object=deal&action=read&id={rich.id}",
        headers=acl.headers("admin"),
    ).json
    broken = [r for r in answer["record"]["reasons"] if r["kind"] == "condition"]
    assert broken and broken[0]["matches"] is False and "no longer compiles" in broken[0]["error"]
    assert "amount" in broken[0]["error"]
    assert answer["broken_conditions"][0]["condition"] == only_rich
    # Restoring the field brings the grant back.
    assert client.post("/api/v1/meta/objects/deal/fields/amount/restore", headers=acl.headers("admin")).status_code in (
        200,
        201,
    )
    assert client.get(f"/api/v1/data/deal/{rich.id}", headers=rep_a).status_code == 200


def test_user_team_reads_the_same_in_where_as_in_a_record_scope_condition(acl):
    """``$User.Team`` is the caller's team both in a record scope condition
    and in a list's ``where=``: one ``$User``, the guard's."""
    in_north = '$User.Team = "north"'
    assert _put(acl, _condition_entry(in_north), role="service_agent").status_code == 200
    client = acl.client()
    all_deals = {r.id for r in acl.records if r.object == "deal"}
    for user, team_rows in (("agent_a", all_deals), ("agent_c", set())):
        headers = acl.headers(user)
        listed = client.get("/api/v1/data/deal", query_string={"limit": 200}, headers=headers)
        assert {row["id"] for row in listed.json["data"]} >= team_rows, user
        filtered = client.get("/api/v1/data/deal", query_string={"limit": 200, "where": in_north}, headers=headers)
        assert filtered.status_code == 200, filtered.json
        assert {row["id"] for row in filtered.json["data"]} == team_rows, user
