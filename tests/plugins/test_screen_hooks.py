"""Plugins on the screens: a record-page panel, a record action and a list
action of a tenant-scoped plugin (tests/plugins/screenplug) show in the
tenant where it is installed and not in one where it isn't; the panel is
autoescaped, the CSP header stays strict, the plugin's static file is
served only where it is installed, and the actions run through the guard.
One instance per database for the module."""

from __future__ import annotations

import pytest
import yaml

from metacrm.app import build_instance, create_app
from metacrm.platform import audit, tenancy
from metacrm.platform import identity as identities
from metacrm.platform.web import CONTENT_SECURITY_POLICY
from metacrm.plugins import hookimpl, lifecycle
from tests.conftest import BACKENDS, PASSWORD, drop_namespaces, make_config
from tests.plugins.screenplug import ScreenPlugin

HOSTILE = '<script>alert("x")</script>'


class Desk:
    """Ships the ``ticket`` object both tenants install."""

    def __init__(self, package_dir):
        self.package_dir = package_dir

    @hookimpl
    def metadata_packages(self):
        return [self.package_dir]


def _write_desk_package(folder):
    objects = folder / "objects" / "ticket"
    objects.mkdir(parents=True)
    (folder / "package.yaml").write_text(yaml.safe_dump({"name": "desk", "version": "1.0.0", "label": "Desk"}))
    (objects / "object.yaml").write_text(yaml.safe_dump({"api_name": "ticket", "label": "Ticket"}))
    fields = [
        {"api_name": "subject", "label": "Subject", "type": "text"},
        {"api_name": "note", "label": "Note", "type": "text"},
    ]
    (objects / "fields.yaml").write_text(yaml.safe_dump(fields))
    banner = {"name": "banner", "type": "plugin", "title": "Banner", "widget": "banner", "settings": {"text": HOSTILE}}
    dashboards = [{"api_name": "desk", "label": "Desk", "widgets": [banner]}]
    (folder / "dashboards.yaml").write_text(yaml.safe_dump(dashboards))


@pytest.fixture(scope="module", params=BACKENDS)
def screens(request, tmp_path_factory):
    """Tenants ``with`` (desk, screenplug) and ``without`` (desk alone), an
    admin in each, one app."""
    tmp = tmp_path_factory.mktemp("screens")
    _write_desk_package(tmp / "desk")
    instance = build_instance(make_config(tmp, request.param), load_entry_points=False)
    instance.upgrade_platform()
    instance.pm.register_tenant_plugin(Desk(tmp / "desk"), "desk", "metacrm-desk", "1.0.0")
    instance.pm.register_tenant_plugin(ScreenPlugin(), "screenplug", "metacrm-screenplug", "1.0.0")
    for slug, plugins in (("with", ("desk", "screenplug")), ("without", ("desk",))):
        tenancy.create_tenant(instance, slug, slug.title())
        identities.create_user(
            instance, tenant=slug, email=f"admin@{slug}.test", password=PASSWORD, is_admin=True, role="admin"
        )
        identities.create_user(instance, tenant=slug, email=f"reader@{slug}.test", password=PASSWORD, role="read_only")
        for name in plugins:
            lifecycle.install(instance, instance.db.bind(slug), name, audit.SYSTEM)
    app = create_app(instance=instance)
    app.config["TESTING"] = True
    yield app
    drop_namespaces(instance)
    instance.dispose()


def _csrf(client, path):
    html = client.get(path).get_data(as_text=True)
    return html.split('name="csrf_token" value="')[1].split('"')[0]


def _signed_in(app, slug, user="admin"):
    client = app.test_client()
    token = _csrf(client, "/login")
    data = {"email": f"{user}@{slug}.test", "password": PASSWORD, "tenant": slug, "csrf_token": token}
    client.post("/login", data=data)
    return client


def _ticket(client, subject):
    token = _csrf(client, "/o/ticket/new")
    response = client.post("/o/ticket/new", data={"subject": subject, "csrf_token": token})
    assert response.status_code in (302, 303), response.get_data(as_text=True)[:500]
    return int(response.headers["Location"].rstrip("/").split("/")[-1])


def test_panel_and_action_render_only_where_installed(screens):
    client = _signed_in(screens, "with")
    record_id = _ticket(client, HOSTILE)
    response = client.get(f"/o/ticket/{record_id}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'data-plugin-panel="ticket_summary"' in html and "Ticket summary" in html
    assert "&lt;script&gt;alert(" in html and HOSTILE not in html  # the panel is autoescaped
    assert f'<p class="small" data-letters>{len(HOSTILE)}</p>' in html
    assert 'data-plugin-action="escalate"' in html
    chinese = client.get(f"/o/ticket/{record_id}", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert "工单摘要" in chinese and "升级" in chinese  # labels in the user's language
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY

    other = _signed_in(screens, "without")
    other_id = _ticket(other, "plain")
    html = other.get(f"/o/ticket/{other_id}").get_data(as_text=True)
    assert "data-plugin-panel" not in html and "data-plugin-action" not in html
    assert other.get("/plugins/screenplug/static/logo.svg").status_code == 404
    assert (
        other.post(
            f"/o/ticket/{other_id}/plugin-actions/escalate", data={"csrf_token": _csrf(other, "/o/ticket")}
        ).status_code
        == 404
    )


def test_plugin_static_file_served_where_installed(screens):
    client = _signed_in(screens, "with")
    response = client.get("/plugins/screenplug/static/logo.svg")
    assert response.status_code == 200 and b"<svg" in response.data
    assert client.get("/plugins/screenplug/static/../__init__.py").status_code == 404
    assert screens.test_client().get("/plugins/screenplug/static/logo.svg").status_code in (302, 401)


def test_record_action_runs_and_refuses_with_its_reason(screens):
    client = _signed_in(screens, "with")
    record_id = _ticket(client, "printer")
    token = _csrf(client, f"/o/ticket/{record_id}")
    response = client.post(f"/o/ticket/{record_id}/plugin-actions/escalate", data={"csrf_token": token})
    assert response.status_code == 303
    html = client.get(f"/o/ticket/{record_id}").get_data(as_text=True)
    assert "Escalated printer" in html and "escalated" in html

    locked = _ticket(client, "locked")
    client.post(f"/o/ticket/{locked}/plugin-actions/escalate", data={"csrf_token": token})
    assert "locked tickets cannot be escalated" in client.get(f"/o/ticket/{locked}").get_data(as_text=True)
    assert client.post(f"/o/ticket/{locked}/plugin-actions/escalate", data={}).status_code == 400  # CSRF

    reader = _signed_in(screens, "with", user="reader")  # may read tickets, not update them
    html = reader.get(f"/o/ticket/{record_id}").get_data(as_text=True)
    assert 'data-plugin-panel="ticket_summary"' in html and "data-plugin-action" not in html
    token = _csrf(reader, f"/o/ticket/{record_id}")
    refused = reader.post(f"/o/ticket/{record_id}/plugin-actions/escalate", data={"csrf_token": token})
    assert refused.status_code == 404


def test_list_action_in_the_bulk_bar_acts_on_the_selected(screens):
    client = _signed_in(screens, "with")
    ids = [_ticket(client, f"bulk {n}") for n in range(2)]
    html = client.get("/o/ticket").get_data(as_text=True)
    assert 'value="plugin:close_all"' in html and "Close selected" in html
    token = _csrf(client, "/o/ticket")
    data = {"bulk_action": "plugin:close_all", "ids": [str(i) for i in ids], "csrf_token": token}
    response = client.post("/o/ticket/bulk", data=data)
    assert response.status_code == 200 and "Closed 2" in response.get_data(as_text=True)
    assert "closed" in client.get(f"/o/ticket/{ids[0]}").get_data(as_text=True)

    other = _signed_in(screens, "without")
    assert "plugin:close_all" not in other.get("/o/ticket").get_data(as_text=True)


def test_dashboard_widget_of_a_plugin_renders_where_installed(screens):
    client = _signed_in(screens, "with")
    response = client.get("/dashboards/desk/widgets/banner", headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert 'data-plugin-widget="banner"' in html and 'class="screenplug-banner"' in html
    assert "&lt;script&gt;" in html and HOSTILE not in html
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert client.get("/api/v1/dashboards/desk/widgets/banner").get_json()["data"] == {"text": HOSTILE}

    other = _signed_in(screens, "without")
    html = other.get("/dashboards/desk/widgets/banner", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "screenplug-banner" not in html and "no widget type" in html
