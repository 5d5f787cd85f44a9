"""crm_core's approval process for quotes, end to end through the REST API:
a quote with a discount above 20 % waits for its owner's manager and is
locked until approved; a smaller discount needs no approval.

(plugins/crm_core/tests/test_quote_approval.py; QUOTE_VALUES holds what a
quote needs besides its discount.)"""

from __future__ import annotations

import pytest

from metacrm_crm_core.plugin import PACKAGE_DIR

QUOTE_VALUES = {"name": "Q-approval"}
PASSWORD = "correct horse battery"  # metacrm.plugins.testing's users


@pytest.fixture
def crm(package_tenant):
    return package_tenant(PACKAGE_DIR, slug="crm", users=("ann", "bob"), role="admin")


def _bearer(client, email: str) -> dict:
    answer = client.post("/api/v1/auth/token", json={"email": email, "password": PASSWORD, "tenant": "crm"})
    assert answer.status_code == 201, answer.json
    return {"Authorization": f"Bearer {answer.json['token']}"}


def test_a_quote_above_20_percent_discount_waits_for_the_owners_manager(crm, client):
    ann, bob = _bearer(client, "ann@crm.test"), _bearer(client, "bob@crm.test")
    ann_id, bob_id = crm.users
    assert (
        client.put(f"/api/v1/access/users/{ann_id}/manager", json={"manager_id": bob_id}, headers=bob).status_code
        == 200
    )

    small = client.post("/api/v1/data/quote", json={**QUOTE_VALUES, "discount": "20"}, headers=ann).json
    refused = client.post(f"/api/v1/data/quote/{small['id']}/approvals", headers=ann)
    assert refused.status_code == 422 and "process" in refused.json["error"]["details"]["fields"]

    quote = client.post("/api/v1/data/quote", json={**QUOTE_VALUES, "discount": "25"}, headers=ann).json
    submitted = client.post(
        f"/api/v1/data/quote/{quote['id']}/approvals", json={"comment": "Big customer"}, headers=ann
    )
    assert submitted.status_code == 201, submitted.json
    assert submitted.json["process"] == "large_discount"
    locked = client.patch(f"/api/v1/data/quote/{quote['id']}", json={"discount": "30"}, headers=ann)
    assert locked.status_code == 422 and locked.json["error"]["code"] == "record_locked"

    inbox = client.get("/api/v1/approvals", headers=bob).json["data"]
    assert [item["record_id"] for item in inbox] == [quote["id"]]
    assert any("Discount above 20 %" in note["message"] for note in crm.notifications() if note["user_id"] == bob_id)
    request_id = inbox[0]["id"]
    approved = client.post(f"/api/v1/approvals/{request_id}/approve", json={"comment": "OK"}, headers=bob)
    assert approved.status_code == 200 and approved.json["status"] == "approved"
    assert client.patch(f"/api/v1/data/quote/{quote['id']}", json={"discount": "22"}, headers=ann).status_code == 200
