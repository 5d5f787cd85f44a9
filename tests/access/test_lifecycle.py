"""The access layer over a tenant's life: upgraded from before it existed,
exported and imported under another slug."""

from __future__ import annotations

import sqlalchemy as sa
from argon2 import PasswordHasher

from metacrm.access.guard import PolicyGuard
from metacrm.access.permissions import DEFINITION_KEY, DEFINITION_KIND
from metacrm.access.plugin import access_plugin
from metacrm.access.policy import policy_for
from metacrm.access.tables import casbin_rule
from metacrm.app import BUILTIN_PLUGINS, build_instance
from metacrm.metadata.changes import load_definitions
from metacrm.metadata.transfer import export_tenant, import_tenant
from metacrm.platform import identity as identities
from metacrm.platform import tenancy
from metacrm.platform.instance import Instance
from tests.conftest import PASSWORD, drop_namespaces

CHEAP_HASH = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)


def test_a_tenant_created_before_the_access_layer_gets_the_standard_roles_on_upgrade(config, monkeypatch):
    monkeypatch.setattr(identities, "hash_password", lambda _password: CHEAP_HASH)
    before = Instance(
        config, builtin_plugins=[p for p in BUILTIN_PLUGINS if p is not access_plugin], load_entry_points=False
    )
    before.upgrade_platform()
    tenancy.create_tenant(before, "acme", "Acme")
    boss = identities.create_user(before, tenant="acme", email="boss@acme.test", password=PASSWORD, is_admin=True)
    before.dispose()

    after = build_instance(config, load_entry_points=False)
    try:
        assert tenancy.upgrade_tenants(after) == 1
        binding = after.db.bind("acme")
        with binding.connect() as conn:
            assert load_definitions(conn).get(DEFINITION_KIND, DEFINITION_KEY) is not None
        guard = PolicyGuard.for_identity(after, binding, identities.identity_for(after, boss, "acme"))
        assert guard.roles == {"admin"} and guard.may("manage_access") and guard.may("manage_metadata")
        assert tenancy.upgrade_tenants(after) == 1  # idempotent: nothing seeded twice
        policy = policy_for(after, binding)
        assert len(policy.roles) == 6
        assert policy.scopes(frozenset({"admin"}), "anything", "transfer") == {"all"}
    finally:
        drop_namespaces(after)
        after.dispose()


def test_a_tenant_imported_under_another_slug_keeps_its_policy(acl, tmp_path):
    client = acl.client()
    entry = {"create": True, "read": "team", "update": "own", "fields": {"secret": "hidden"}}
    assert client.put("/api/v1/access/roles/sales_rep/objects/deal", json=entry, headers=acl.headers("admin"))
    condition = {"create": True, "read": {"condition": "amount > 5"}}
    response = client.put("/api/v1/access/roles/marketing/objects/deal", json=condition, headers=acl.headers("admin"))
    assert response.status_code == 200
    pool = {"api_name": "deals", "object": "deal", "label": "Deals", "members": {"teams": ["north"]}}
    assert client.post("/api/v1/access/pools", json=pool, headers=acl.headers("admin")).status_code == 201
    original = policy_for(acl.instance, acl.binding)
    export_tenant(acl.instance, "acme", tmp_path / "acme.zip")
    copy = import_tenant(acl.instance, tmp_path / "acme.zip", slug="acme_copy")
    imported = policy_for(acl.instance, copy)
    assert imported.document() == original.document()
    assert imported.domain == "acme_copy"
    held = frozenset({"sales_rep"})
    assert imported.scopes(held, "deal", "read") == {"team"}
    assert imported.field_sets(held, "deal", ("name", "secret")) == (frozenset({"name"}), frozenset({"name"}))
    assert imported.allows(frozenset({"admin"}), "manage_access")
    assert imported.scopes(frozenset({"marketing"}), "deal", "read") == {"condition:amount > 5"}
    assert imported.pools["deals"].member_teams == ("north",)


def test_a_tenant_seeded_before_the_transfer_right_gets_it_on_upgrade(acl):
    from metacrm.access.seed import add_transfer_right

    with acl.binding.begin() as conn:
        conn.execute(casbin_rule.delete().where(casbin_rule.c.v3 == "transfer"))
    with acl.binding.begin() as conn:
        add_transfer_right(conn)
        add_transfer_right(conn)  # idempotent
    with acl.binding.connect() as conn:
        rows = conn.execute(sa.select(casbin_rule.c.v0).where(casbin_rule.c.v3 == "transfer")).scalars().all()
        document = load_definitions(conn).get(DEFINITION_KIND, DEFINITION_KEY).document
    assert sorted(rows) == ["admin", "sales_manager"]
    assert document["roles"]["sales_manager"]["objects"]["*"]["transfer"] is True
