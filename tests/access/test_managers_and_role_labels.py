"""Who reports to whom (``PUT /access/users/<id>/manager``: members only, no
cycles, audited) and role labels in other languages (``translations``)."""

from __future__ import annotations

import sqlalchemy as sa

from metacrm.access.tables import member_managers


def _put_manager(acl, user, manager, who="admin"):
    return acl.client().put(
        f"/api/v1/access/users/{acl.ids[user]}/manager",
        json={"manager_id": acl.ids[manager] if isinstance(manager, str) else manager},
        headers=acl.headers(who),
    )


def _managers(acl):
    users = acl.client().get("/api/v1/access/users", headers=acl.headers("admin")).json["data"]
    return {acl.name_of(u["id"]): u["manager_id"] for u in users}


def test_a_manager_is_set_shown_and_cleared(acl):
    response = _put_manager(acl, "rep_a", "manager")
    assert response.status_code == 200, response.json
    assert response.json == {"user_id": acl.ids["rep_a"], "manager_id": acl.ids["manager"]}
    assert _put_manager(acl, "manager", "admin").status_code == 200
    managers = _managers(acl)
    assert managers["rep_a"] == acl.ids["manager"] and managers["manager"] == acl.ids["admin"]
    assert managers["rep_b"] is None
    assert _put_manager(acl, "rep_a", None).status_code == 200
    assert _managers(acl)["rep_a"] is None
    with acl.binding.connect() as conn:
        rows = conn.execute(sa.select(member_managers.c.user_id)).scalars().all()
    assert rows == [acl.ids["manager"]]
    log = acl.client().get("/api/v1/audit?action=access.manager_changed", headers=acl.headers("admin"))
    if log.status_code == 200:
        assert len(log.json["data"]) >= 3


def test_no_cycles_no_strangers_no_self(acl):
    assert _put_manager(acl, "rep_a", "manager").status_code == 200
    assert _put_manager(acl, "manager", "admin").status_code == 200
    cycle = _put_manager(acl, "admin", "rep_a")
    assert cycle.status_code == 422
    message = cycle.json["error"]["details"]["fields"]["manager_id"][0]
    assert "cycle" in message and "rep_a@acme.test" in message
    itself = _put_manager(acl, "rep_a", "rep_a")
    assert itself.status_code == 422 and "manager_id" in itself.json["error"]["details"]["fields"]
    stranger = _put_manager(acl, "rep_a", 999_999)
    assert stranger.status_code == 422 and "manager_id" in stranger.json["error"]["details"]["fields"]
    for bad in ("x", True, 1.5):
        response = acl.client().put(
            f"/api/v1/access/users/{acl.ids['rep_a']}/manager", json={"manager_id": bad}, headers=acl.headers("admin")
        )
        assert response.status_code == 422
    wrong = acl.client().put(
        f"/api/v1/access/users/{acl.ids['rep_a']}/manager", json={"boss": 1}, headers=acl.headers("admin")
    )
    assert wrong.status_code == 422
    assert _put_manager(acl, "rep_a", "manager", who="manager").status_code == 403
    assert _managers(acl)["admin"] is None


def test_role_translations_are_stored_mirrored_and_validated(acl):
    client = acl.client()
    admin = acl.headers("admin")
    response = client.patch(
        "/api/v1/access/roles/sales_rep", json={"translations": {"zh_CN": " 销售代表 "}}, headers=admin
    )
    assert response.status_code == 200, response.json
    assert response.json["translations"] == {"zh_CN": "销售代表"}
    assert client.get("/api/v1/access/roles/sales_rep", headers=admin).json["translations"] == {"zh_CN": "销售代表"}
    created = client.post(
        "/api/v1/access/roles",
        json={"api_name": "key_accounts", "label": "Key accounts", "translations": {"zh_CN": "大客户"}},
        headers=admin,
    )
    assert created.status_code == 201 and created.json["translations"] == {"zh_CN": "大客户"}
    for bad in ({"zh_CN": 3}, ["x"], {"zh_CN": "x" * 201}):
        response = client.patch("/api/v1/access/roles/sales_rep", json={"translations": bad}, headers=admin)
        assert response.status_code == 422 and "translations" in response.json["error"]["details"]["fields"]
    # Clearing it.
    response = client.patch("/api/v1/access/roles/sales_rep", json={"translations": {"zh_CN": ""}}, headers=admin)
    assert "translations" not in response.json
