"""The import wizard's screens through the Flask test client: the list's
Import link for those with the right, upload → map (auto-match preselected,
samples shown) → result with counts and the failed rows; a bad mapping is
refused beside its column; the wizard refuses a user without the right."""

from __future__ import annotations

import io
import re

import pytest

from metacrm.plugins.testing import PASSWORD
from tests.data.import_support import ImportWorld


@pytest.fixture
def config(config):
    return {**config, "JOBS_IMMEDIATE": True}


@pytest.fixture
def world(instance, app):
    return ImportWorld(instance, app)


def signed_in(app, email: str):
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    response = client.post("/login", data={"email": email, "password": PASSWORD, "tenant": "acme", "csrf_token": token})
    assert response.status_code == 302
    client.csrf = token
    return client


def csrf(html: str) -> str:
    return html.split('name="csrf_token" value="')[1].split('"')[0]


def upload(client, content: str, name: str = "firms.csv"):
    html = client.get("/o/company/import").get_data(as_text=True)
    data = {"file": (io.BytesIO(content.encode()), name), "csrf_token": csrf(html)}
    return client.post("/o/company/import", data=data, content_type="multipart/form-data")


def test_the_wizard_from_upload_to_failed_rows(world, app):
    client = signed_in(app, "admin@acme.test")
    assert 'href="/o/company/import"' in client.get("/o/company").get_data(as_text=True)
    response = upload(client, "Name,Code,Employees,Extra\nAcme,A1,3,x\nBolt,B2,many,y\n")
    assert response.status_code == 303
    map_url = response.headers["Location"]
    html = client.get(map_url).get_data(as_text=True)
    assert re.search(r'<option value="code" selected>', html)
    assert '<option value="employees" selected>' in html and "<span>many</span>" in html
    # column 3 (Extra) is not matched: left on "do not import"
    assert re.search(r'id="col-3" name="col-3">\s*<option value="">', html)
    form = {
        "col-0": "name",
        "col-1": "code",
        "col-2": "employees",
        "col-3": "",
        "mode": "insert",
        "csrf_token": csrf(html),
    }
    done = client.post(map_url, data=form)
    assert done.status_code == 303
    result = client.get(done.headers["Location"]).get_data(as_text=True)
    assert 'data-count="created">1<' in result and 'data-count="failed">1<' in result
    assert "Download the failed rows" in result
    link = re.search(r'href="([^"]+/failed-rows)"', result).group(1)
    failed = client.get(link)
    assert failed.status_code == 200 and "Bolt,B2,many,y" in failed.get_data(as_text=True)
    # the polled fragment is the progress block alone
    fragment = client.get(done.headers["Location"], headers={"HX-Request": "true", "HX-Target": "import-progress"})
    assert fragment.get_data(as_text=True).lstrip().startswith('<section id="import-progress"')


def test_a_bad_mapping_is_refused_beside_its_column(world, app):
    client = signed_in(app, "admin@acme.test")
    map_url = upload(client, "Name,Code\nA,1\n").headers["Location"]
    html = client.get(map_url).get_data(as_text=True)
    form = {"col-0": "name", "col-1": "name", "mode": "upsert", "key": "", "csrf_token": csrf(html)}
    refused = client.post(map_url, data=form)
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    assert re.search(r'data-field="col-1">.*?role="alert">name is already mapped', page, re.S)
    form = {"col-0": "name", "col-1": "code", "mode": "upsert", "key": "", "csrf_token": csrf(html)}
    page = client.post(map_url, data=form).get_data(as_text=True)
    assert re.search(r'data-field="key">.*?role="alert">', page, re.S)


def test_the_wizard_skips_likely_duplicates_when_asked(world, app):
    rule = {"api_name": "same_code", "action": "warn", "conditions": [{"field": "code", "method": "exact"}]}
    made = world.client.put("/api/v1/meta/objects/company/duplicate_rules/same_code", json=rule, headers=world.admin)
    assert made.status_code in (200, 201), made.json
    world.create("company", name="Acme", code="A1")
    client = signed_in(app, "admin@acme.test")
    map_url = upload(client, "Name,Code\nAcme again,a1\nBolt,B2\n").headers["Location"]
    html = client.get(map_url).get_data(as_text=True)
    assert 'name="duplicates"' in html and '<option value="allow" selected>' in html
    form = {"col-0": "name", "col-1": "code", "mode": "insert", "duplicates": "skip", "csrf_token": csrf(html)}
    done = client.post(map_url, data=form)
    assert done.status_code == 303
    result = client.get(done.headers["Location"]).get_data(as_text=True)
    assert 'data-count="created">1<' in result and 'data-count="skipped">1<' in result
    assert "likely duplicate of Acme" in result


def test_the_wizard_needs_the_import_right(world, app):
    client = signed_in(app, "rep@acme.test")
    assert "/o/company/import" not in client.get("/o/company").get_data(as_text=True)
    assert client.get("/o/company/import").status_code == 403


def test_a_file_that_is_not_a_table_is_refused_on_the_upload_step(world, app):
    client = signed_in(app, "admin@acme.test")
    response = upload(client, "whatever", "notes.pdf")
    assert response.status_code == 422
    assert re.search(r'data-field="file">.*?role="alert">', response.get_data(as_text=True), re.S)


def test_the_upload_may_exceed_the_request_size_limit(world, app):
    client = signed_in(app, "admin@acme.test")
    app.config["MAX_CONTENT_LENGTH"] = 2000
    big = "Name,Code\n" + "".join(f"Company number {i},CODE-{i}\n" for i in range(200))
    assert upload(client, big).status_code == 303
