"""Issue 14, item 6: every bundled industry module goes through the
lifecycle beside crm_core with its data surviving — install (with its demo
records), a tenant customisation kept when the module is applied again,
uninstall refused for crm_core while a module requires it, uninstall into
the recycle bin, reinstall with every record back.

The modules come in through their entry points, as in production. One
tenant per database for the module; the tests run in file order."""

from __future__ import annotations

import importlib

import pytest
import sqlalchemy as sa

from metacrm.app import build_instance
from metacrm.metadata.guard import SystemGuard
from metacrm.metadata.model import metadata_service, model_for, record_store
from metacrm.platform import audit, tenancy
from metacrm.platform.errors import Conflict
from metacrm.plugins import lifecycle
from tests.conftest import BACKENDS, drop_namespaces, make_config

# Each module and the object whose records the test follows through the lifecycle.
MODULES = {
    "healthcare": "patient",
    "finance": "portfolio",
    "retail": "member",
    "manufacturing": "mfg_order",
}


@pytest.fixture(scope="module", params=BACKENDS)
def plant(request, tmp_path_factory):
    instance = build_instance(make_config(tmp_path_factory.mktemp("industry"), request.param))
    instance.upgrade_platform()
    tenancy.create_tenant(instance, "acme", "Acme")
    yield instance
    drop_namespaces(instance)
    instance.dispose()


def _binding(instance):
    return instance.db.bind("acme")


def _store(instance):
    return record_store(instance, _binding(instance), SystemGuard(), audit.SYSTEM)


def _count(instance, object_name: str) -> int:
    table = model_for(instance, _binding(instance)).object(object_name).table
    with _binding(instance).connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table).where(table.c.deleted_at.is_(None))).scalar()


def _demo(instance, name: str) -> None:
    """The module's own demo records, as ``metacrm demo`` makes them."""

    def create(object_name: str, rows: list[dict]) -> list[int]:
        owners = [row.pop("owner_id", None) for row in rows]
        return [r["id"] for r in _store(instance).bulk_create(object_name, rows, owner_ids=owners)]

    plugin = importlib.import_module(f"metacrm_{name}.plugin")
    plugin.generate_demo_data(tenant=_binding(instance), create=create, owner_ids=[None], progress=lambda *a: None)


def test_every_module_installs_beside_crm_core_with_its_demo_records(plant):
    binding = _binding(plant)
    assert lifecycle.install(plant, binding, "crm_core", audit.SYSTEM)["action"] == "installed"
    for name, object_name in MODULES.items():
        result = lifecycle.install(plant, binding, name, audit.SYSTEM)
        assert result["action"] == "installed" and result["conflicts"] == [], (name, result)
        _demo(plant, name)
        assert _count(plant, object_name) > 0, name
    assert set(MODULES) | {"crm_core"} <= set(lifecycle.installed_plugins(plant, binding))


def test_a_tenant_customisation_survives_applying_a_module_again(plant):
    binding = _binding(plant)
    for name, object_name in MODULES.items():
        field = {"api_name": "our_note", "label": "Our note", "type": "text"}
        with metadata_service(plant, binding, audit.SYSTEM).change(f"customise {object_name}") as tx:
            tx.add_field(object_name, field)
        again = lifecycle.install(plant, binding, name, audit.SYSTEM)
        assert again["action"] == "reapplied", (name, again)
        assert model_for(plant, binding).definitions.field(object_name, "our_note") is not None, name


def test_crm_core_cannot_go_while_a_module_requires_it(plant):
    with pytest.raises(Conflict) as refused:
        lifecycle.uninstall(plant, _binding(plant), "crm_core", audit.SYSTEM)
    assert set(refused.value.details["required_by"]) >= {"finance", "retail", "manufacturing"}


def test_each_module_uninstalls_into_the_recycle_bin_and_comes_back_with_its_records(plant):
    binding = _binding(plant)
    for name, object_name in MODULES.items():
        before = _count(plant, object_name)
        lifecycle.uninstall(plant, binding, name, audit.SYSTEM)
        definitions = model_for(plant, binding).definitions
        assert definitions.object(object_name) is None, name
        assert not definitions.get("object", object_name, include_deleted=True).live, name
        assert name not in lifecycle.installed_plugins(plant, binding)
        lifecycle.install(plant, binding, name, audit.SYSTEM)
        assert _count(plant, object_name) == before, name
        assert name in lifecycle.installed_plugins(plant, binding)
