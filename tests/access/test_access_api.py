"""The access admin API: roles, object and field access, org-wide defaults,
teams, assignments, shares, matrix and explain — validation, revisions and
what each change does to the records users see."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from metacrm.access.members import check_roles, provision_member
from metacrm.access.permissions import DEFINITION_KEY, DEFINITION_KIND
from metacrm.access.policy import load_policy
from metacrm.access.seed import STANDARD_ROLES, seed_standard_roles
from metacrm.access.tables import casbin_rule
from metacrm.metadata.changes import current_revision, load_definitions
from metacrm.metadata.tables import meta_revisions
from metacrm.platform import identity as identities
from metacrm.platform.errors import ValidationFailed
from tests.access.conftest import PARENT, STANDARD
from tests.conftest import PASSWORD

ROLES = "/api/v1/access/roles"


def _revision(acl) -> int:
    with acl.binding.connect() as conn:
        return current_revision(conn)


def _ids(response) -> set[int]:
    assert response.status_code == 200, response.json
    return {row["id"] for row in response.json["data"]}


# -- the standard roles -----------------------------------------------------------------------------


def test_a_new_tenant_starts_with_the_standard_roles_and_no_revision(acl):
    client = acl.client()
    roles = {r["api_name"]: r for r in client.get(ROLES, headers=acl.headers("admin")).json["data"]}
    assert set(roles) == {name for name, *_ in STANDARD_ROLES}
    assert roles["sales_rep"]["parent_role"] == PARENT["sales_rep"]
    assert roles["admin"]["permissions"] == {"manage_metadata": True, "manage_access": True}
    assert roles["sales_rep"]["permissions"] == {"manage_metadata": False, "manage_access": False}
    matrix = client.get("/api/v1/access/matrix", headers=acl.headers("admin")).json
    for role, actions in STANDARD.items():
        for obj in ("*", "deal", "ticket"):
            cell = matrix["matrix"][role][obj]
            assert {a: cell[a] for a in actions} == actions, (role, obj)
            assert cell["source"] == "default"
    # globex was created and seeded without any revision of its own.
    binding = acl.instance.db.bind("globex")
    with binding.connect() as conn:
        revisions = [r.summary for r in conn.execute(sa.select(meta_revisions.c.summary))]
        definition = load_definitions(conn).get(DEFINITION_KIND, DEFINITION_KEY)
    assert revisions == ["objects"]
    assert set(definition.document["roles"]) == {name for name, *_ in STANDARD_ROLES}
    assert not seed_standard_roles_again(binding)


def seed_standard_roles_again(binding) -> bool:
    with binding.begin() as conn:
        return seed_standard_roles(conn)


def test_rules_store_the_tenant_as_domain_so_an_imported_copy_under_another_slug_works(acl):
    with acl.binding.connect() as conn:
        domains = set(conn.execute(sa.select(casbin_rule.c.v1).where(casbin_rule.c.ptype == "p")).scalars())
        policy = load_policy(conn, "renamed", current_revision(conn))
    assert domains == {"tenant"}
    assert policy.allows(frozenset({"admin"}), "manage_access")
    assert policy.scopes(frozenset({"sales_rep"}), "deal", "read") == {"own"}


# -- policy changes and revisions ---------------------------------------------------------------------


def test_a_policy_change_is_a_metadata_revision_mirrored_in_the_access_definition(acl):
    client = acl.client()
    admin = acl.headers("admin")
    before = _revision(acl)
    entry = {"create": True, "read": "team", "update": "own", "fields": {"secret": "hidden"}}
    response = client.put(f"{ROLES}/sales_rep/objects/deal", json=entry, headers=admin)
    assert response.status_code == 200, response.json
    assert int(response.headers["X-Metadata-Revision"]) == before + 1
    assert response.json["read"] == "team" and response.json["delete"] == "none"
    assert response.json["fields"] == {"secret": "hidden"} and response.json["source"] == "object"
    revision = client.get(f"/api/v1/meta/revisions/{before + 1}", headers=admin).json
    assert revision["summary"] == "set access of role sales_rep to deal"
    (change,) = revision["changes"]
    assert (change["kind"], change["key"]) == (DEFINITION_KIND, DEFINITION_KEY)
    assert "deal" not in change["before"]["document"]["roles"]["sales_rep"]["objects"]
    assert change["after"]["document"]["roles"]["sales_rep"]["objects"]["deal"]["fields"] == {"secret": "hidden"}
    # The mirror is exactly what the tables say.
    with acl.binding.connect() as conn:
        document = load_definitions(conn).get(DEFINITION_KIND, DEFINITION_KEY).document
        assert document == load_policy(conn, "acme", 0).document()
    # Saying the same again changes nothing and makes no revision.
    again = client.put(f"{ROLES}/sales_rep/objects/deal", json=entry, headers=admin)
    assert again.status_code == 200 and "X-Metadata-Revision" not in again.headers
    assert _revision(acl) == before + 1
    # Back to the role's default.
    assert client.delete(f"{ROLES}/sales_rep/objects/deal", headers=admin).status_code == 204
    back = client.get(f"{ROLES}/sales_rep/objects/deal", headers=admin).json
    assert (back["source"], back["read"], back["fields"]) == ("default", "own", {})


INVALID_ENTRIES = [
    ("sales_rep/objects/nothing", {"read": "own"}, 422, "object"),
    ("sales_rep/objects/deal", {"read": "own", "fields": {"nothing": "hidden"}}, 422, "fields.nothing"),
    ("sales_rep/objects/deal", {"read": "mine"}, 422, "read"),
    ("sales_rep/objects/deal", {"read": "own", "update": "all"}, 422, "update"),
    ("sales_rep/objects/deal", {"read": "team", "delete": "subordinates"}, 422, "delete"),
    ("sales_rep/objects/deal", {"create": True}, 422, "create"),
    ("sales_rep/objects/deal", {"read": "all", "import": True}, 422, "import"),
    ("sales_rep/objects/deal", {"read": "all", "create": "yes"}, 422, "create"),
    ("sales_rep/objects/deal", {"read": "all", "publish": True}, 422, "publish"),
    ("sales_rep/objects/deal", {"read": "all", "fields": {"note": "secret"}}, 422, "fields.note"),
    ("sales_rep/objects/deal", {"create": True, "read": "own", "fields": {"name": "read"}}, 422, "fields.name"),
    ("sales_rep/objects/*", {"read": "own", "fields": {"note": "hidden"}}, 422, "fields"),
    ("no_role/objects/deal", {"read": "own"}, 404, None),
]


def test_an_invalid_object_access_is_refused_naming_the_member_and_nothing_changes(acl):
    client = acl.client()
    before = _revision(acl)
    for path, body, status, member in INVALID_ENTRIES:
        response = client.put(f"{ROLES}/{path}", json=body, headers=acl.headers("admin"))
        assert response.status_code == status, (path, body, response.json)
        if member:
            assert member in response.json["error"]["details"]["fields"], (path, body)
    assert _revision(acl) == before
    assert client.get(f"{ROLES}/sales_rep/objects/deal", headers=acl.headers("admin")).json["source"] == "default"


INVALID_ROLES = [
    ({"api_name": "x", "label": "X", "parent_role": "nothing"}, 422, "parent_role"),
    ({"api_name": "x", "label": "X", "inherits": ["nothing"]}, 422, "inherits"),
    ({"api_name": "Bad Name", "label": "X"}, 422, "api_name"),
    ({"api_name": "x"}, 422, "label"),
    ({"api_name": "x", "label": "X", "permissions": {"fly": True}}, 422, "permissions.fly"),
    ({"api_name": "x", "label": "X", "colour": "red"}, 422, "colour"),
    ({"api_name": "sales_rep", "label": "Again"}, 409, None),
]


def test_an_invalid_role_is_refused_naming_the_member(acl):
    before = _revision(acl)
    client = acl.client()
    for body, status, member in INVALID_ROLES:
        response = client.post(ROLES, json=body, headers=acl.headers("admin"))
        assert response.status_code == status, (body, response.json)
        if member:
            assert member in response.json["error"]["details"]["fields"], body
    assert _revision(acl) == before


def test_roles_can_be_created_changed_and_deleted_when_unused(acl):
    client = acl.client()
    admin = acl.headers("admin")
    body = {"api_name": "key_accounts", "label": "Key accounts", "parent_role": "sales_manager"}
    created = client.post(ROLES, json=body, headers=admin)
    assert created.status_code == 201, created.json
    assert created.json["parent_role"] == "sales_manager" and created.json["holders"] == 0
    assert client.patch(f"{ROLES}/key_accounts", json={"api_name": "other"}, headers=admin).status_code == 422
    cycle = client.patch(f"{ROLES}/sales_manager", json={"parent_role": "key_accounts"}, headers=admin)
    assert cycle.status_code == 422 and "parent_role" in cycle.json["error"]["details"]["fields"]
    changed = client.patch(f"{ROLES}/key_accounts", json={"label": "Key account managers"}, headers=admin)
    assert changed.status_code == 200 and changed.json["label"] == "Key account managers"
    in_use = client.delete(f"{ROLES}/sales_manager", headers=admin)
    assert in_use.status_code == 409
    assert in_use.json["error"]["details"]["holders"] == 1
    assert set(in_use.json["error"]["details"]["reporting_roles"]) == {"sales_rep", "key_accounts"}
    assert client.delete(f"{ROLES}/key_accounts", headers=admin).status_code == 204
    assert client.get(f"{ROLES}/key_accounts", headers=admin).status_code == 404


def test_the_admin_role_is_fixed(acl):
    client = acl.client()
    admin = acl.headers("admin")
    # A deputy with manage_access (the admin cannot touch a role they hold anyway).
    client.post(
        ROLES, json={"api_name": "deputy", "label": "Deputy", "permissions": {"manage_access": True}}, headers=admin
    )
    client.put(f"/api/v1/access/users/{acl.ids['reader']}/roles", json={"roles": ["deputy"]}, headers=admin)
    deputy = acl.headers("reader")
    weaker = {"permissions": {"manage_access": False}}
    assert client.patch(f"{ROLES}/admin", json=weaker, headers=deputy).status_code == 422
    assert client.put(f"{ROLES}/admin/objects/deal", json={"read": "own"}, headers=deputy).status_code == 422
    assert client.delete(f"{ROLES}/admin", headers=deputy).status_code == 409
    assert client.patch(f"{ROLES}/admin", json={"label": "Administrators"}, headers=deputy).status_code == 200


def test_explicit_role_inheritance_adds_permissions_but_not_visibility_up_the_hierarchy(acl):
    client = acl.client()
    admin = acl.headers("admin")
    body = {"api_name": "rep_plus", "label": "Rep plus", "inherits": ["sales_rep", "service_agent"]}
    assert client.post(ROLES, json=body, headers=admin).status_code == 201
    assert client.put(f"/api/v1/access/users/{acl.ids['reader']}/roles", json={"roles": ["rep_plus"]}, headers=admin)
    cell = client.get(f"{ROLES}/rep_plus/objects/deal", headers=admin).json
    assert cell["source"] is None and cell["effective"]["read"] == ["own", "team"]
    assert cell["effective"]["delete"] == ["own"]
    # reader owns two deals and is in no team: exactly those.
    rows = _ids(client.get("/api/v1/data/deal", headers=acl.headers("reader")))
    assert rows == {r.id for r in acl.records if r.object == "deal" and r.owner == "reader"}
    cycle = client.patch(f"{ROLES}/sales_rep", json={"inherits": ["rep_plus"]}, headers=admin)
    assert cycle.status_code == 422 and "inherits" in cycle.json["error"]["details"]["fields"]


# -- the hierarchy, teams and shares change what people see ---------------------------------------------------


def test_moving_a_role_in_the_hierarchy_moves_what_managers_see(acl):
    client = acl.client()
    admin = acl.headers("admin")
    manager = acl.headers("manager")
    agents = {r.id for r in acl.records if r.object == "deal" and r.owner.startswith("agent")}
    assert not agents & _ids(client.get("/api/v1/data/deal?limit=200", headers=manager))
    assert client.patch(f"{ROLES}/service_agent", json={"parent_role": "sales_rep"}, headers=admin).status_code == 200
    assert agents <= _ids(client.get("/api/v1/data/deal?limit=200", headers=manager))
    # ... and not the reps themselves: subordinates is not their scope.
    assert not agents - {acl.record("deal-agent_c-0").id} & _ids(
        client.get("/api/v1/data/deal", headers=acl.headers("rep_a"))
    )


def test_teams_validate_members_and_drive_the_team_scope(acl):
    client = acl.client()
    admin = acl.headers("admin")
    bad = client.post(
        "/api/v1/access/teams", json={"api_name": "west", "label": "West", "members": [99999]}, headers=admin
    )
    assert bad.status_code == 422 and "members" in bad.json["error"]["details"]["fields"]
    body = {"api_name": "west", "label": "West", "members": [acl.ids["agent_c"]]}
    assert client.post("/api/v1/access/teams", json=body, headers=admin).status_code == 201
    assert client.post("/api/v1/access/teams", json=body, headers=admin).status_code == 409
    agent_a = acl.headers("agent_a")
    agent_c_deals = {r.id for r in acl.records if r.object == "deal" and r.owner == "agent_c"}
    seen = _ids(client.get("/api/v1/data/deal", headers=agent_a))
    assert agent_c_deals - seen  # only the one shared with north
    members = {"members": [acl.ids["agent_c"], acl.ids["agent_a"]]}
    response = client.put("/api/v1/access/teams/west/members", json=members, headers=admin)
    assert response.status_code == 200 and response.json["members"] == sorted(members["members"])
    assert agent_c_deals <= _ids(client.get("/api/v1/data/deal", headers=agent_a))
    assert client.delete("/api/v1/access/teams/north", headers=admin).status_code == 204
    shares = client.get("/api/v1/access/shares?object=deal", headers=admin).json["data"]
    assert len(shares) == 2 and all(s["team"] != "north" for s in shares)
    assert client.get("/api/v1/access/teams/north", headers=admin).status_code == 404


INVALID_SHARES = [
    ({"object": "nothing", "record_id": 1, "user_id": 1, "access": "read"}, "object"),
    ({"object": "deal", "record_id": 999999, "user_id": 1, "access": "read"}, "record_id"),
    ({"object": "deal", "record_id": 1, "access": "read"}, "user_id"),
    ({"object": "deal", "record_id": 1, "user_id": 1, "team": "north", "access": "read"}, "user_id"),
    ({"object": "deal", "record_id": 1, "user_id": 1, "access": "own"}, "access"),
    ({"object": "deal", "record_id": 1, "team": "nowhere", "access": "read"}, "team"),
    ({"object": "deal", "record_id": 1, "user_id": 999999, "access": "read"}, "user_id"),
]


def test_an_invalid_share_is_refused_naming_the_member(acl):
    client = acl.client()
    for body, member in INVALID_SHARES:
        response = client.post("/api/v1/access/shares", json=body, headers=acl.headers("admin"))
        assert response.status_code == 422, (body, response.json)
        assert member in response.json["error"]["details"]["fields"], body
    assert len(client.get("/api/v1/access/shares", headers=acl.headers("admin")).json["data"]) == 3


def test_sharing_a_record_opens_it_to_the_user_until_the_share_is_removed(acl):
    client = acl.client()
    admin, rep_b = acl.headers("admin"), acl.headers("rep_b")
    record = acl.record("deal-rep_a-1")
    url = f"/api/v1/data/deal/{record.id}"
    assert client.get(url, headers=rep_b).status_code == 404
    body = {"object": "deal", "record_id": record.id, "user_id": acl.ids["rep_b"], "access": "read"}
    created = client.post("/api/v1/access/shares", json=body, headers=admin)
    assert created.status_code == 201, created.json
    assert client.get(url, headers=rep_b).status_code == 200
    assert client.patch(url, json={"note": "x"}, headers=rep_b).status_code == 404
    upgraded = client.post("/api/v1/access/shares", json={**body, "access": "edit"}, headers=admin)
    assert upgraded.status_code == 200 and upgraded.json["id"] == created.json["id"]
    assert client.patch(url, json={"note": "x"}, headers=rep_b).status_code == 200
    assert client.delete(url, headers=rep_b).status_code == 404  # a share never grants delete
    assert client.delete(f"/api/v1/access/shares/{created.json['id']}", headers=admin).status_code == 204
    assert client.get(url, headers=rep_b).status_code == 404
    assert client.delete(f"/api/v1/access/shares/{created.json['id']}", headers=admin).status_code == 404


def test_org_wide_defaults_validate_and_open_records_to_everyone_permitted(acl):
    client = acl.client()
    admin = acl.headers("admin")
    for obj, body, member in (
        ("deal", {"org_wide_default": "public"}, "org_wide_default"),
        ("nothing", {"org_wide_default": "public_read"}, "object"),
    ):
        response = client.put(f"/api/v1/access/objects/{obj}", json=body, headers=admin)
        assert response.status_code == 422 and member in response.json["error"]["details"]["fields"]
    response = client.put("/api/v1/access/objects/ticket", json={"org_wide_default": "public_read"}, headers=admin)
    assert response.status_code == 200 and response.json["org_wide_default"] == "public_read"
    tickets = {r.id for r in acl.records if r.object == "ticket"}
    assert _ids(client.get("/api/v1/data/ticket?limit=200", headers=acl.headers("rep_a"))) == tickets
    assert client.get("/api/v1/data/ticket", headers=acl.headers("nobody")).status_code == 403
    listed = {
        o["object"]: o["org_wide_default"] for o in client.get("/api/v1/access/objects", headers=admin).json["data"]
    }
    assert listed == {"deal": "private", "ticket": "public_read"}


# -- assignments -------------------------------------------------------------------------------------------------


def test_assigning_roles_takes_effect_at_once_and_mirrors_the_membership(acl):
    client = acl.client()
    admin = acl.headers("admin")
    reader = acl.ids["reader"]
    url = f"/api/v1/access/users/{reader}/roles"
    bad = client.put(url, json={"roles": ["sales_rep", "pilot"]}, headers=admin)
    assert bad.status_code == 422 and "roles" in bad.json["error"]["details"]["fields"]
    assert client.put("/api/v1/access/users/999999/roles", json={"roles": []}, headers=admin).status_code == 404
    before = _revision(acl)
    response = client.put(url, json={"roles": ["admin", "sales_rep"]}, headers=admin)
    assert response.json == {"user_id": reader, "roles": ["admin", "sales_rep"], "roles_from_membership": False}
    assert _revision(acl) == before  # assignments are data, not metadata
    me = client.get("/api/v1/me", headers=acl.headers("reader")).json["user"]
    assert (me["is_admin"], me["role"]) == (True, "admin")
    assert client.get("/api/v1/access/roles", headers=acl.headers("reader")).status_code == 200
    # The first admin can be demoted now that there is another …
    assert client.put(url, json={"roles": ["read_only"]}, headers=admin).status_code == 200
    assert client.get("/api/v1/me", headers=acl.headers("reader")).json["user"]["is_admin"] is False
    # … but the tenant is never left without one.
    client.post(ROLES, json={"api_name": "deputy", "label": "D", "permissions": {"manage_access": True}}, headers=admin)
    client.put(url, json={"roles": ["deputy"]}, headers=admin)
    last = client.put(
        f"/api/v1/access/users/{acl.ids['admin']}/roles", json={"roles": []}, headers=acl.headers("reader")
    )
    assert last.status_code == 409
    users = {u["id"]: u for u in client.get("/api/v1/access/users", headers=admin).json["data"]}
    assert users[acl.ids["agent_a"]]["teams"] == ["north"] and users[acl.ids["admin"]]["roles"] == ["admin"]


def test_a_role_given_at_user_creation_is_held_from_the_first_request(acl):
    client = acl.client()
    binding = acl.binding
    user_id = identities.create_user(
        acl.instance, tenant="acme", email="new@acme.test", password=PASSWORD, role="marketing"
    )
    identity = identities.identity_for(acl.instance, user_id, "acme")
    headers = {"Authorization": f"Bearer {identities.create_token(acl.instance, identity, 't')[1]}"}
    listed = client.get(f"/api/v1/access/users/{user_id}/roles", headers=acl.headers("admin")).json
    assert listed == {"user_id": user_id, "roles": ["marketing"], "roles_from_membership": True}
    assert client.get("/api/v1/access/me", headers=headers).json["roles"] == ["marketing"]
    assert (
        client.get(f"/api/v1/access/users/{user_id}/roles", headers=acl.headers("admin")).json["roles_from_membership"]
        is False
    )
    # A membership naming a role the tenant lacks grants nothing, and the eager path says why.
    typo = identities.create_user(acl.instance, tenant="acme", email="typo@acme.test", password=PASSWORD, role="salez")
    with pytest.raises(ValidationFailed):
        provision_member(acl.instance, binding, typo)
    check_roles(binding, ["marketing", None])
    with pytest.raises(ValidationFailed) as refused:
        check_roles(binding, ["salez"])
    assert refused.value.details == {"fields": {"role": ["unknown role 'salez'"]}}
    identity = identities.identity_for(acl.instance, typo, "acme")
    headers = {"Authorization": f"Bearer {identities.create_token(acl.instance, identity, 't')[1]}"}
    assert client.get("/api/v1/data/deal", headers=headers).status_code == 403


# -- reading the policy back ---------------------------------------------------------------------------------------


def test_explain_names_the_role_policy_scope_share_and_default(acl):
    client = acl.client()
    admin = acl.headers("admin")

    def explain(**params):
        query = "&".join(f"{k}={v}" for k, v in params.items())
        response = client.get(f"/api/v1/access/explain?{query}", headers=admin)
        assert response.status_code == 200, response.json
        return response.json

    own = explain(user="rep_a@acme.test", object="deal", action="update", id=acl.record("deal-rep_a-0").id)
    assert own["allowed"] and own["user"]["roles"] == ["sales_rep"]
    assert own["roles"] == [
        {
            "role": "sales_rep",
            "via": None,
            "entry": "default",
            "policy": ["sales_rep", "acme", "*", "update", "own"],
            "grants": True,
            "scope": "own",
        }
    ]
    assert {"kind": "scope", "value": "own", "matches": True} in own["record"]["reasons"]

    shared = explain(user=acl.ids["rep_a"], object="deal", action="read", id=acl.record("deal-rep_b-0").id)
    assert shared["allowed"]
    (share,) = [r for r in shared["record"]["reasons"] if r["kind"] == "share"]
    assert share["matches"] and share["shares"][0]["user_id"] == acl.ids["rep_a"]

    outside = explain(user=acl.ids["rep_a"], object="deal", action="read", id=acl.record("deal-rep_b-1").id)
    assert not outside["allowed"] and "outside every scope" in outside["reason"]

    client.put("/api/v1/access/objects/deal", json={"org_wide_default": "public_read"}, headers=admin)
    public = explain(user=acl.ids["rep_a"], object="deal", action="read", id=acl.record("deal-rep_b-1").id)
    assert {"kind": "org_wide_default", "value": "public_read", "matches": True} in public["record"]["reasons"]

    nobody = explain(user="nobody@acme.test", object="deal", action="read")
    assert not nobody["allowed"] and nobody["reason"] == "nobody@acme.test holds no role"
    bad = client.get("/api/v1/access/explain?user=rep_a@acme.test&object=nothing&action=fly", headers=admin)
    assert bad.status_code == 422 and set(bad.json["error"]["details"]["fields"]) == {"object", "action"}
    assert client.get("/api/v1/access/explain?user=ghost@acme.test&object=deal", headers=admin).status_code == 404


def test_explain_agrees_with_what_the_user_actually_gets(acl):
    client = acl.client()
    admin = acl.headers("admin")
    for user in ("rep_a", "agent_b", "manager"):
        for record in [r for r in acl.records if r.object == "deal"]:
            explained = client.get(
                f"/api/v1/access/explain?user={acl.ids[user]}&object=deal&action=read&id={record.id}", headers=admin
            ).json
            got = client.get(f"/api/v1/data/deal/{record.id}", headers=acl.headers(user)).status_code
            assert explained["allowed"] == (got == 200), (user, record.name)


def test_my_access_lists_my_roles_and_what_i_may_do(acl):
    me = acl.client().get("/api/v1/access/me", headers=acl.headers("agent_a")).json
    assert me["roles"] == ["service_agent"]
    assert me["permissions"] == {"manage_metadata": False, "manage_access": False}
    assert me["objects"]["deal"]["read"] == ["team"] and me["objects"]["deal"]["delete"] == []
    assert me["objects"]["deal"]["create"] is True and me["objects"]["deal"]["export"] is False
