"""Imports of CSV and XLSX files through the API and the CLI: encodings and
delimiters, bad rows (reported by row, field and reason, the rest written),
lookups by name and external id, picklists by label, upsert and update by
a unique key, dry runs that write nothing, the failed-rows file, large
files, and the rights (the import right; hidden and read-only fields)."""

from __future__ import annotations

import csv
import io
import json

import pytest
from click.testing import CliRunner

from metacrm.cli import main
from tests.data.import_support import META, ImportWorld


@pytest.fixture
def config(config):
    return {**config, "JOBS_IMMEDIATE": True}


@pytest.fixture
def world(instance, app):
    return ImportWorld(instance, app)


def done(response) -> dict:
    assert response.status_code == 202, response.json
    body = response.json
    assert body["status"] == "done", (body["message"], body)
    return body


def test_a_csv_with_one_bad_row_writes_the_others_and_reports_row_field_and_reason(world):
    text = (
        "Name,Code,Industry,Employees,Founded\n"
        "Acme,A1,Technology,10,2020-01-31\n"
        "Bolt,B2,Retail,many,2021-02-01\n"
        "Core,C3,科技,30,2019/12/31\n"
    )
    body = done(world.post("company", text))
    assert (body["total"], body["created"], body["failed"]) == (3, 2, 1)
    assert body["errors"] == [{"row": 3, "field": "employees", "reason": body["errors"][0]["reason"]}]
    assert body["errors"][0]["reason"]
    assert body["mapping"] == {
        "Name": "name",
        "Code": "code",
        "Industry": "industry",
        "Employees": "employees",
        "Founded": "founded",
    }
    rows = world.records("company")
    assert [(r["name"], r["code"], r["industry"], r["employees"]) for r in rows] == [
        ("Acme", "A1", "tech", 10),
        ("Core", "C3", "tech", 30),
    ]
    # The failed rows: the original columns and an error column, ready to fix and import again.
    failed = world.client.get(f"/api/v1/imports/{body['id']}/failed-rows", headers=world.admin)
    assert failed.status_code == 200 and failed.mimetype == "text/csv"
    table = list(csv.reader(io.StringIO(failed.data.decode("utf-8-sig"))))
    assert table[0] == ["Name", "Code", "Industry", "Employees", "Founded", "error"]
    assert table[1][:5] == ["Bolt", "B2", "Retail", "many", "2021-02-01"] and table[1][5].startswith("employees:")
    fixed = "\n".join(",".join(r[:5]) for r in table[:2]).replace("many", "20")
    again = done(world.post("company", fixed))
    assert (again["created"], again["failed"]) == (1, 0)
    # The run is its starter's: another user gets a 404.
    assert world.client.get(f"/api/v1/imports/{body['id']}", headers=world.marketing).status_code == 404
    shown = world.client.get(f"/api/v1/imports/{body['id']}", headers=world.admin).json
    assert shown["status"] == "done" and shown["progress"] == 100 and shown["failed_rows"] is True


def test_gbk_semicolon_and_chinese_labels_are_understood(world):
    text = "Name;编号;行业;员工数\n北京科技;BJ1;科技;12\n上海零售;SH2;零售;7\n"
    body = done(world.post("company", text.encode("gbk"), "公司.csv"))
    assert (body["created"], body["failed"]) == (2, 0), body
    assert body["mapping"]["编号"] == "code" and body["mapping"]["行业"] == "industry"
    rows = world.records("company")
    assert [(r["name"], r["industry"]) for r in rows] == [("北京科技", "tech"), ("上海零售", "retail")]


def test_tab_separated_utf16_file(world):
    text = "name\tcode\nTabby\tT1\n"
    body = done(world.post("company", text.encode("utf-16"), "x.txt"))
    assert body["created"] == 1 and world.records("company")[0]["name"] == "Tabby"


def test_xlsx_with_numbers_and_dates(world):
    import datetime as dt

    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["Name", "Code", "Employees", "Founded", "Industry"])
    sheet.append(["Excel Co", "X1", 42, dt.datetime(2019, 5, 6), "retail"])
    sheet.append(["Bad Co", "X2", "lots", None, "nope"])
    buffer = io.BytesIO()
    book.save(buffer)
    body = done(world.post("company", buffer.getvalue(), "book.xlsx"))
    assert (body["created"], body["failed"]) == (1, 1)
    assert {e["field"] for e in body["errors"]} == {"employees", "industry"}
    (row,) = world.records("company")
    assert (row["name"], row["employees"], row["founded"], row["industry"]) == ("Excel Co", 42, "2019-05-06", "retail")


def test_lookups_by_name_and_by_external_id(world):
    acme = world.create("company", name="Acme", code="A-1")
    world.create("company", name="Twin", code="T-1")
    world.create("company", name="Twin", code="T-2")
    body = done(world.post("person", "Name,Company\nAnn,acme\nBob,Nobody\nCid,Twin\n"))
    assert (body["created"], body["failed"]) == (1, 2)
    reasons = {e["row"]: e["reason"] for e in body["errors"]}
    assert reasons[3] == "no company 'Nobody'" and "2 company records match 'Twin'" in reasons[4]
    mapping = json.dumps({"Name": "name", "Company code": {"field": "company", "match": "code"}})
    body = done(world.post("person", "Name,Company code\nDee,A-1\nEve,T-2\n", mapping=mapping))
    assert (body["created"], body["failed"]) == (2, 0)
    people = {p["name"]: p["company"] for p in world.records("person")}
    assert people["Ann"]["id"] == acme["id"] and people["Dee"]["id"] == acme["id"]
    bad = world.post(
        "person", "Name,Company\nX,Y\n", mapping=json.dumps({"Company": {"field": "company", "match": "nope"}})
    )
    assert bad.status_code == 422 and "mapping.Company" in bad.json["error"]["details"]["fields"]


def test_upsert_and_update_by_a_unique_key(world):
    world.create("company", name="Old name", code="K1", employees=1)
    text = "Code,Name,Employees\nK1,New name,5\nK2,Second,6\n"
    body = done(world.post("company", text, mode="upsert", key="code"))
    assert (body["created"], body["updated"], body["failed"]) == (1, 1, 0)
    rows = {r["code"]: (r["name"], r["employees"]) for r in world.records("company")}
    assert rows == {"K1": ("New name", 5), "K2": ("Second", 6)}
    body = done(world.post("company", "Code,Employees\nK2,60\nK9,1\n", mode="update", key="code"))
    assert (body["created"], body["updated"], body["failed"]) == (0, 1, 1)
    assert body["errors"] == [{"row": 3, "field": "code", "reason": "no company with this code"}]
    assert {r["code"]: r["employees"] for r in world.records("company")} == {"K1": 5, "K2": 60}
    # A key must be a unique field; update needs one.
    refused = world.post("company", "Code,Name\nK1,x\n", mode="upsert", key="name")
    assert refused.status_code == 422 and "key" in refused.json["error"]["details"]["fields"]
    refused = world.post("company", "Code,Name\nK1,x\n", mode="update")
    assert refused.status_code == 422 and "key" in refused.json["error"]["details"]["fields"]


def test_a_duplicate_unique_value_fails_only_its_row(world):
    world.create("company", name="Taken", code="D1")
    dry = done(world.post("company", "Name,Code\nA,D1\nB,D2\nC,D2\n", dry_run=1))
    assert (dry["created"], dry["failed"]) == (1, 2) and len(world.records("company")) == 1
    body = done(world.post("company", "Name,Code\nA,D1\nB,D2\nC,D2\n"))
    assert (body["created"], body["failed"]) == (1, 2)
    assert {e["row"] for e in body["errors"]} == {2, 4}
    assert all(e["field"] == "code" for e in body["errors"])


def test_a_dry_run_reports_and_writes_nothing(world):
    world.create("company", name="Existing", code="E1")
    text = "Name,Code,Employees\nNew,N1,3\nBad,N2,x\nExisting again,E1,4\n"
    body = done(world.post("company", text, dry_run="true", mode="upsert", key="code"))
    assert body["dry_run"] is True
    assert (body["created"], body["updated"], body["failed"]) == (1, 1, 1)
    assert [(r["name"], r["employees"]) for r in world.records("company")] == [("Existing", None)]


def test_the_import_right_and_field_security_apply(world):
    refused = world.post("company", "Name\nX\n", headers=world.rep)
    assert refused.status_code == 403
    # marketing may import, but not into the field hidden from them nor the read-only one
    hidden = world.post(
        "company", "Name,Secret\nX,s\n", headers=world.marketing, mapping='{"Name":"name","Secret":"secret"}'
    )
    assert hidden.status_code == 422
    assert hidden.json["error"]["details"]["fields"] == {"mapping.Secret": ["unknown field 'secret'"]}
    read_only = world.post(
        "company", "Name,Rating\nX,5\n", headers=world.marketing, mapping='{"Name":"name","Rating":"rating"}'
    )
    assert read_only.status_code == 422
    assert read_only.json["error"]["details"]["fields"] == {"mapping.Rating": ["rating is read-only"]}
    # auto-matching skips them: the columns are left out, the rest imported
    body = done(world.post("company", "Name,Secret,Rating\nY,s,5\n", headers=world.marketing))
    assert body["mapping"] == {"Name": "name", "Secret": None, "Rating": None} and body["created"] == 1
    (row,) = world.records("company")
    assert row["secret"] is None and row["rating"] is None


def test_bad_files_are_refused_with_the_field_named(world):
    assert world.post("company", "x", "data.pdf").json["error"]["details"]["fields"] == {
        "file": ["must be a .csv or .xlsx file"]
    }
    assert world.post("company", b"", "data.csv").status_code == 422
    assert world.post("company", "Name\nX\n", mapping="{not json").status_code == 422
    assert world.post("company", "Name\nX\n", mode="merge").status_code == 422
    response = world.client.post("/api/v1/data/company/import", data={}, headers=world.admin)
    assert response.status_code == 422


def test_ten_thousand_rows_stream_through_in_batches(world):
    lines = ["Name,Code,Employees"] + [f"Company {i},C{i},{i % 500}" for i in range(10_000)]
    lines[5001] = "Broken,C-broken,not a number"
    body = done(world.post("company", "\n".join(lines)))
    assert (body["total"], body["created"], body["failed"]) == (10_000, 9_999, 1)
    assert body["errors"][0]["row"] == 5002
    count = world.client.get("/api/v1/data/company?count=true&limit=1", headers=world.admin).json["total"]
    assert count == 9_999


def test_cli_prints_row_errors_and_exits_non_zero(world, instance, tmp_path, monkeypatch):
    monkeypatch.setenv("METACRM_DATA_DIR", instance.config["DATA_DIR"])
    if instance.db.dialect == "postgresql":
        for key in ("DATABASE_URL", "PLATFORM_SCHEMA", "TENANT_SCHEMA_PREFIX"):
            monkeypatch.setenv(f"METACRM_{key}", str(instance.config[key]))
    monkeypatch.setenv("METACRM_SECRET_KEY", instance.config["SECRET_KEY"])
    good = tmp_path / "good.csv"
    good.write_text("Name,Code\nCli One,Q1\n", encoding="utf-8")
    bad = tmp_path / "bad.csv"
    bad.write_text("Name,Code,Employees\nCli Two,Q2,2\nCli Three,Q3,x\n", encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(main, ["import", "company", str(good), "--tenant", "acme"])
    assert result.exit_code == 0, result.output
    assert "1 rows: created 1, updated 0, failed 0" in result.output
    result = runner.invoke(main, ["import", "company", str(bad), "--tenant", "acme", "--dry-run"])
    assert result.exit_code == 1 and "row 3 employees:" in result.output
    assert "would create 1" in result.output
    assert [r["name"] for r in world.records("company")] == ["Cli One"]
    mapping = tmp_path / "mapping.json"
    mapping.write_text(json.dumps({"Code": "code", "Name": "name"}), encoding="utf-8")
    upsert = tmp_path / "upsert.csv"
    upsert.write_text("Code,Name\nQ1,Renamed\n", encoding="utf-8")
    result = runner.invoke(
        main,
        [
            "import",
            "company",
            str(upsert),
            "--tenant",
            "acme",
            "--mode",
            "upsert",
            "--key",
            "code",
            "--mapping",
            str(mapping),
        ],
    )
    assert result.exit_code == 0 and "updated 1" in result.output, result.output
    result = runner.invoke(main, ["import", "company", str(good), "--tenant", "acme", "--as", "rep@acme.test"])
    assert result.exit_code == 1 and "do not permit import" in result.output


def test_a_saved_mapping_is_offered_again(world):
    mapping = json.dumps({"Firm": "name", "Ref": "code"})
    done(world.post("company", "Firm,Ref\nA,R1\n", mapping=mapping, save_mapping="legacy"))
    body = done(world.post("company", "Firm,Ref\nB,R2\n"))
    assert body["mapping"] == {"Firm": "name", "Ref": "code"} and body["created"] == 1


def test_the_import_endpoints_are_in_the_openapi_document(world):
    document = world.client.get("/api/v1/openapi.json", headers=world.admin).json
    upload = document["paths"]["/api/v1/data/company/import"]["post"]
    assert upload["operationId"] == "data.company.import"
    form = upload["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert set(form["properties"]) >= {"file", "mapping", "mode", "key", "dry_run"}
    assert document["paths"]["/api/v1/imports/{import_id}"]["get"]["operationId"] == "imports.show"
    assert (
        "text/csv" in document["paths"]["/api/v1/imports/{import_id}/failed-rows"]["get"]["responses"]["200"]["content"]
    )
    assert "ImportRun" in document["components"]["schemas"]


def test_an_import_file_may_exceed_the_request_size_limit(world, app):
    app.config["MAX_CONTENT_LENGTH"] = 2000
    big = "Name,Code\n" + "".join(f"Company number {i},CODE-{i}\n" for i in range(200))
    assert len(big) > 4000
    body = done(world.post("company", big))
    assert body["created"] == 200
    # other requests keep the limit
    records = [{"name": f"n{i}" * 20} for i in range(50)]
    assert (
        world.client.post("/api/v1/data/company/bulk", json={"records": records}, headers=world.admin).status_code
        == 413
    )


def test_update_by_record_id_within_the_update_scope(world):
    mine = world.create("company", name="Mine", code="M1")
    text = f"id,Employees\n{mine['id']},77\n999999,1\nabc,2\n"
    body = done(world.post("company", text, mode="update", key="id"))
    assert (body["updated"], body["failed"]) == (1, 2)
    assert {e["row"] for e in body["errors"]} == {3, 4}
    (row,) = world.records("company")
    assert row["employees"] == 77 and row["version"] == 2


def test_likely_duplicates_are_skipped_updated_or_flagged_as_the_import_says(world):
    """Issue 12, item 3: the object's duplicate rules on import. A person
    with the e-mail address of an existing one is skipped (and listed, with
    the match, in the report and the failed-rows file), updates the existing
    record instead, or is created and flagged; "allow" leaves warn rules to
    people."""
    rule = {"api_name": "same_email", "action": "warn", "conditions": [{"field": "email", "method": "email"}]}
    made = world.client.put(f"{META}/objects/person/duplicate_rules/same_email", json=rule, headers=world.admin)
    assert made.status_code in (200, 201), made.json
    existing = world.create("person", name="Ada Lovelace", email="ada@example.com")["id"]
    text = "Name,Email\nADA L.,Ada@Example.com \nGrace Hopper,grace@example.com\n"

    skipped = done(world.post("person", text, duplicates="skip"))
    assert (skipped["created"], skipped["skipped"], skipped["failed"], skipped["duplicates"]) == (1, 1, 0, "skip")
    assert skipped["errors"][0]["row"] == 2 and f"(#{existing})" in skipped["errors"][0]["reason"]
    assert skipped["failed_rows"] is True
    failed = world.client.get(f"/api/v1/imports/{skipped['id']}/failed-rows", headers=world.admin)
    assert "likely duplicate of Ada Lovelace" in failed.data.decode("utf-8-sig")

    updated = done(world.post("person", text.replace("Grace Hopper,grace", "Alan Turing,alan"), duplicates="update"))
    assert (updated["created"], updated["updated"], updated["skipped"]) == (1, 1, 0)
    names = {r["id"]: r["name"] for r in world.records("person")}
    assert names[existing] == "ADA L." and list(names.values()).count("ADA L.") == 1

    flagged = done(world.post("person", "Name,Email\nAda Again,ada@example.com\n", duplicates="flag"))
    assert (flagged["created"], flagged["flagged"], flagged["failed"]) == (1, 1, 0), flagged["errors"]
    assert flagged["errors"][0]["flag"] is True and "created; likely duplicate of" in flagged["errors"][0]["reason"]

    allowed = done(world.post("person", "Name,Email\nAda Once More,ada@example.com\n"))
    assert (allowed["created"], allowed["duplicates"]) == (1, "allow")  # a warn rule speaks to people only
    bad = world.post("person", text, duplicates="merge")
    assert bad.status_code == 422 and "duplicates" in bad.json["error"]["details"]["fields"]


def test_the_cli_takes_the_duplicates_option(world, instance, tmp_path, monkeypatch):
    rule = {"api_name": "same_email", "action": "warn", "conditions": [{"field": "email", "method": "email"}]}
    world.client.put(f"{META}/objects/person/duplicate_rules/same_email", json=rule, headers=world.admin)
    world.create("person", name="Ada Lovelace", email="ada@example.com")
    path = tmp_path / "people.csv"
    path.write_text("Name,Email\nAda,ada@example.com\nGrace,grace@example.com\n", encoding="utf-8")
    monkeypatch.setattr("metacrm.cli._instance", lambda overrides: instance)
    result = CliRunner().invoke(main, ["import", "person", str(path), "--tenant", "acme", "--duplicates", "skip"])
    assert result.exit_code == 0, result.output
    assert "skipped 1 likely duplicates" in result.output and "created 1" in result.output
