"""Exports of a list as CSV or XLSX (metacrm.data.exports): the list's
parameters, only what the user may read, the export right, and the job path
for a long list."""

import codecs
import csv
import io

import pytest
from openpyxl import load_workbook

from tests.conftest import PASSWORD

DATA = "/api/v1/data"
COMPANY = {"api_name": "company", "label": "Company", "fields": []}
FIELDS = [
    {"api_name": "amount", "label": "Amount", "type": "currency"},
    {
        "api_name": "stage",
        "label": "Stage",
        "type": "picklist",
        "options": {"values": [{"value": "open", "label": "Open"}, {"value": "won", "label": "Won"}]},
    },
    {"api_name": "close_date", "label": "Close date", "type": "date"},
    {"api_name": "company", "label": "Company", "type": "lookup", "options": {"target": "company"}},
]


@pytest.fixture
def config(config):
    return {**config, "JOBS_IMMEDIATE": True, "EXPORT_JOB_THRESHOLD": 5}


@pytest.fixture
def deals(world, client):
    admin = world.bearer("admin@acme.test", "acme")
    assert client.post("/api/v1/meta/objects", json=COMPANY, headers=admin).status_code == 201
    created = client.post(
        "/api/v1/meta/objects", json={"api_name": "deal", "label": "Deal", "fields": FIELDS}, headers=admin
    )
    assert created.status_code == 201, created.json
    company = client.post(f"{DATA}/company", json={"name": "Initech"}, headers=admin).json["id"]
    rows = [
        {"name": "Alpha", "amount": 500, "stage": "open", "close_date": "2026-01-10", "company": company},
        {"name": "Beta", "amount": 20000, "stage": "won", "close_date": "2026-03-01"},
        {"name": "=Gamma", "amount": 15000, "stage": "open"},
    ]
    response = client.post(f"{DATA}/deal/bulk", json={"records": rows}, headers=admin)
    assert response.status_code == 201, response.json
    return admin


def _csv(response) -> list[list[str]]:
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    raw = response.get_data()
    assert raw.startswith(codecs.BOM_UTF8)
    return list(csv.reader(io.StringIO(raw[len(codecs.BOM_UTF8) :].decode("utf-8"))))


def _user(client, world, admin, **access) -> dict:
    """user@acme.test holding the role ``sales_rep`` with ``access`` on deal; their headers."""
    body = {"create": True, "read": "all", "update": "none", "delete": "none", "export": True, **access}
    put = client.put("/api/v1/access/roles/sales_rep/objects/deal", json=body, headers=admin)
    assert put.status_code == 200, put.json
    user_id = world.identity("user@acme.test", "acme").user_id
    assigned = client.put(f"/api/v1/access/users/{user_id}/roles", json={"roles": ["sales_rep"]}, headers=admin)
    assert assigned.status_code == 200, assigned.json
    return world.bearer("user@acme.test", "acme")


def test_csv_keeps_filters_sort_and_columns_with_human_values(client, deals):
    response = client.get(
        f"{DATA}/deal/export",
        query_string={"format": "csv", "fields": "name,stage,company,close_date,amount", "sort": "-amount"},
        headers=deals,
    )
    assert response.headers["Content-Disposition"].startswith("attachment")
    rows = _csv(response)
    assert rows[0] == ["Name", "Stage", "Company", "Close date", "Amount"]
    assert rows[1][:2] == ["Beta", "Won"]
    # a cell that looks like a formula is written as text
    assert rows[2][0] == "'=Gamma"
    assert rows[3] == ["Alpha", "Open", "Initech", "2026-01-10", "500.00"] or rows[3][:4] == [
        "Alpha",
        "Open",
        "Initech",
        "2026-01-10",
    ]
    filtered = _csv(
        client.get(
            f"{DATA}/deal/export",
            query_string={"where": "amount > 1000", "fields": "name", "sort": "name"},
            headers=deals,
        )
    )
    assert filtered == [["Name"], ["'=Gamma"], ["Beta"]] or filtered == [["Name"], ["Beta"], ["'=Gamma"]]


def test_system_columns_can_be_exported_with_people_by_name(client, world, deals):
    fields = "name,created_at,owner_id,created_by"
    rows = _csv(client.get(f"{DATA}/deal/export", query_string={"fields": fields, "sort": "name"}, headers=deals))
    assert rows[0] == ["Name", "Created", "Owner", "Created by"]
    admin = world.identity("admin@acme.test", "acme")
    name = admin.display_name or admin.email
    assert rows[2][0] == "Alpha" and rows[2][1].endswith(" UTC") and rows[2][2:] == [name, name]


def test_xlsx_opens_with_openpyxl(client, deals):
    response = client.get(
        f"{DATA}/deal/export",
        query_string={"format": "xlsx", "fields": "name,stage,amount,close_date", "sort": "name"},
        headers=deals,
    )
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.get_data()), read_only=True).active
    values = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert values[0] == ["Name", "Stage", "Amount", "Close date"]
    assert values[1][:3] == ["'=Gamma", "Open", 15000]
    assert values[2][:3] == ["Alpha", "Open", 500]
    assert values[2][3].date().isoformat() == "2026-01-10"


def test_a_hidden_field_never_appears(client, world, deals):
    user = _user(client, world, deals, fields={"amount": "hidden"})
    rows = _csv(client.get(f"{DATA}/deal/export", headers=user))
    assert "Amount" not in rows[0] and "Name" in rows[0]
    assert not any("20000" in cell or "15000" in cell for row in rows for cell in row)
    named = client.get(f"{DATA}/deal/export", query_string={"fields": "name,amount"}, headers=user)
    assert named.status_code == 422 and "amount" in str(named.json)
    sorted_by_hidden = client.get(f"{DATA}/deal/export", query_string={"where": "amount > 1"}, headers=user)
    assert sorted_by_hidden.status_code == 422


def test_export_honours_the_record_scope(client, world, deals):
    user = _user(client, world, deals, read="own")
    assert client.post(f"{DATA}/deal", json={"name": "Mine"}, headers=user).status_code == 201
    rows = _csv(client.get(f"{DATA}/deal/export", query_string={"fields": "name"}, headers=user))
    assert rows == [["Name"], ["Mine"]]


def test_the_export_right_applies(client, world, deals):
    user = _user(client, world, deals, export=False)
    response = client.get(f"{DATA}/deal/export", headers=user)
    assert response.status_code == 403
    assert client.get(f"{DATA}/deal/export", query_string={"format": "pdf"}, headers=deals).status_code == 422


def test_a_long_list_is_exported_by_a_job_for_its_owner_only(client, world, deals):
    more = [{"name": f"Deal {i:02d}", "stage": "open"} for i in range(6)]
    assert client.post(f"{DATA}/deal/bulk", json={"records": more}, headers=deals).status_code == 201
    response = client.get(f"{DATA}/deal/export", query_string={"format": "csv", "fields": "name,stage"}, headers=deals)
    assert response.status_code == 202, response.json
    token = response.json["token"]
    status = client.get(f"/api/v1/exports/{token}", headers=deals).json
    assert status["status"] == "ready" and status["rows"] == 9
    notes = client.get("/api/v1/notifications", headers=deals).json["data"]
    assert any("Deal" in note["message"] and "9" in note["message"] for note in notes)
    rows = _csv(client.get(status["download_url"], headers=deals))
    assert rows[0] == ["Name", "Stage"] and len(rows) == 10
    other = _user(client, world, deals)
    assert client.get(status["download_url"], headers=other).status_code == 404
    assert client.get(f"/api/v1/exports/{token}", headers=other).status_code == 404
    assert client.get("/api/v1/exports/not-a-token/file", headers=deals).status_code == 404


def _sign_in(client, email):
    html = client.get("/login").get_data(as_text=True)
    token = html.split('name="csrf_token" value="')[1].split('"')[0]
    client.post("/login", data={"email": email, "password": PASSWORD, "tenant": "acme", "csrf_token": token})


def test_the_screen_exports_the_list_as_shown_and_offers_it_only_with_the_right(app, client, world, deals):
    _sign_in(client, "admin@acme.test")
    page = client.get("/o/deal", query_string={"fields": "name,stage", "sort": "name"}).get_data(as_text=True)
    assert "/o/deal/export?format=csv&amp;sort=name&amp;fields=name%2Cstage" in page and "format=xlsx" in page
    rows = _csv(
        client.get(
            "/o/deal/export",
            query_string={"format": "csv", "fields": "name,stage", "sort": "name", "filter.stage": "open"},
        )
    )
    assert rows == [["Name", "Stage"], ["'=Gamma", "Open"], ["Alpha", "Open"]]
    # a long list goes to a job; the notification links to the file, for its owner only
    more = [{"name": f"Deal {i:02d}"} for i in range(6)]
    assert client.post(f"{DATA}/deal/bulk", json={"records": more}, headers=deals).status_code == 201
    response = client.get("/o/deal/export", query_string={"format": "xlsx", "fields": "name"})
    assert response.status_code == 302 and response.headers["Location"].startswith("/o/deal")
    notes = client.get("/notifications").get_data(as_text=True)
    link = notes.split('href="/exports/')[1].split('"')[0]
    sheet = load_workbook(io.BytesIO(client.get(f"/exports/{link}").get_data()), read_only=True).active
    assert sum(1 for _ in sheet.iter_rows()) == 10
    other = app.test_client()
    _user(client, world, deals, export=False)
    _sign_in(other, "user@acme.test")
    assert "/o/deal/export" not in other.get("/o/deal").get_data(as_text=True)
    assert other.get("/o/deal/export?format=csv").status_code == 403
    assert other.get(f"/exports/{link}").status_code == 404


def test_labels_follow_the_language_and_expired_files_are_purged(client, world, deals, instance):
    from datetime import timedelta

    from metacrm.data.exports import files
    from metacrm.platform import identity as identities
    from metacrm.platform.clock import utcnow

    translated = {
        "api_name": "stage",
        "label": "Stage",
        "type": "picklist",
        "translations": {"zh_CN": {"label": "阶段"}},
        "options": {
            "values": [
                {"value": "open", "label": "Open", "translations": {"zh_CN": "进行中"}},
                {"value": "won", "label": "Won", "translations": {"zh_CN": "赢单"}},
            ]
        },
    }
    changed = client.patch("/api/v1/meta/objects/deal/fields/stage", json=translated, headers=deals)
    assert changed.status_code == 200, changed.json
    admin_id = world.identity("admin@acme.test", "acme").user_id
    identities.set_preferences(instance, admin_id, locale="zh_CN", time_zone=None)
    rows = _csv(client.get(f"{DATA}/deal/export", query_string={"fields": "name,stage", "sort": "name"}, headers=deals))
    assert rows[0] == ["Name", "阶段"] and rows[2] == ["Alpha", "进行中"]
    token = files.start(instance, "acme", admin_id, "deal", [("fields", "name")], "csv", "en", "Deals")
    assert files.status(instance, "acme", admin_id, token)["status"] == "ready"
    meta = files._meta_path(instance, "acme", token)
    data = meta.read_text(encoding="utf-8").replace(
        files.status(instance, "acme", admin_id, token)["expires_at"], (utcnow() - timedelta(days=1)).isoformat()
    )
    meta.write_text(data, encoding="utf-8")
    assert client.get(f"/api/v1/exports/{token}/file", headers=deals).status_code == 404
    assert files.purge_expired(instance) == 1
    assert not meta.exists() and not meta.with_suffix(".csv").exists()
