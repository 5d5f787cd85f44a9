"""A plugin's hooks run only in the tenants where it is installed; record
events of several plugins compose in (order, plugin) order; a raising
handler rolls the save back with an error naming the plugin; a broken
plugin is reported by name and left out.

Small plugins defined here, registered as tenant-scoped plugins (what an
entry point gives), on one instance per database for the module."""

from __future__ import annotations

import importlib.metadata

import pytest
import sqlalchemy as sa
import yaml

from metacrm.app import build_instance, create_app
from metacrm.metadata.guard import SystemGuard
from metacrm.metadata.model import metadata_service, model_for, record_store
from metacrm.platform import audit, tenancy
from metacrm.platform import identity as identities
from metacrm.platform.errors import Conflict, PluginFailed, ValidationFailed
from metacrm.plugins import NUMBER, AutomationAction, Function, Param, RecordEvents, hookimpl, lifecycle
from metacrm.rules import RuleError
from metacrm.rules.automation import actions_of
from metacrm.rules.automation.definitions import check_actions
from tests.conftest import BACKENDS, PASSWORD, drop_namespaces, make_config

# What the handlers saw, in the order they ran: (plugin, event, detail).
seen: list[tuple] = []


class Shop:
    """Ships the package with the ``order`` object the others hook."""

    def __init__(self, package_dir):
        self.package_dir = package_dir

    @hookimpl
    def metadata_packages(self):
        return [self.package_dir]


class Listener:
    """Handles every event of ``order``; ``fail``: its after_save raises."""

    def __init__(self, name: str, order: int, fail: bool = False):
        self.name, self.order, self.fail = name, order, fail

    @hookimpl
    def register_record_events(self):
        plugin = self

        class OrderEvents(RecordEvents):
            objects = ("order",)
            order = plugin.order

            def before_save(self, ctx, saves):
                seen.append((plugin.name, "before_save", ctx.action))
                for save in saves:  # a before-save handler may fill values
                    save.values.setdefault("note", plugin.name)

            def after_save(self, ctx, saves):
                seen.append((plugin.name, "after_save", ctx.action))
                if plugin.fail:
                    raise RuntimeError("the warehouse is unreachable")

            def after_delete(self, ctx, saves):
                seen.append((plugin.name, "after_delete", saves[0].record_id))

            def on_stage_change(self, ctx, save, old, new):
                seen.append((plugin.name, "on_stage_change", (old, new)))

        return [OrderEvents()]


class Vetoer:
    """Refuses any metadata change that leaves an object named ``forbidden``."""

    @hookimpl
    def check_definitions(self, definitions, model):
        if definitions.object("forbidden") is not None:
            return [("object", "forbidden", "api_name", "vetoed by the vetoer plugin")]
        return []


class Fleeting:
    """A plugin with no metadata package: its record alone installs it."""

    @hookimpl
    def plugin_installed(self, tenant, connection, plugin, version):
        seen.append((plugin, "installed", version))


TWICE = Function(
    name="TWICE",
    category="math",
    params=(Param("number", ("NUMBER",)),),
    returns=NUMBER,
    python=lambda number: number * 2,
    sql=lambda call: call.args[0] * 2,
    doc="The number doubled.",
    example="TWICE(2) = 4",
)


class Doubling:
    @hookimpl
    def register_rule_functions(self):
        return [TWICE]

    @hookimpl
    def register_automation_actions(self):
        return [AutomationAction("double_note", lambda call: None, params=("TEXT",))]


class Grumpy:
    """Its install callback raises."""

    @hookimpl
    def plugin_installed(self, tenant, connection, plugin, version):
        raise RuntimeError("no seed data today")


class BrokenPackages:
    @hookimpl
    def metadata_packages(self):
        raise ValueError("package folder missing")


def _write_future_package(folder):
    folder.mkdir()
    manifest = {"name": "future", "version": "3.0.0", "label": "Future", "platform": ">=99"}
    (folder / "package.yaml").write_text(yaml.safe_dump(manifest))


def _write_shop_package(folder):
    objects = folder / "objects" / "order"
    objects.mkdir(parents=True)
    (folder / "package.yaml").write_text(yaml.safe_dump({"name": "shop", "version": "1.0.0", "label": "Shop"}))
    (objects / "object.yaml").write_text(yaml.safe_dump({"api_name": "order", "label": "Order"}))
    stage = {
        "api_name": "stage",
        "label": "Stage",
        "type": "picklist",
        "options": {"values": [{"value": "new", "label": "New"}, {"value": "paid", "label": "Paid"}]},
    }
    fields = [{"api_name": "name", "label": "Name", "type": "text"}, stage]
    fields.append({"api_name": "note", "label": "Note", "type": "text"})
    (objects / "fields.yaml").write_text(yaml.safe_dump(fields))


@pytest.fixture(scope="module", params=BACKENDS)
def shop(request, tmp_path_factory):
    """Tenants ``both`` (shop, alpha, beta, vetoer, doubling), ``bare`` (shop alone) and
    ``faulty`` (shop, gamma whose after_save raises)."""
    tmp = tmp_path_factory.mktemp("hooks")
    _write_shop_package(tmp / "shop")
    _write_future_package(tmp / "future")
    config = make_config(tmp, request.param)
    instance = build_instance(config, load_entry_points=False)
    instance.upgrade_platform()
    pm = instance.pm
    pm.register_tenant_plugin(Shop(tmp / "shop"), "shop", "metacrm-shop", "1.0.0")
    pm.register_tenant_plugin(Listener("alpha", order=20), "alpha", "metacrm-alpha", "1.0.0")
    pm.register_tenant_plugin(Listener("beta", order=10), "beta", "metacrm-beta", "1.0.0")
    pm.register_tenant_plugin(Listener("gamma", order=10, fail=True), "gamma", "metacrm-gamma", "1.0.0")
    pm.register_tenant_plugin(BrokenPackages(), "broken_pkg", "metacrm-broken-pkg", "1.0.0")
    pm.register_tenant_plugin(Vetoer(), "vetoer", "metacrm-vetoer", "1.0.0")
    pm.register_tenant_plugin(Doubling(), "doubling", "metacrm-doubling", "1.0.0")
    pm.register_tenant_plugin(Shop(tmp / "future"), "future", "metacrm-future", "3.0.0")
    pm.register_tenant_plugin(Fleeting(), "fleeting", "metacrm-fleeting", "0.2.0")
    pm.register_tenant_plugin(Grumpy(), "grumpy", "metacrm-grumpy", "1.0.0")
    tenants = (
        ("both", ("shop", "alpha", "beta", "vetoer", "doubling")),
        ("bare", ("shop",)),
        ("faulty", ("shop", "gamma")),
    )
    for slug, plugins in tenants:
        tenancy.create_tenant(instance, slug, slug.title())
        for name in plugins:
            lifecycle.install(instance, instance.db.bind(slug), name, audit.SYSTEM)
    yield instance
    drop_namespaces(instance)
    instance.dispose()


def _store(instance, slug):
    return record_store(instance, instance.db.bind(slug), SystemGuard(), audit.SYSTEM)


def _count(instance, slug) -> int:
    binding = instance.db.bind(slug)
    table = model_for(instance, binding).object("order").table
    with binding.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def test_two_plugins_hooking_the_same_event_both_run_in_order(shop):
    seen.clear()
    store = _store(shop, "both")
    record = store.create("order", {"name": "A-1", "stage": "new"})
    # beta (order 10) before alpha (order 20), at every event
    assert seen == [
        ("beta", "before_save", "create"),
        ("alpha", "before_save", "create"),
        ("beta", "after_save", "create"),
        ("alpha", "after_save", "create"),
        ("beta", "on_stage_change", (None, "new")),
        ("alpha", "on_stage_change", (None, "new")),
    ]
    assert record["note"] == "beta"  # the first handler filled it; the second saw it set
    seen.clear()
    store.update("order", record["id"], {"name": "A-1 bis"})
    assert ("beta", "on_stage_change") not in [(p, e) for p, e, _ in seen]  # the stage did not move
    seen.clear()
    store.update("order", record["id"], {"stage": "paid"})
    assert [s for s in seen if s[1] == "on_stage_change"] == [
        ("beta", "on_stage_change", ("new", "paid")),
        ("alpha", "on_stage_change", ("new", "paid")),
    ]
    seen.clear()
    store.delete("order", record["id"])
    deleted = record["id"]
    assert seen == [("beta", "after_delete", deleted), ("alpha", "after_delete", deleted)]


def test_a_plugins_hooks_do_not_run_in_a_tenant_that_has_not_installed_it(shop):
    seen.clear()
    record = _store(shop, "bare").create("order", {"name": "B-1", "stage": "new"})
    assert seen == []
    assert record["note"] is None


def test_definition_checks_of_a_plugin_apply_only_where_it_is_installed(shop):
    forbidden = {"api_name": "forbidden", "label": "Forbidden"}
    service = metadata_service(shop, shop.db.bind("both"), audit.SYSTEM)
    with pytest.raises(ValidationFailed) as refused, service.change("add forbidden") as tx:
        tx.create_object(forbidden)
    assert "vetoed by the vetoer plugin" in str(refused.value.details)
    with metadata_service(shop, shop.db.bind("bare"), audit.SYSTEM).change("add forbidden") as tx:
        tx.create_object(forbidden)
    assert model_for(shop, shop.db.bind("bare")).object("forbidden") is not None


def test_a_plugins_rule_functions_exist_only_where_it_is_installed(shop):
    rule = {"api_name": "cap", "condition": "TWICE(LEN(name)) > 40", "message": "too long", "field": "name"}
    with metadata_service(shop, shop.db.bind("both"), audit.SYSTEM).change("cap") as tx:
        tx.put_validation_rule("order", rule)
    service = metadata_service(shop, shop.db.bind("bare"), audit.SYSTEM)
    with pytest.raises(ValidationFailed) as refused, service.change("cap") as tx:
        tx.put_validation_rule("order", rule)
    assert "TWICE" in str(refused.value.details)
    with pytest.raises(ValidationFailed) as still_used:  # the tenant's own rule still calls it
        lifecycle.uninstall(shop, shop.db.bind("both"), "doubling", audit.SYSTEM)
    assert "order.cap" in str(still_used.value.details)
    assert "doubling" in lifecycle.installed_plugins(shop, shop.db.bind("both"))


def test_a_plugins_automation_actions_exist_only_where_it_is_installed(shop):
    for slug, expected in (("both", True), ("bare", False)):
        actions = actions_of(shop, model_for(shop, shop.db.bind(slug)))
        assert ("double_note" in actions) is expected, slug
        assert any(action.doc == "back to the object's pool" for action in actions.values())  # built-ins run everywhere
    rule = {"api_name": "doubled", "rule": 'WHEN created THEN CALL double_note("x")'}
    both, bare = shop.db.bind("both"), shop.db.bind("bare")
    check_actions(shop, both, model_for(shop, both), "order", rule)  # the API's check of a rule's actions
    with pytest.raises(RuleError, match="double_note"):
        check_actions(shop, bare, model_for(shop, bare), "order", rule)


def test_uninstalling_a_plugin_stops_its_hooks_and_reinstalling_brings_them_back(shop):
    binding = shop.db.bind("both")
    lifecycle.uninstall(shop, binding, "alpha", audit.SYSTEM)
    seen.clear()
    _store(shop, "both").create("order", {"name": "C-1"})
    assert {plugin for plugin, _, _ in seen} == {"beta"}
    lifecycle.install(shop, binding, "alpha", audit.SYSTEM)
    seen.clear()
    _store(shop, "both").create("order", {"name": "C-2"})
    assert {plugin for plugin, _, _ in seen} == {"alpha", "beta"}


def test_a_raising_hook_rolls_the_save_back_with_an_error_naming_the_plugin(shop):
    before = _count(shop, "faulty")
    with pytest.raises(PluginFailed) as failed:
        _store(shop, "faulty").create("order", {"name": "D-1"})
    assert failed.value.details == {"plugin": "gamma", "event": "after_save", "object": "order"}
    assert "gamma" in failed.value.message and "warehouse is unreachable" in failed.value.message
    assert _count(shop, "faulty") == before


def test_the_api_answers_a_raising_hook_with_a_json_500_and_writes_nothing(shop):
    app = create_app(instance=shop)
    user_id = identities.create_user(
        shop, tenant="faulty", email="admin@faulty.test", password=PASSWORD, is_admin=True, role="admin"
    )
    token = identities.create_token(shop, identities.identity_for(shop, user_id, "faulty"), "t")[1]
    before = _count(shop, "faulty")
    response = app.test_client().post(
        "/api/v1/data/order", json={"name": "E-1"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 500
    assert response.json["error"]["code"] == "plugin_failed"
    assert response.json["error"]["details"]["plugin"] == "gamma"
    assert _count(shop, "faulty") == before


def test_a_plugin_whose_registration_hook_raises_is_reported_and_left_out(shop):
    plugins = lifecycle.available_plugins(shop)
    assert "broken_pkg" not in plugins and {"shop", "alpha", "beta"} <= set(plugins)
    assert "metadata_packages raised ValueError('package folder missing')" in shop.pm.broken["broken_pkg"]


def test_a_plugin_that_fails_to_import_is_reported_by_name(shop, monkeypatch):
    entry_point = importlib.metadata.EntryPoint("ghost", "metacrm_no_such_plugin.plugin", "metacrm.plugins")
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: [entry_point])
    shop.pm.load_entry_points()
    assert "No module named 'metacrm_no_such_plugin'" in shop.pm.broken["ghost"]
    assert shop.pm.get_plugin("ghost") is None
    # the platform runs on: saves and installs still work
    assert _store(shop, "bare").create("order", {"name": "F-1"})["id"]


def test_a_plugin_for_another_platform_version_is_refused(shop):
    with pytest.raises(Conflict) as refused:
        lifecycle.install(shop, shop.db.bind("bare"), "future", audit.SYSTEM)
    assert refused.value.details["requires"] == [f"metacrm >=99 (this is {lifecycle.platform_version()})"]
    assert "future" not in lifecycle.installed_plugins(shop, shop.db.bind("bare"))


def test_a_plugin_gone_from_the_installation_is_shown_missing_and_can_be_uninstalled(shop):
    binding = shop.db.bind("bare")
    seen.clear()
    lifecycle.install(shop, binding, "fleeting", audit.SYSTEM)
    assert seen == [("fleeting", "installed", "0.2.0")]  # its own callback, in the install
    shop.pm.report_broken("fleeting", "cannot be loaded: ImportError('gone')")
    states = {row["name"]: row for row in lifecycle.plugin_states(shop, binding)}
    assert states["fleeting"]["state"] == "missing" and states["fleeting"]["installed_version"] == "0.2.0"
    assert states["fleeting"]["description"] == "cannot be loaded: ImportError('gone')"
    lifecycle.uninstall(shop, binding, "fleeting", audit.SYSTEM)
    assert "fleeting" not in lifecycle.installed_plugins(shop, binding)


def test_an_install_callback_that_raises_rolls_the_install_back(shop):
    binding = shop.db.bind("bare")
    revision = model_for(shop, binding).revision
    with pytest.raises(PluginFailed) as failed:
        lifecycle.install(shop, binding, "grumpy", audit.SYSTEM)
    assert failed.value.details == {"plugin": "grumpy", "hook": "plugin_installed"}
    assert "grumpy" not in lifecycle.installed_plugins(shop, binding)
    assert model_for(shop, binding).revision == revision
