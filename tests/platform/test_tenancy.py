"""Tenant namespaces on both databases."""

import pytest
import sqlalchemy as sa

from metacrm.platform import audit, tenancy
from metacrm.platform.errors import BadRequest, Conflict, NotFound
from metacrm.platform.hooks import hookimpl
from metacrm.platform.tables import audit_log


def test_create_tenant_builds_its_namespace_with_the_audit_log(instance):
    binding = tenancy.create_tenant(instance, "acme", "Acme Ltd")
    with instance.db.bind("acme").connect() as conn:
        rows = conn.execute(sa.select(audit_log.c.action)).scalars().all()
    assert rows == ["tenant.created"]
    assert binding.slug == "acme"
    if instance.db.dialect == "postgresql":
        assert binding.schema == instance.db.tenant_prefix + "acme"
    else:
        assert instance.db.tenant_file("acme").is_file()


def test_tenants_are_listed_and_duplicates_refused(instance):
    tenancy.create_tenant(instance, "acme")
    tenancy.create_tenant(instance, "globex", "Globex")
    assert [t["slug"] for t in tenancy.list_tenants(instance)] == ["acme", "globex"]
    with pytest.raises(Conflict):
        tenancy.create_tenant(instance, "acme")


@pytest.mark.parametrize("slug", ["A", "1abc", "a", "acme-corp", "x" * 41, "a;drop", "../etc", ""])
def test_malformed_slugs_are_refused(instance, slug):
    with pytest.raises(BadRequest):
        tenancy.create_tenant(instance, slug)


def test_unknown_tenant_cannot_be_bound(instance):
    with pytest.raises(NotFound):
        instance.db.bind("nobody")


def test_each_tenant_sees_only_its_own_tables(instance):
    tenancy.create_tenant(instance, "acme")
    tenancy.create_tenant(instance, "globex")
    actor = audit.Actor(email="x@acme.test")
    with instance.db.bind("acme").begin() as conn:
        audit.record(conn, actor, "test.only_in_acme")
    with instance.db.bind("globex").connect() as conn:
        actions = conn.execute(sa.select(audit_log.c.action)).scalars().all()
    assert "test.only_in_acme" not in actions


def test_audit_log_is_append_only_in_the_database(instance):
    tenancy.create_tenant(instance, "acme")
    binding = instance.db.bind("acme")
    for statement in (audit_log.update().values(action="tampered"), audit_log.delete()):
        with pytest.raises(sa.exc.DatabaseError), binding.begin() as conn:
            conn.execute(statement)
    with binding.connect() as conn:
        assert conn.execute(sa.select(audit_log.c.action)).scalars().all() == ["tenant.created"]


class _FailingPlugin:
    @hookimpl
    def tenant_created(self, tenant, connection):
        raise RuntimeError("plugin exploded while seeding")


def test_a_failure_during_creation_leaves_no_tenant_behind(instance):
    instance.pm.register(_FailingPlugin())
    with pytest.raises(RuntimeError):
        tenancy.create_tenant(instance, "broken")
    assert not tenancy.tenant_exists(instance, "broken")
    if instance.db.dialect == "postgresql":
        with instance.db.engine.connect() as conn:
            found = conn.execute(
                sa.text("SELECT 1 FROM pg_namespace WHERE nspname = :n"), {"n": instance.db.tenant_schema("broken")}
            ).first()
        assert found is None
    else:
        assert not instance.db.tenant_file("broken").exists()


def test_upgrade_is_idempotent(instance):
    tenancy.create_tenant(instance, "acme")
    instance.upgrade_platform()
    assert tenancy.upgrade_tenants(instance) == 1
    assert tenancy.upgrade_tenants(instance) == 1
