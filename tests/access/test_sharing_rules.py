"""Sharing rules (owner- and criteria-based): stored as policy (a revision,
the ``access`` mirror), compiled into the one scope clause — lists, counts,
GET by id, updates and explain all agree — on both databases.

The world is tests/access/conftest.py's: rep_a and rep_b are sales reps (own
scope), agents in teams north/south, deal amounts 0 (``-0``) and 100 (``-1``).
"""

from __future__ import annotations

import sqlalchemy as sa

from metacrm.access.tables import sharing_rules

RULES = "/api/v1/access/sharing-rules"


def _names(acl, user, obj="deal"):
    rows = acl.client().get(f"/api/v1/data/{obj}?limit=200", headers=acl.headers(user)).json["data"]
    return {row["name"] for row in rows}


def _post(acl, body, user="admin"):
    return acl.client().post(RULES, json=body, headers=acl.headers(user))


OWNER_RULE = {
    "api_name": "agents_deals_to_reps",
    "object": "deal",
    "label": "Agents' deals to the reps",
    "kind": "owner",
    "owned_by": {"kind": "role", "name": "service_agent"},
    "share_with": {"kind": "role", "name": "sales_rep"},
    "access": "read",
}
CRITERIA_RULE = {
    "api_name": "big_deals_to_south",
    "object": "deal",
    "label": "Big deals to team south",
    "kind": "criteria",
    "condition": "amount >= 100",
    "share_with": {"kind": "team", "name": "south"},
    "access": "edit",
}


def test_an_owner_rule_widens_list_get_and_count_but_not_update(acl):
    before = _names(acl, "rep_a")
    assert not any(n.startswith("deal-agent_") for n in before)
    response = _post(acl, OWNER_RULE)
    assert response.status_code == 201, response.json
    assert response.headers["X-Metadata-Revision"]
    assert response.json["owned_by"] == {"kind": "role", "name": "service_agent"}
    after = _names(acl, "rep_a")
    agents = {f"deal-agent_{x}-{i}" for x in "abc" for i in (0, 1)}
    assert after == before | agents
    # rep_b too (the rule names the role), and the manager above the reps does not get it.
    assert agents <= _names(acl, "rep_b")
    assert not agents & _names(acl, "manager")
    client = acl.client()
    record = acl.record("deal-agent_a-0")
    got = client.get(f"/api/v1/data/deal/{record.id}", headers=acl.headers("rep_a"))
    assert got.status_code == 200 and got.json["name"] == "deal-agent_a-0"
    # Count agrees with the list.
    counted = client.get("/api/v1/data/deal?limit=1&count=true", headers=acl.headers("rep_a")).json
    assert counted["total"] == len(after)
    # Read only: no update.
    patched = client.patch(f"/api/v1/data/deal/{record.id}", json={"note": "x"}, headers=acl.headers("rep_a"))
    assert patched.status_code == 404
    # Tickets are untouched: the rule is on deal.
    assert not any(n.startswith("ticket-agent_") for n in _names(acl, "rep_a", "ticket"))


def test_role_and_subordinates_on_both_sides(acl):
    body = {
        **OWNER_RULE,
        "api_name": "reps_to_agents",
        "owned_by": {"kind": "role_and_subordinates", "name": "sales_manager"},
        "share_with": {"kind": "role_and_subordinates", "name": "service_agent"},
        "access": "edit",
    }
    assert _post(acl, body).status_code == 201
    names = _names(acl, "agent_c")
    assert {"deal-manager-0", "deal-rep_a-0", "deal-rep_b-1"} <= names
    record = acl.record("deal-rep_a-1")
    patched = acl.client().patch(f"/api/v1/data/deal/{record.id}", json={"note": "x"}, headers=acl.headers("agent_c"))
    assert patched.status_code == 200, patched.json
    # Never delete (service agents may not delete at all; the marketer's own delete scope is untouched).
    deleted = acl.client().delete(f"/api/v1/data/deal/{record.id}", headers=acl.headers("agent_c"))
    assert deleted.status_code in (403, 404)


def test_a_criteria_rule_shares_matching_records_with_a_team_at_edit(acl):
    response = _post(acl, CRITERIA_RULE)
    assert response.status_code == 201, response.json
    names = _names(acl, "agent_c")
    big = {r.name for r in acl.records if r.object == "deal" and r.name.endswith("-1")}
    assert big <= names
    small_foreign = {
        r.name for r in acl.records if r.object == "deal" and r.name.endswith("-0") and r.owner != "agent_c"
    }
    assert not (small_foreign - {"deal-agent_c-0"}) & names
    # Edit opens update of a big deal …
    big_deal = acl.record("deal-rep_a-1")
    client = acl.client()
    ok = client.patch(f"/api/v1/data/deal/{big_deal.id}", json={"note": "seen"}, headers=acl.headers("agent_c"))
    assert ok.status_code == 200, ok.json
    # … but not of a small one, and team north does not get it.
    small = acl.record("deal-rep_a-0")
    assert client.get(f"/api/v1/data/deal/{small.id}", headers=acl.headers("agent_c")).status_code == 404
    assert "deal-rep_a-1" not in _names(acl, "agent_a")
    # Team membership is read at query time: put agent_a into south, and the rule reaches them.
    with acl.binding.begin() as conn:
        from metacrm.access.tables import team_members

        conn.execute(team_members.insert().values(team="south", user_id=acl.ids["agent_a"]))
    assert "deal-rep_a-1" in _names(acl, "agent_a")


def test_explain_names_the_rule(acl):
    assert _post(acl, CRITERIA_RULE).status_code == 201
    record = acl.record("deal-rep_b-1")
    explained = (
        acl.client()
        .get(
            f"/api/v1/access/explain?user={acl.ids['agent_c']}&object=deal&action=update&id={record.id}",
            headers=acl.headers("admin"),
        )
        .json
    )
    assert explained["allowed"] is True
    reasons = [r for r in explained["record"]["reasons"] if r["kind"] == "sharing_rule"]
    assert reasons == [
        {"kind": "sharing_rule", "value": "big_deals_to_south", "matches": True, "rule": reasons[0]["rule"]}
    ]
    assert reasons[0]["rule"]["label"] == "Big deals to team south"
    # A read rule does not appear as a reason to update.
    assert _post(acl, OWNER_RULE).status_code == 201
    agent_deal = acl.record("deal-agent_a-0")
    explained = (
        acl.client()
        .get(
            f"/api/v1/access/explain?user={acl.ids['rep_a']}&object=deal&action=update&id={agent_deal.id}",
            headers=acl.headers("admin"),
        )
        .json
    )
    assert explained["allowed"] is False
    # The read rule is no reason to update; the team rule names a team rep_a is not in.
    assert [r["value"] for r in explained["record"]["reasons"] if r["kind"] == "sharing_rule"] == ["big_deals_to_south"]
    assert not [r for r in explained["record"]["reasons"] if r["kind"] == "sharing_rule" and r["matches"]]
    explained = (
        acl.client()
        .get(
            f"/api/v1/access/explain?user={acl.ids['rep_a']}&object=deal&action=read&id={agent_deal.id}",
            headers=acl.headers("admin"),
        )
        .json
    )
    assert explained["allowed"] is True
    assert [r["value"] for r in explained["record"]["reasons"] if r["kind"] == "sharing_rule" and r["matches"]] == [
        "agents_deals_to_reps"
    ]


def test_rules_are_policy_stored_mirrored_and_revisioned(acl):
    admin = acl.headers("admin")
    client = acl.client()
    assert _post(acl, OWNER_RULE).status_code == 201
    revision = client.get("/api/v1/meta/revisions", headers=admin).json["data"][0]
    assert "agents_deals_to_reps" in revision["summary"]
    listed = client.get(f"{RULES}?object=deal", headers=admin).json["data"]
    assert [r["api_name"] for r in listed] == ["agents_deals_to_reps"]
    assert client.get(f"{RULES}?object=ticket", headers=admin).json["data"] == []
    # Patch: switch to a criteria rule; owned_by goes.
    patched = client.patch(
        f"{RULES}/agents_deals_to_reps", json={"kind": "criteria", "condition": "amount >= 100"}, headers=admin
    )
    assert patched.status_code == 200, patched.json
    assert patched.json["condition"] == "amount >= 100" and "owned_by" not in patched.json
    with acl.binding.connect() as conn:
        row = conn.execute(sa.select(sharing_rules)).mappings().one()
    assert row["kind"] == "criteria" and row["owner_kind"] is None
    mirrored = client.get("/api/v1/meta/definitions/access/policy", headers=admin)
    if mirrored.status_code == 200:
        document = mirrored.json.get("document", mirrored.json)
        assert "agents_deals_to_reps" in document["sharing_rules"]
    # Roles and teams a rule names cannot be deleted under it.
    assert client.delete("/api/v1/access/teams/south", headers=admin).status_code == 204
    assert _post(acl, CRITERIA_RULE).status_code == 422  # no team south any more
    north = {**CRITERIA_RULE, "share_with": {"kind": "team", "name": "north"}}
    assert _post(acl, north).status_code == 201
    refused = client.delete("/api/v1/access/teams/north", headers=admin)
    assert refused.status_code == 409 and refused.json["error"]["details"]["sharing_rules"] == ["big_deals_to_south"]
    assert client.delete(f"{RULES}/big_deals_to_south", headers=admin).status_code == 204
    assert client.get(f"{RULES}/big_deals_to_south", headers=admin).status_code == 404
    # Only for access managers.
    assert client.get(RULES, headers=acl.headers("rep_a")).status_code == 403
    assert _post(acl, {**OWNER_RULE, "api_name": "x"}, user="manager").status_code == 403


def test_bad_rules_get_errors_naming_the_member(acl):
    client = acl.client()
    cases = [
        ({**OWNER_RULE, "api_name": "Bad Name"}, "api_name"),
        ({**OWNER_RULE, "object": "nothing"}, "object"),
        ({**OWNER_RULE, "label": ""}, "label"),
        ({**OWNER_RULE, "kind": "magic"}, "kind"),
        ({**OWNER_RULE, "owned_by": {"kind": "role", "name": "ghost"}}, "owned_by.name"),
        ({**OWNER_RULE, "owned_by": "sales_rep"}, "owned_by"),
        ({**OWNER_RULE, "owned_by": {"kind": "role", "name": ["sales_rep"]}}, "owned_by.name"),
        ({**OWNER_RULE, "share_with": {"kind": ["team"], "name": "north"}}, "share_with.kind"),
        ({**CRITERIA_RULE, "condition": ["amount > 1"]}, "condition"),
        ({**CRITERIA_RULE, "object": ["deal"]}, "object"),
        ({**OWNER_RULE, "share_with": {"kind": "group", "name": "x"}}, "share_with.kind"),
        ({**OWNER_RULE, "access": "delete"}, "access"),
        ({**OWNER_RULE, "extra": 1}, "extra"),
        ({**CRITERIA_RULE, "condition": ""}, "condition"),
        ({**CRITERIA_RULE, "condition": "amount >= "}, "condition"),
        ({**CRITERIA_RULE, "condition": "amount + 1"}, "condition"),
        ({**CRITERIA_RULE, "condition": "colour = 'red'"}, "condition"),
    ]
    for body, member in cases:
        response = _post(acl, body)
        assert response.status_code == 422, (body, response.json)
        assert member in response.json["error"]["details"]["fields"], (member, response.json)
    response = _post(acl, {**CRITERIA_RULE, "condition": "amount >= 100 and\n  colour = 'red'"})
    assert response.json["error"]["details"]["positions"]["condition"]["line"] == 2
    assert _post(acl, OWNER_RULE).status_code == 201
    assert _post(acl, OWNER_RULE).status_code == 409
    with acl.binding.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(sharing_rules)).scalar() == 1
    # A role a rule names cannot be deleted.
    refused = client.delete("/api/v1/access/roles/service_agent", headers=acl.headers("admin"))
    assert refused.status_code == 409


def test_a_rule_on_a_hidden_field_opens_records_but_never_the_value(acl):
    """Decision: a criteria rule may read a field hidden from its recipients —
    the admin chose the criterion, as in Salesforce. The recipient sees that
    the records are shared, never the field's value, cannot filter or sort on
    it, and never sees the rule (rules and explain are for access managers)."""
    admin = acl.headers("admin")
    client = acl.client()
    entry = {"create": True, "read": "own", "update": "own", "delete": "own", "fields": {"secret": "hidden"}}
    assert client.put("/api/v1/access/roles/sales_rep/objects/deal", json=entry, headers=admin).status_code == 200
    rule = {
        **CRITERIA_RULE,
        "condition": 'secret = "s3cret-agent_a-0"',
        "share_with": {"kind": "role", "name": "sales_rep"},
    }
    assert _post(acl, rule).status_code == 201
    rows = client.get("/api/v1/data/deal?limit=200", headers=acl.headers("rep_a")).json["data"]
    shared = [r for r in rows if r["name"] == "deal-agent_a-0"]
    assert len(shared) == 1 and "secret" not in shared[0]
    assert all("secret" not in r for r in rows)
    filtered = client.get('/api/v1/data/deal?where=secret = "s3cret-agent_a-0"', headers=acl.headers("rep_a"))
    assert filtered.status_code in (400, 403, 422)
    me = client.get("/api/v1/access/me", headers=acl.headers("rep_a")).json
    assert "s3cret" not in str(me)
    assert client.get(RULES, headers=acl.headers("rep_a")).status_code == 403


def test_a_criteria_rule_that_no_longer_compiles_grants_nothing(acl):
    from metacrm.metadata.changes import MetadataService
    from metacrm.metadata.model import field_types
    from tests.access.conftest import ACTOR

    assert _post(acl, {**CRITERIA_RULE, "condition": 'note = "n" and amount >= 100'}).status_code == 201
    assert "deal-rep_a-1" in _names(acl, "agent_c")
    with MetadataService(acl.binding, field_types(acl.instance), ACTOR).change("drop amount") as tx:
        tx.delete_field("deal", "amount")
    assert "deal-rep_a-1" not in _names(acl, "agent_c")
    record = acl.record("deal-rep_a-1")
    explained = (
        acl.client()
        .get(
            f"/api/v1/access/explain?user={acl.ids['agent_c']}&object=deal&action=read&id={record.id}",
            headers=acl.headers("admin"),
        )
        .json
    )
    reason = next(r for r in explained["record"]["reasons"] if r["kind"] == "sharing_rule")
    assert reason["matches"] is False and "no longer compiles" in reason["error"]


def test_rules_role_translations_and_managers_survive_export_and_import(acl, tmp_path):
    from metacrm.access.policy import policy_for
    from metacrm.metadata.transfer import export_tenant, import_tenant

    client = acl.client()
    admin = acl.headers("admin")
    assert _post(acl, OWNER_RULE).status_code == 201
    assert _post(acl, CRITERIA_RULE).status_code == 201
    patched = client.patch(
        "/api/v1/access/roles/sales_rep", json={"translations": {"zh_CN": "销售代表"}}, headers=admin
    )
    assert patched.status_code == 200
    manager = {"manager_id": acl.ids["manager"]}
    assert (
        client.put(f"/api/v1/access/users/{acl.ids['rep_a']}/manager", json=manager, headers=admin).status_code == 200
    )
    original = policy_for(acl.instance, acl.binding)
    export_tenant(acl.instance, "acme", tmp_path / "acme.zip")
    copy = import_tenant(acl.instance, tmp_path / "acme.zip", slug="acme_copy")
    imported = policy_for(acl.instance, copy)
    assert imported.document() == original.document()
    assert set(imported.sharing_rules) == {"agents_deals_to_reps", "big_deals_to_south"}
    assert imported.roles["sales_rep"].translations == {"zh_CN": "销售代表"}
    from metacrm.access.tables import member_managers

    with copy.connect() as conn:
        rows = conn.execute(sa.select(member_managers.c.user_id, member_managers.c.manager_id)).all()
    assert [tuple(r) for r in rows] == [(acl.ids["rep_a"], acl.ids["manager"])]
