"""Fields marked ``audit_reads``: every API read that returns them is in the
audit log (who, when, which record and fields; one statement per request),
and the audit log filters by object, record, user and field. Encrypted
fields refuse range filters and ``where=`` through the API with a 422
naming the field."""

from __future__ import annotations

import pytest

DATA = "/api/v1/data"
FIELDS = [
    {"api_name": "diagnosis", "label": "Diagnosis", "type": "text", "audit_reads": True},
    {"api_name": "insurance_no", "label": "Insurance no", "type": "text", "encrypted": True, "audit_reads": True},
    {"api_name": "ward", "label": "Ward", "type": "text"},
]


@pytest.fixture
def patients(world, client):
    admin = world.bearer("admin@acme.test", "acme")
    created = client.post(
        "/api/v1/meta/objects", json={"api_name": "patient", "label": "Patient", "fields": FIELDS}, headers=admin
    )
    assert created.status_code == 201, created.json
    rows = [
        {"name": "P1", "diagnosis": "flu", "insurance_no": "INS-1", "ward": "A"},
        {"name": "P2", "diagnosis": "cold", "insurance_no": "INS-2", "ward": "B"},
    ]
    response = client.post(f"{DATA}/patient/bulk", json={"records": rows}, headers=admin)
    assert response.status_code == 201, response.json
    return admin, [r["id"] for r in response.json["data"]]


def _reads(client, headers, **filters) -> list[dict]:
    response = client.get("/api/v1/audit", query_string={"action": "record.read", **filters}, headers=headers)
    assert response.status_code == 200, response.json
    return response.json["data"]


def test_a_record_read_is_audited_with_the_reader_and_fields(world, client, patients):
    admin, (first, second) = patients
    before = len(_reads(client, admin, object="patient"))
    response = client.get(f"{DATA}/patient/{first}", headers=admin)
    assert response.status_code == 200 and response.json["insurance_no"] == "INS-1"
    reads = _reads(client, admin, object="patient", record=first)
    assert len(_reads(client, admin, object="patient")) == before + 1
    entry = reads[0]
    admin_id = world.identity("admin@acme.test", "acme").user_id
    assert entry["actor_id"] == admin_id and entry["actor_email"] == "admin@acme.test"
    assert entry["details"] == {"fields": ["diagnosis", "insurance_no"]} and entry["at"]
    # Fields not asked for are not read.
    client.get(f"{DATA}/patient/{second}", query_string={"fields": "ward"}, headers=admin)
    assert len(_reads(client, admin, object="patient")) == before + 1
    client.get(f"{DATA}/patient/{second}", query_string={"fields": "diagnosis"}, headers=admin)
    assert _reads(client, admin, record=second)[0]["details"] == {"fields": ["diagnosis"]}


def test_a_list_read_writes_one_entry_per_record_in_one_request(client, patients):
    admin, ids = patients
    before = _reads(client, admin, object="patient")
    response = client.get(f"{DATA}/patient", headers=admin)
    assert response.status_code == 200
    after = _reads(client, admin, object="patient")
    new = after[: len(after) - len(before)]
    assert sorted(int(e["record_id"]) for e in new) == sorted(ids)
    assert len({e["request_id"] for e in new}) == 1


def test_the_audit_log_filters_by_object_record_user_and_field(world, client, patients):
    admin, (first, _second) = patients
    client.patch(f"{DATA}/patient/{first}", json={"ward": "C"}, headers=admin)
    client.patch(f"{DATA}/patient/{first}", json={"insurance_no": "INS-9"}, headers=admin)
    admin_id = world.identity("admin@acme.test", "acme").user_id
    response = client.get(
        "/api/v1/audit",
        query_string={"object": "patient", "record": first, "user": admin_id, "field": "insurance_no"},
        headers=admin,
    )
    assert response.status_code == 200
    entries = response.json["data"]
    actions = {e["action"] for e in entries}
    assert actions == {"record.created", "record.updated", "record.read"}
    assert all(e["record_id"] == str(first) and e["actor_id"] == admin_id for e in entries)
    updates = [e for e in entries if e["action"] == "record.updated"]
    assert [e["details"] for e in updates] == [{"changes": {"insurance_no": "changed"}}]  # never the values
    assert "INS-" not in str(response.json)
    ward = client.get("/api/v1/audit", query_string={"field": "ward", "action": "record.updated"}, headers=admin)
    assert [e["details"]["changes"]["ward"] for e in ward.json["data"]] == [["A", "C"]]
    nobody = client.get("/api/v1/audit", query_string={"object": "patient", "user": admin_id + 999}, headers=admin)
    assert nobody.json["data"] == []
    bad = client.get("/api/v1/audit", query_string={"field": "Not A Name"}, headers=admin)
    assert bad.status_code == 422 and "field" in bad.json["error"]["details"]["fields"]


def test_encrypted_fields_answer_exact_matches_and_refuse_the_rest(client, patients):
    admin, (first, _second) = patients
    found = client.get(f"{DATA}/patient", query_string={"insurance_no": "INS-1"}, headers=admin)
    assert [r["id"] for r in found.json["data"]] == [first]
    for query in ({"insurance_no[gt]": "INS"}, {"sort": "insurance_no"}, {"where": 'insurance_no = "INS-1"'}):
        response = client.get(f"{DATA}/patient", query_string=query, headers=admin)
        assert response.status_code == 422, (query, response.json)
        assert "insurance_no" in response.json["error"]["message"], response.json
