"""The lifecycle of a plugin in a tenant, with crm_core: install records
the provenance of every definition; an upgrade applies the diff between
versions and keeps what the tenant customised (reporting conflicts);
uninstall moves the definitions to the recycle bin and keeps the data,
refused while another plugin requires it; reinstall brings them back
with the data; ``--purge`` removes a plugin's objects for good.

One tenant per database for the module (installing crm_core is slow), so
the tests run in file order, each building on the one before."""

from __future__ import annotations

import copy
import importlib.metadata
import shutil
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
import yaml
from click.testing import CliRunner
from metacrm_crm_core.plugin import PACKAGE_DIR

from metacrm.app import build_instance, create_app
from metacrm.cli import main
from metacrm.metadata.guard import SystemGuard
from metacrm.metadata.model import metadata_service, model_for, record_store
from metacrm.platform import audit, tenancy
from metacrm.platform import identity as identities
from metacrm.platform.errors import Conflict, NotFound
from metacrm.plugins import hookimpl, lifecycle
from tests.conftest import BACKENDS, PASSWORD, drop_namespaces, make_config


class CrmCore:
    """crm_core's metadata hook, with a package folder a test can swap
    for the next version's."""

    def __init__(self, package_dir):
        self.package_dir = package_dir

    @hookimpl
    def metadata_packages(self):
        return [self.package_dir]


class Addon:
    """A plugin that requires crm_core (``requires`` in its package.yaml)."""

    def __init__(self, package_dir):
        self.package_dir = package_dir

    @hookimpl
    def metadata_packages(self):
        return [self.package_dir]


def _yaml(path, change=None):
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    if change is not None:
        change(document)
        path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    return document


def _next_version(folder):
    """crm_core 1.1.0: a changed account layout and contact list view, a new
    account field, and the lead list view ``open`` no longer shipped."""
    shutil.copytree(PACKAGE_DIR, folder)
    _yaml(folder / "package.yaml", lambda d: d.update(version="1.1.0"))
    _yaml(folder / "objects/account/layouts.yaml", lambda d: d[0].update(label="Account layout 1.1"))
    _yaml(folder / "objects/contact/list_views.yaml", lambda d: d[0].update(label="Every contact"))
    field = {"api_name": "loyalty_tier", "label": "Loyalty tier", "type": "text"}
    _yaml(folder / "objects/account/fields.yaml", lambda d: d.append(field))
    _yaml(
        folder / "objects/lead/list_views.yaml",
        lambda d: d.__setitem__(slice(None), [v for v in d if v["api_name"] != "open"]),
    )


def _addon_package(folder, requires):
    (folder / "objects/visit").mkdir(parents=True)
    manifest = {"name": "addon", "version": "1.0.0", "label": "Visits", "requires": {"crm_core": requires}}
    (folder / "package.yaml").write_text(yaml.safe_dump(manifest))
    (folder / "objects/visit/object.yaml").write_text(yaml.safe_dump({"api_name": "visit", "label": "Visit"}))
    account = {"api_name": "account", "label": "Account", "type": "lookup", "options": {"target": "account"}}
    (folder / "objects/visit/fields.yaml").write_text(
        yaml.safe_dump([{"api_name": "name", "label": "Name", "type": "text"}, account])
    )


@pytest.fixture(scope="module", params=BACKENDS)
def crm(request, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lifecycle")
    config = make_config(tmp, request.param)
    instance = build_instance(config, load_entry_points=False)
    instance.upgrade_platform()
    instance.pm.register_tenant_plugin(CrmCore(PACKAGE_DIR), "crm_core", "metacrm-crm-core", "1.0.0")
    _next_version(tmp / "crm_core_1_1")
    _addon_package(tmp / "addon", ">=1.0,<2")
    instance.pm.register_tenant_plugin(Addon(tmp / "addon"), "addon", "metacrm-addon", "1.0.0")
    tenancy.create_tenant(instance, "acme", "Acme")
    instance.next_version = tmp / "crm_core_1_1"
    instance.addon_dir = tmp / "addon"
    instance.config_for_cli = config
    yield instance
    drop_namespaces(instance)
    instance.dispose()


def _binding(crm):
    return crm.db.bind("acme")


def _model(crm):
    return model_for(crm, _binding(crm))


def _store(crm):
    return record_store(crm, _binding(crm), SystemGuard(), audit.SYSTEM)


def test_install_checks_requires_then_records_what_it_wrote(crm):
    with pytest.raises(Conflict) as refused:
        lifecycle.install(crm, _binding(crm), "addon", audit.SYSTEM)
    assert refused.value.details["requires"] == ["crm_core >=1.0,<2 (not installed)"]
    result = lifecycle.install(crm, _binding(crm), "crm_core", audit.SYSTEM)
    assert result["action"] == "installed" and result["created"] > 100 and result["conflicts"] == []
    record = lifecycle.installed_plugins(crm, _binding(crm))["crm_core"]
    assert record["version"] == "1.0.0" and record["plugin"] == "crm_core"
    assert {"object:account", "field:account.name", "layout:account.default", "app:sales"} <= set(record["definitions"])
    again = lifecycle.install(crm, _binding(crm), "crm_core", audit.SYSTEM)
    assert again["revision"] is None and again["action"] == "reapplied"


def test_upgrade_applies_the_diff_and_keeps_what_the_tenant_customised(crm):
    binding = _binding(crm)
    layout = copy.deepcopy(_model(crm).definitions.get("layout", "account.default").document)
    layout["label"] = "Our account page"
    leads = copy.deepcopy(_model(crm).definitions.get("list_view", "lead.all").document)
    leads["label"] = "Our leads"  # a definition the new version ships unchanged
    with metadata_service(crm, binding, audit.SYSTEM).change("tenant customisation") as tx:
        tx.add_field("account", {"api_name": "region_code", "label": "Region code", "type": "text"})
        tx.put("layout", "account", layout)
        tx.put("list_view", "lead", leads)
    crm.pm.get_plugin("crm_core").package_dir = crm.next_version
    result = lifecycle.upgrade(crm, binding, "crm_core", audit.SYSTEM)
    assert result["action"] == "upgraded" and result["previous_version"] == "1.0.0"
    assert result["conflicts"] == [
        {
            "kind": "layout",
            "key": "account.default",
            "reason": "changed by the tenant; the new version was not applied",
        }
    ]
    definitions = _model(crm).definitions
    assert definitions.get("layout", "account.default").document["label"] == "Our account page"  # kept
    assert definitions.get("list_view", "contact.all").document["label"] == "Every contact"  # applied
    assert definitions.field("account", "loyalty_tier") is not None  # added
    assert definitions.field("account", "region_code") is not None  # the tenant's field survives
    assert definitions.get("list_view", "lead.open") is None  # no longer shipped: removed
    assert definitions.get("list_view", "lead.all").document["label"] == "Our leads"  # kept, no conflict
    assert lifecycle.installed_plugins(crm, binding)["crm_core"]["version"] == "1.1.0"
    again = lifecycle.upgrade(crm, binding, "crm_core", audit.SYSTEM)  # the customisations stay the tenant's
    assert again["revision"] is None and [c["key"] for c in again["conflicts"]] == ["account.default"]


def test_uninstall_is_refused_while_another_plugin_requires_it(crm):
    binding = _binding(crm)
    lifecycle.install(crm, binding, "addon", audit.SYSTEM)
    with pytest.raises(Conflict) as refused:
        lifecycle.uninstall(crm, binding, "crm_core", audit.SYSTEM)
    assert refused.value.details == {"plugin": "crm_core", "required_by": ["addon"]}


def test_uninstall_with_purge_removes_the_objects_and_their_data(crm):
    binding = _binding(crm)
    account = _store(crm).create("account", {"name": "Keep me", "region_code": "EU"})
    _store(crm).create("visit", {"name": "First visit", "account": account["id"]})
    visit_table = _model(crm).object("visit").table.name
    result = lifecycle.uninstall(crm, binding, "addon", audit.SYSTEM, purge=True)
    assert result["purged"] and "addon" not in lifecycle.installed_plugins(crm, binding)
    assert _model(crm).definitions.get("object", "visit", include_deleted=True) is None
    with binding.connect() as conn:
        assert visit_table not in sa.inspect(conn).get_table_names(schema=binding.schema)


def test_uninstall_moves_definitions_to_the_recycle_bin_and_reinstall_brings_back_the_data(crm):
    binding = _binding(crm)
    result = lifecycle.uninstall(crm, binding, "crm_core", audit.SYSTEM)
    assert result["removed"] > 10 and not result["purged"]
    definitions = _model(crm).definitions
    assert definitions.object("account") is None and not definitions.get("object", "account", include_deleted=True).live
    assert definitions.get("app", "sales") is None
    assert lifecycle.installed_plugins(crm, binding) == {}
    with pytest.raises(NotFound):
        _store(crm).create("account", {"name": "Nowhere"})
    lifecycle.install(crm, binding, "crm_core", audit.SYSTEM)
    definitions = _model(crm).definitions
    assert definitions.object("account") is not None and definitions.get("app", "sales") is not None
    assert definitions.field("account", "region_code") is not None  # the tenant's field came back with it
    table = _model(crm).object("account").table
    with binding.connect() as conn:
        rows = conn.execute(sa.select(table.c.name, table.c.region_code).where(table.c.name == "Keep me")).all()
    assert [tuple(r) for r in rows] == [("Keep me", "EU")]


def test_the_plugin_verbs_list_plugins_and_broken_ones_and_refuse_clearly(crm, monkeypatch):
    for key in ("DATA_DIR", "DATABASE_URL", "PLATFORM_SCHEMA", "TENANT_SCHEMA_PREFIX", "SECRET_KEY"):
        if key in crm.config_for_cli:
            monkeypatch.setenv(f"METACRM_{key}", str(crm.config_for_cli[key]))
    real_entry_points = importlib.metadata.entry_points
    ghost = importlib.metadata.EntryPoint("ghost", "metacrm_no_such_plugin.plugin", "metacrm.plugins")
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: [*real_entry_points(group=group), ghost])
    runner = CliRunner()
    listed = runner.invoke(main, ["plugin", "list", "--tenant", "acme"])
    assert listed.exit_code == 0, listed.output
    assert "ghost\t-\tbroken\tcannot be loaded: ModuleNotFoundError" in listed.output
    # this process's crm_core (the entry point) is 1.0.0; the tenant has 1.1.0
    assert "crm_core\t1.0.0\tinstalled 1.1.0\tStandard CRM" in listed.output
    missing = runner.invoke(main, ["plugin", "uninstall", "nothing", "--tenant", "acme"])
    assert missing.exit_code == 1 and "plugin nothing is not installed in acme" in missing.output


@pytest.fixture(scope="module")
def web(crm):
    """The app on the module's instance, an admin's bearer header and a
    signed-in admin browser session (with its CSRF token)."""
    app = create_app(instance=crm)
    admin = identities.create_user(
        crm, tenant="acme", email="admin@acme.test", password=PASSWORD, is_admin=True, role="admin"
    )
    plain = identities.create_user(crm, tenant="acme", email="user@acme.test", password=PASSWORD)
    token = identities.create_token(crm, identities.identity_for(crm, admin, "acme"), "t")[1]
    user_token = identities.create_token(crm, identities.identity_for(crm, plain, "acme"), "t")[1]
    session = app.test_client()
    page = session.get("/login").get_data(as_text=True)
    csrf = page.split('name="csrf_token" value="')[1].split('"')[0]
    form = {"email": "admin@acme.test", "password": PASSWORD, "tenant": "acme", "csrf_token": csrf}
    assert session.post("/login", data=form).status_code == 302
    csrf = session.get("/setup/plugins").get_data(as_text=True).split('name="csrf_token" value="')[1].split('"')[0]
    return SimpleNamespace(
        api=app.test_client(),
        admin={"Authorization": f"Bearer {token}"},
        user={"Authorization": f"Bearer {user_token}"},
        session=session,
        csrf=csrf,
    )


def test_the_api_runs_the_lifecycle_for_metadata_admins_only(crm, web):
    api, admin = web.api, web.admin
    assert api.get("/api/v1/plugins", headers=web.user).status_code == 403
    assert api.post("/api/v1/plugins/addon/install", headers=web.user).status_code == 403
    listed = api.get("/api/v1/plugins", headers=admin).json
    states = {row["name"]: row["state"] for row in listed["data"]}
    assert states == {"addon": "available", "crm_core": "installed"}
    assert api.post("/api/v1/plugins/nothing/install", headers=admin).status_code == 404
    installed = api.post("/api/v1/plugins/addon/install", headers=admin)
    assert installed.status_code == 200 and installed.json["action"] == "installed"
    refused = api.post("/api/v1/plugins/crm_core/uninstall", headers=admin)
    assert refused.status_code == 409 and refused.json["error"]["details"]["required_by"] == ["addon"]
    bad = api.post("/api/v1/plugins/addon/uninstall", json={"purge": "yes"}, headers=admin)
    assert bad.status_code == 422 and bad.json["error"]["details"]["fields"] == {"purge": ["must be a boolean"]}
    done = api.post("/api/v1/plugins/addon/uninstall", json={"purge": True}, headers=admin)
    assert done.status_code == 200 and done.json["purged"] is True


def test_the_plugins_screen_installs_and_uninstalls_with_confirmation_and_shows_broken_plugins(crm, web):
    crm.pm.report_broken("ghost", "cannot be loaded: ModuleNotFoundError('ghost')")
    session, csrf = web.session, web.csrf
    html = session.get("/setup/plugins").get_data(as_text=True)
    assert 'data-plugin="crm_core" data-package="crm_core" data-state="installed"' in html
    assert 'action="/setup/plugins/addon/install"' in html and 'data-broken="ghost"' in html
    page = session.post("/setup/plugins/addon/install", data={"csrf_token": csrf}, follow_redirects=True)
    assert "addon is installed." in page.get_data(as_text=True)
    assert lifecycle.installed_plugins(crm, _binding(crm))["addon"]["version"] == "1.0.0"
    page = session.post("/setup/plugins/addon/uninstall", data={"csrf_token": csrf}, follow_redirects=True)
    assert "Tick the box to confirm the uninstall." in page.get_data(as_text=True)
    assert "addon" in lifecycle.installed_plugins(crm, _binding(crm))
    form = {"csrf_token": csrf, "confirm": "1"}
    page = session.post("/setup/plugins/addon/uninstall", data=form, follow_redirects=True)
    assert "its objects and their data are in the recycle bin" in page.get_data(as_text=True)
    assert "addon" not in lifecycle.installed_plugins(crm, _binding(crm))
