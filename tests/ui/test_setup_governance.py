"""Governance in setup (issue 11 item 6): revisions with a readable diff and
a rollback shown before it is applied, the recycle bin (restore and purge of
records and fields), the audit log with filters and CSV, plugins, and the
organisation's settings, all closed to a sales rep."""

from __future__ import annotations

import csv
import io

import pytest

from metacrm.cli import DEMO_TENANT
from metacrm.platform.settings import tenant_settings_of
from metacrm.plugins.testing import BACKENDS
from tests.ui.list_demo import make_demo


@pytest.fixture(scope="module", params=BACKENDS)
def demo(request, tmp_path_factory):
    yield from make_demo(tmp_path_factory.mktemp("demo"), request.param)


def _api(client):
    return {"X-CSRFToken": client.csrf}


def _head(client) -> int:
    return client.get("/api/v1/meta/revisions").json["data"][0]["revision"]


def _layout(client, name="opportunity", layout="default"):
    return client.get(f"/api/v1/meta/objects/{name}/layouts/{layout}").json


# -- revisions -------------------------------------------------------------------------------------


def test_a_revision_shows_a_changed_label_before_and_after(demo):
    admin = demo.client("admin")
    response = admin.patch("/api/v1/meta/objects/product", json={"label": "Article"}, headers=_api(admin))
    assert response.status_code == 200
    number = _head(admin)

    listing = admin.get("/setup/revisions").get_data(as_text=True)
    assert f'data-revision="{number}"' in listing and "update object product" in listing

    page = admin.get(f"/setup/revisions/{number}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<h1" in html and 'data-key="product"' in html
    row = html.split('data-property="label"')[1].split("</tr>")[0]
    assert "Product" in row.split("diff-after")[0] and "Article" in row.split("diff-after")[1]
    admin.patch("/api/v1/meta/objects/product", json={"label": "Product"}, headers=_api(admin))


def test_a_rollback_shows_what_it_would_change_then_restores_the_layout(demo):
    admin = demo.client("admin")
    before = _layout(admin)
    changed = {**before, "sections": list(reversed(before["sections"]))}
    assert (
        admin.put("/api/v1/meta/objects/opportunity/layouts/default", json=changed, headers=_api(admin)).status_code
        == 200
    )
    number = _head(admin)

    preview = admin.get(f"/setup/revisions/{number - 1}/rollback")
    assert preview.status_code == 200
    html = preview.get_data(as_text=True)
    assert 'data-key="opportunity.default"' in html and 'data-property="sections"' in html
    assert _layout(admin)["sections"] == changed["sections"]  # nothing applied yet
    assert _head(admin) == number

    done = admin.post(f"/setup/revisions/{number - 1}/rollback", data={"csrf_token": admin.csrf})
    assert done.status_code == 302
    assert _layout(admin)["sections"] == before["sections"]
    assert _head(admin) == number + 1
    assert done.headers["Location"].endswith(f"/setup/revisions/{number + 1}")


def test_a_rollback_to_the_current_revision_is_refused_above_the_page(demo):
    admin = demo.client("admin")
    head = _head(admin)
    page = admin.post(f"/setup/revisions/{head}/rollback", data={"csrf_token": admin.csrf})
    assert page.status_code == 422
    assert 'role="alert"' in page.get_data(as_text=True)
    assert _head(admin) == head


# -- the recycle bin ------------------------------------------------------------------------------------


def test_a_deleted_record_is_restored_then_purged_only_when_confirmed(demo):
    admin = demo.client("admin")
    record = demo.account(name="Binned Ltd")
    assert admin.delete(f"/api/v1/data/account/{record['id']}", headers=_api(admin)).status_code == 204

    page = admin.get("/setup/recycle-bin?tab=records&object=account").get_data(as_text=True)
    assert f'data-record-id="{record["id"]}"' in page and "Binned Ltd" in page

    restored = admin.post(f"/setup/recycle-bin/records/account/{record['id']}/restore", data={"csrf_token": admin.csrf})
    assert restored.status_code == 302
    assert admin.get(f"/api/v1/data/account/{record['id']}").status_code == 200

    admin.delete(f"/api/v1/data/account/{record['id']}", headers=_api(admin))
    unconfirmed = admin.post(
        f"/setup/recycle-bin/records/account/{record['id']}/purge", data={"csrf_token": admin.csrf}
    )
    assert unconfirmed.status_code == 302
    assert admin.get(f"/api/v1/data/account/{record['id']}?deleted=true").status_code == 200  # still in the bin
    purged = admin.post(
        f"/setup/recycle-bin/records/account/{record['id']}/purge", data={"csrf_token": admin.csrf, "confirm": "1"}
    )
    assert purged.status_code == 302
    assert admin.get(f"/api/v1/data/account/{record['id']}?deleted=true").status_code == 404


def test_a_deleted_field_is_restored_then_purged(demo):
    admin = demo.client("admin")
    field = {"api_name": "bin_note", "label": "Bin note", "type": "text"}
    assert admin.post("/api/v1/meta/objects/account/fields", json=field, headers=_api(admin)).status_code == 201
    assert admin.delete("/api/v1/meta/objects/account/fields/bin_note", headers=_api(admin)).status_code == 204

    page = admin.get("/setup/recycle-bin?tab=fields").get_data(as_text=True)
    assert 'data-field-key="account.bin_note"' in page and "Bin note" in page

    admin.post("/setup/recycle-bin/fields/account/bin_note/restore", data={"csrf_token": admin.csrf})
    assert admin.get("/api/v1/meta/objects/account/fields/bin_note").json["deleted_at"] is None

    admin.delete("/api/v1/meta/objects/account/fields/bin_note", headers=_api(admin))
    admin.post("/setup/recycle-bin/fields/account/bin_note/purge", data={"csrf_token": admin.csrf, "confirm": "1"})
    assert admin.get("/api/v1/meta/objects/account/fields/bin_note").status_code == 404
    assert 'data-field-key="account.bin_note"' not in admin.get("/setup/recycle-bin?tab=fields").get_data(as_text=True)


def test_deleted_objects_are_listed(demo):
    admin = demo.client("admin")
    page = admin.get("/setup/recycle-bin?tab=objects")
    assert page.status_code == 200 and "<h1" in page.get_data(as_text=True)


# -- the audit log ----------------------------------------------------------------------------------------


def test_the_audit_log_filters_and_exports_the_filtered_entries_as_csv(demo):
    admin = demo.client("admin")
    record = demo.account(name="Audited Co")
    admin.patch(f"/api/v1/data/account/{record['id']}", json={"name": "Audited Co 2"}, headers=_api(admin))

    page = admin.get(f"/setup/audit?object=account&record={record['id']}&action=record.*")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'data-action="record.updated"' in html and 'data-action="record.created"' in html
    assert 'data-action="metadata.changed"' not in html

    by_admin = admin.get("/setup/audit?who=ADMIN@demo.example.com&action=record.updated").get_data(as_text=True)
    assert 'data-action="record.updated"' in by_admin and 'data-action="record.created"' not in by_admin

    export = admin.get(f"/setup/audit/export?object=account&record={record['id']}&action=record.updated")
    assert export.status_code == 200 and export.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(export.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows and {row["action"] for row in rows} == {"record.updated"}
    assert all(row["record_id"] == str(record["id"]) and row["object"] == "account" for row in rows)
    assert any("Audited Co 2" in row["details"] for row in rows)


def test_bad_audit_filters_show_beside_the_field(demo):
    admin = demo.client("admin")
    page = admin.get("/setup/audit?from=yesterday&object=Not An Object")
    assert page.status_code == 422
    html = page.get_data(as_text=True)
    assert 'role="alert"' in html.split('data-field="from"')[1].split("</div>\n</div>")[0] or 'id="from-error"' in html
    assert 'id="object-error"' in html
    assert admin.get("/setup/audit/export?from=yesterday").status_code == 422


def test_a_day_span_narrows_the_audit_log(demo):
    admin = demo.client("admin")
    assert "data-audit-id" not in admin.get("/setup/audit?to=2000-01-01").get_data(as_text=True)
    assert "data-audit-id" in admin.get("/setup/audit?from=2000-01-01").get_data(as_text=True)


# -- plugins and settings -------------------------------------------------------------------------------------


def test_plugins_lists_the_crm_core_package_as_installed(demo):
    html = demo.client("admin").get("/setup/plugins").get_data(as_text=True)
    assert 'data-package="crm_core"' in html and "1.0.0" in html


def test_settings_save_through_the_settings_service_and_are_audited(demo):
    admin = demo.client("admin")
    form = {
        "csrf_token": admin.csrf,
        "name": "Demo Trading Co",
        "default_locale": "zh_CN",
        "currency": "usd",
        "default_time_zone": "Asia/Shanghai",
        "fiscal_year_start": "4",
    }
    response = admin.post("/setup/settings", data=form)
    assert response.status_code == 302
    settings = tenant_settings_of(demo.instance, demo.binding.tenant_id)
    assert settings["default_locale"] == "zh_CN" and settings["currency"] == "USD"
    assert settings["default_time_zone"] == "Asia/Shanghai" and settings["fiscal_year_start"] == 4
    assert demo.instance.db.bind(DEMO_TENANT).name == "Demo Trading Co"
    log = admin.get("/setup/audit?action=tenant.*").get_data(as_text=True)
    assert 'data-action="tenant.settings_changed"' in log and 'data-action="tenant.renamed"' in log
    admin.post("/setup/settings", data={**form, "default_locale": "en", "currency": "CNY", "fiscal_year_start": "1"})


def test_an_unknown_time_zone_is_refused_beside_the_field_and_nothing_is_written(demo):
    admin = demo.client("admin")
    before = tenant_settings_of(demo.instance, demo.binding.tenant_id)
    name = demo.instance.db.bind(DEMO_TENANT).name
    form = {
        "csrf_token": admin.csrf,
        "name": "Renamed Meanwhile",
        "default_locale": "en",
        "currency": "EUR",
        "default_time_zone": "Mars/Olympus",
        "fiscal_year_start": "7",
    }
    page = admin.post("/setup/settings", data=form)
    assert page.status_code == 422
    html = page.get_data(as_text=True)
    field = html.split('data-field="default_time_zone"')[1].split('data-field="fiscal_year_start"')[0]
    assert 'role="alert"' in field and "Mars/Olympus" in field  # the error, and what was typed
    assert tenant_settings_of(demo.instance, demo.binding.tenant_id) == before
    assert demo.instance.db.bind(DEMO_TENANT).name == name


# -- the gate ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "/setup/revisions",
        "/setup/revisions/1",
        "/setup/revisions/0/rollback",
        "/setup/recycle-bin",
        "/setup/audit",
        "/setup/audit/export",
        "/setup/plugins",
        "/setup/settings",
    ],
)
def test_a_sales_rep_gets_403(demo, url):
    assert demo.client("sales_rep").get(url).status_code == 403
