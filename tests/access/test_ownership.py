"""Ownership: ``owner_id`` is never written by record writes; the transfer
endpoint needs update scope on the record and the ``transfer`` right, names
a member as the new owner, and is audited with the old and the new owner."""

from __future__ import annotations

import sqlalchemy as sa

from metacrm.access import pools as pool_service
from metacrm.metadata.model import model_for
from metacrm.platform import audit
from metacrm.platform.tables import audit_log


def _transfer(acl, user, record_id, body, obj="deal"):
    return acl.client().post(f"/api/v1/data/{obj}/{record_id}/owner", json=body, headers=acl.headers(user))


def test_owner_id_cannot_be_mass_assigned_through_any_record_write(acl):
    client = acl.client()
    admin = acl.headers("admin")  # even an admin, with update on everything
    mine = acl.record("deal-admin-0")
    other = acl.ids["rep_b"]
    assert client.patch(f"/api/v1/data/deal/{mine.id}", json={"owner_id": other}, headers=admin).status_code == 422
    assert client.post("/api/v1/data/deal", json={"name": "x", "owner_id": other}, headers=admin).status_code == 422
    bulk = {"operation": "update", "records": [{"id": mine.id, "owner_id": other}]}
    response = client.post("/api/v1/data/deal/bulk", json=bulk, headers=admin)
    assert response.status_code == 422
    assert response.json["error"]["details"]["rows"]["0"]["fields"]["owner_id"] == [
        "is a system field and cannot be written"
    ]
    bulk = {"operation": "create", "records": [{"name": "y", "owner_id": other}]}
    assert client.post("/api/v1/data/deal/bulk", json=bulk, headers=admin).status_code == 422
    assert acl.system_store().get("deal", mine.id)["owner_id"] == acl.ids["admin"]


def test_a_manager_transfers_a_record_in_their_update_scope(acl):
    theirs = acl.record("deal-rep_a-0")  # rep_a reports to the manager
    response = _transfer(acl, "manager", theirs.id, {"user_id": acl.ids["rep_b"]})
    assert response.status_code == 200, response.json
    assert response.json == {
        "object": "deal",
        "id": theirs.id,
        "owner_id": acl.ids["rep_b"],
        "previous_owner_id": acl.ids["rep_a"],
        "version": 2,
        "changed": True,
    }
    record = acl.system_store().get("deal", theirs.id)
    assert (record["owner_id"], record["updated_by"]) == (acl.ids["rep_b"], acl.ids["manager"])
    client = acl.client()
    assert client.get(f"/api/v1/data/deal/{theirs.id}", headers=acl.headers("rep_a")).status_code == 404
    assert client.get(f"/api/v1/data/deal/{theirs.id}", headers=acl.headers("rep_b")).status_code == 200
    with acl.binding.connect() as conn:
        entry = conn.execute(sa.select(audit_log).where(audit_log.c.action == "record.owner_changed")).mappings().one()
    assert entry["details"] == {"owner_before": acl.ids["rep_a"], "owner_after": acl.ids["rep_b"]}
    assert (entry["object"], entry["record_id"], entry["actor_id"]) == ("deal", str(theirs.id), acl.ids["manager"])
    # The same owner again changes nothing.
    again = _transfer(acl, "manager", theirs.id, {"user_id": acl.ids["rep_b"]})
    assert again.status_code == 200 and again.json["changed"] is False
    # A transferred record leaves the pool it was in.
    admin = acl.headers("admin")
    pool = {"api_name": "deal_pool", "object": "deal", "label": "Deals", "members": {"roles": ["sales_rep"]}}
    assert client.post("/api/v1/access/pools", json=pool, headers=admin).status_code == 201
    record = acl.record("deal-reader-0")
    with acl.binding.begin() as conn:
        model = model_for(acl.instance, acl.binding)
        pool_service.return_to_pool(conn, model, "deal", [record.id], reason="r", actor=audit.SYSTEM)
    assert _transfer(acl, "admin", record.id, {"user_id": acl.ids["rep_b"]}).status_code == 200
    assert client.get("/api/v1/pools/deal_pool", headers=acl.headers("rep_a")).json["records"] == 0
    assert client.get(f"/api/v1/data/deal/{record.id}", headers=acl.headers("rep_a")).status_code == 404


def test_transfer_needs_the_right_the_scope_and_a_member(acl):
    mine = acl.record("deal-rep_a-0")
    # A rep may update their record but has no transfer right.
    response = _transfer(acl, "rep_a", mine.id, {"user_id": acl.ids["rep_b"]})
    assert response.status_code == 403 and response.json["error"]["details"]["action"] == "transfer"
    # Out of the manager's update scope: looks missing.
    agents = acl.record("deal-agent_a-0")
    assert _transfer(acl, "manager", agents.id, {"user_id": acl.ids["rep_b"]}).status_code == 404
    assert _transfer(acl, "manager", 999999, {"user_id": acl.ids["rep_b"]}).status_code == 404
    # Nobody from another tenant, no made-up user, no extra members.
    for body in ({"user_id": 99999}, {}, {"user_id": "3"}, {"user_id": acl.ids["rep_b"], "owner": 1}):
        response = _transfer(acl, "manager", mine.id, body)
        assert response.status_code == 422, body
    assert _transfer(acl, "reader", mine.id, {"user_id": acl.ids["rep_b"]}).status_code == 403
    assert _transfer(acl, "nobody", mine.id, {"user_id": acl.ids["rep_b"]}).status_code == 403
    assert acl.system_store().get("deal", mine.id)["owner_id"] == acl.ids["rep_a"]
    # The right is part of the role entry: "transfer": true, which needs update.
    client, admin = acl.client(), acl.headers("admin")
    entry = {"create": True, "read": "own", "update": "none", "transfer": True}
    response = client.put("/api/v1/access/roles/sales_rep/objects/deal", json=entry, headers=admin)
    assert response.status_code == 422 and "transfer" in response.json["error"]["details"]["fields"]
    entry = {"create": True, "read": "own", "update": "own", "delete": "own", "transfer": True}
    response = client.put("/api/v1/access/roles/sales_rep/objects/deal", json=entry, headers=admin)
    assert response.status_code == 200 and response.json["transfer"] is True
    assert _transfer(acl, "rep_a", mine.id, {"user_id": acl.ids["rep_b"]}).status_code == 200
    # Tickets keep the * default: no transfer.
    ticket = acl.record("ticket-rep_a-0")
    assert _transfer(acl, "rep_a", ticket.id, {"user_id": acl.ids["rep_b"]}, obj="ticket").status_code == 403
