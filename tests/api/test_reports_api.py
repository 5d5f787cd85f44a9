"""``/api/v1/reports`` (metacrm/api/reports.py) with bearer tokens: list,
run, ad-hoc run, save (private for a rep, shared for an admin), change,
delete; JSON errors naming the field; another tenant's reports unseen."""

from __future__ import annotations

import datetime as dt

import pytest

from metacrm.platform import identity as identities
from tests.ui.record_support import Crm

SUMMARY = {
    "api_name": "mine",
    "label": "Mine",
    "object": "opportunity",
    "type": "summary",
    "groupings": [{"field": "stage"}],
    "aggregates": [{"op": "count"}, {"op": "sum", "field": "amount"}],
}


@pytest.fixture
def crm(app, package_tenant) -> Crm:
    crm = Crm.make(app, package_tenant)
    soon = (dt.date.today() + dt.timedelta(days=5)).isoformat()
    store = crm.tenant.store()
    for owner, n in ((crm.rep_id, 3), (crm.other_id, 2)):
        for i in range(n):
            store.create(
                "opportunity",
                {"name": f"D{owner}-{i}", "stage": "proposal", "amount": "100", "close_date": soon},
                owner_id=owner,
            )
    return crm


def bearer(crm: Crm, user: str) -> dict:
    user_id = {"rep": crm.rep_id, "other": crm.other_id, "admin": crm.admin_id}[user]
    identity = identities.identity_for(crm.instance, user_id, "crm")
    return {"Authorization": f"Bearer {identities.create_token(crm.instance, identity, 'test')[1]}"}


def test_run_save_change_delete(crm, client):
    rep, other, admin = bearer(crm, "rep"), bearer(crm, "other"), bearer(crm, "admin")
    run = client.post("/api/v1/reports/run", json=SUMMARY, headers=rep)
    assert run.status_code == 200, run.json
    assert run.json["total"] == {"count": 3, "sum_amount": 300.0}
    assert client.post("/api/v1/reports/run", json=SUMMARY, headers=admin).json["total"]["count"] == 5

    created = client.post("/api/v1/reports", json=SUMMARY, headers=rep)
    assert created.status_code == 201, created.json
    assert created.json["private_to"] == crm.rep_id
    assert client.get("/api/v1/reports/mine/run", headers=rep).json["total"]["count"] == 3
    assert client.get("/api/v1/reports/mine", headers=other).status_code == 404
    assert client.get("/api/v1/reports/mine/run", headers=other).status_code == 404
    assert "mine" not in {r["api_name"] for r in client.get("/api/v1/reports", headers=other).json["data"]}
    assert client.post("/api/v1/reports", json=SUMMARY, headers=rep).status_code == 422  # the name is taken

    changed = client.put("/api/v1/reports/mine", json={**SUMMARY, "label": "Still mine"}, headers=rep)
    assert changed.status_code == 200 and changed.json["label"] == "Still mine"

    shared = client.post("/api/v1/reports", json={**SUMMARY, "api_name": "shared"}, headers=admin)
    assert shared.status_code == 201 and "private_to" not in shared.json
    assert client.get("/api/v1/reports/shared/run", headers=other).json["total"]["count"] == 2
    assert client.put("/api/v1/reports/shared", json=SUMMARY, headers=rep).status_code == 403
    assert client.delete("/api/v1/reports/shared", headers=rep).status_code == 403
    assert client.delete("/api/v1/reports/mine", headers=rep).status_code == 204
    assert client.get("/api/v1/reports/mine", headers=rep).status_code == 404


def test_errors_name_the_field(crm, client):
    crm.hide("sales_rep", "opportunity", "probability")
    rep = bearer(crm, "rep")
    hidden = {**SUMMARY, "aggregates": [{"op": "avg", "field": "probability"}]}
    response = client.post("/api/v1/reports/run", json=hidden, headers=rep)
    assert response.status_code == 422
    assert "aggregates[0].field" in response.json["error"]["details"]["fields"]
    response = client.post("/api/v1/reports", json={**hidden, "api_name": "sneaky"}, headers=rep)
    assert response.status_code == 422
    bad = client.post("/api/v1/reports", json={**SUMMARY, "type": "pie"}, headers=bearer(crm, "admin"))
    assert bad.status_code == 422
    assert client.get("/api/v1/reports/pipeline_by_stage/run?format=pdf", headers=rep).status_code == 422
