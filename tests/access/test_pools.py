"""Public pools: defined by admins (validated, versioned, mirrored), read by
their members through the one scope clause, claimed (quota, cool-down,
exactly one winner), returned (reason required), assigned by pool admins,
reclaimed when nobody follows up, shipped by crm_core — all audited."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from metacrm.access import pools as pool_service
from metacrm.access.permissions import DEFINITION_KEY, DEFINITION_KIND
from metacrm.access.policy import policy_for
from metacrm.access.tables import pool_claims, pool_records
from metacrm.metadata.changes import load_definitions
from metacrm.metadata.model import model_for
from metacrm.platform import audit, tenancy
from metacrm.platform.clock import utcnow
from metacrm.platform.errors import Conflict
from metacrm.platform.jobs import job_queue
from metacrm.platform.tables import audit_log

POOL = {
    "api_name": "deal_pool",
    "object": "deal",
    "label": "Deal pool",
    "members": {"roles": ["sales_rep"], "teams": ["north"]},
    "admins": ["sales_manager"],
    "claim_quota": 2,
    "cooldown_days": 7,
    "reclaim_days": 30,
}
POOLED = ("deal-reader-0", "deal-reader-1", "deal-marketer-0")


def _pooled_world(acl) -> list[int]:
    response = acl.client().post("/api/v1/access/pools", json=POOL, headers=acl.headers("admin"))
    assert response.status_code == 201, response.json
    ids = [acl.record(name).id for name in POOLED]
    with acl.binding.begin() as conn:
        moved = pool_service.return_to_pool(
            conn, model_for(acl.instance, acl.binding), "deal", ids, reason="seed", actor=audit.SYSTEM
        )
    assert moved == 3
    return ids


def _owner(acl, record_id) -> int | None:
    return acl.system_store().get("deal", record_id)["owner_id"]


def _audit(acl, action) -> list[dict]:
    with acl.binding.connect() as conn:
        rows = conn.execute(sa.select(audit_log).where(audit_log.c.action == action).order_by(audit_log.c.id))
        return [dict(r._mapping) for r in rows]


# -- definition --------------------------------------------------------------------------------------------


def test_pools_are_validated_versioned_and_mirrored(acl):
    client, admin = acl.client(), acl.headers("admin")
    bad = {
        **POOL,
        "object": "nothing",
        "members": {"roles": ["ghost"], "teams": ["nowhere"]},
        "admins": ["x"],
        "claim_quota": 0,
        "reclaim_days": "soon",
        "colour": "red",
    }
    response = client.post("/api/v1/access/pools", json=bad, headers=admin)
    assert response.status_code == 422
    fields = response.json["error"]["details"]["fields"]
    assert set(fields) == {
        "object",
        "members.roles",
        "members.teams",
        "admins",
        "claim_quota",
        "reclaim_days",
        "colour",
    }
    response = client.post("/api/v1/access/pools", json=POOL, headers=admin)
    assert response.status_code == 201 and response.json == POOL
    revision = int(response.headers["X-Metadata-Revision"])
    assert client.post("/api/v1/access/pools", json=POOL, headers=admin).status_code == 409
    with acl.binding.connect() as conn:
        document = load_definitions(conn).get(DEFINITION_KIND, DEFINITION_KEY).document
    assert document["pools"]["deal_pool"] == POOL
    response = client.patch("/api/v1/access/pools/deal_pool", json={"claim_quota": 5}, headers=admin)
    assert response.status_code == 200 and response.json["claim_quota"] == 5
    assert int(response.headers["X-Metadata-Revision"]) == revision + 1
    assert client.patch("/api/v1/access/pools/deal_pool", json={"object": "ticket"}, headers=admin).status_code == 422
    assert client.get("/api/v1/access/pools", headers=admin).json["data"][0]["claim_quota"] == 5
    # What a pool names cannot disappear under it; a pool with records in it cannot be deleted.
    assert client.delete("/api/v1/access/teams/north", headers=admin).status_code == 409
    with acl.binding.begin() as conn:
        pool_service.return_to_pool(
            conn, model_for(acl.instance, acl.binding), "deal", [acl.records[0].id], reason="r", actor=audit.SYSTEM
        )
    assert client.delete("/api/v1/access/pools/deal_pool", headers=admin).status_code == 409
    with acl.binding.begin() as conn:
        conn.execute(pool_records.delete())
    assert client.delete("/api/v1/access/pools/deal_pool", headers=admin).status_code == 204
    assert client.get("/api/v1/access/pools/deal_pool", headers=admin).status_code == 404
    # Nobody makes a role they hold a pool member or admin (it would widen what they see).
    response = client.post(
        "/api/v1/access/roles",
        json={"api_name": "pool_keeper", "label": "Pool keeper", "permissions": {"manage_access": True}},
        headers=admin,
    )
    assert response.status_code == 201
    keeper = acl.ids["rep_b"]
    assert (
        client.put(f"/api/v1/access/users/{keeper}/roles", json={"roles": ["pool_keeper"]}, headers=admin).status_code
        == 200
    )
    mine = {**POOL, "members": {"roles": ["pool_keeper"]}}
    assert client.post("/api/v1/access/pools", json=mine, headers=acl.headers("rep_b")).status_code == 403
    assert client.post("/api/v1/access/pools", json=POOL, headers=acl.headers("rep_b")).status_code == 201


# -- reading --------------------------------------------------------------------------------------------------


def test_pool_members_read_pool_records_on_list_and_record_paths_alike(acl):
    ids = _pooled_world(acl)
    client = acl.client()
    members = {"rep_a", "rep_b", "agent_a", "agent_b", "manager"}  # role, team north, admin
    for user in ("rep_a", "rep_b", "agent_a", "agent_c", "manager", "nobody"):
        headers = acl.headers(user)
        listing = client.get("/api/v1/data/deal?limit=200", headers=headers)
        listed = {row["id"] for row in listing.json["data"]} if listing.status_code == 200 else set()
        for record_id in ids:
            got = client.get(f"/api/v1/data/deal/{record_id}", headers=headers)
            visible = user in members
            assert got.status_code == (200 if visible else 403 if user == "nobody" else 404), (user, record_id)
            assert (record_id in listed) == visible, (user, record_id)
            # Reading is all a pool opens.
            if user in ("rep_a", "agent_a"):
                patched = client.patch(f"/api/v1/data/deal/{record_id}", json={"note": "x"}, headers=headers)
                assert patched.status_code == 404
    explained = client.get(
        f"/api/v1/access/explain?user={acl.ids['agent_a']}&object=deal&id={ids[0]}", headers=acl.headers("admin")
    ).json
    pool_reason = next(r for r in explained["record"]["reasons"] if r["kind"] == "pool")
    assert pool_reason["matches"] is True and pool_reason["record_pool"] == "deal_pool"


def test_the_pools_endpoints_show_what_a_member_may_work(acl):
    ids = _pooled_world(acl)
    client = acl.client()
    rep_a = acl.headers("rep_a")
    pools = client.get("/api/v1/pools", headers=rep_a).json["data"]
    assert [(p["api_name"], p["records"], p["held_by_me"], p["i_administer"]) for p in pools] == [
        ("deal_pool", 3, 0, False)
    ]
    assert client.get("/api/v1/pools", headers=acl.headers("agent_c")).json["data"] == []
    assert client.get("/api/v1/pools/deal_pool", headers=acl.headers("manager")).json["i_administer"] is True
    assert client.get("/api/v1/pools/deal_pool/records", headers=acl.headers("agent_c")).status_code == 404
    # The record store's list: field-level security, filters, sorting and paging apply.
    entry = {"create": True, "read": "own", "update": "own", "delete": "own", "fields": {"secret": "hidden"}}
    assert (
        client.put("/api/v1/access/roles/sales_rep/objects/deal", json=entry, headers=acl.headers("admin")).status_code
        == 200
    )
    page = client.get("/api/v1/pools/deal_pool/records?limit=2&sort=name", headers=rep_a).json
    assert [row["id"] for row in page["data"]] == sorted(ids, key=lambda i: acl.system_store().get("deal", i)["name"])[
        :2
    ]
    assert page["next_cursor"] and all("secret" not in row for row in page["data"])
    rest = client.get(f"/api/v1/pools/deal_pool/records?limit=2&sort=name&cursor={page['next_cursor']}", headers=rep_a)
    assert len(rest.json["data"]) == 1
    filtered = client.get("/api/v1/pools/deal_pool/records?amount=100&count=true", headers=rep_a).json
    assert filtered["total"] == 1 and filtered["data"][0]["name"] == "deal-reader-1"
    where = client.get('/api/v1/pools/deal_pool/records?where=name = "deal-marketer-0"', headers=rep_a).json
    assert [row["name"] for row in where["data"]] == ["deal-marketer-0"]
    assert client.get("/api/v1/pools/deal_pool/records?secret=x", headers=rep_a).status_code == 422


# -- moving records ---------------------------------------------------------------------------------------------


def test_claiming_respects_the_quota_and_a_record_goes_to_one_claimer(acl):
    ids = _pooled_world(acl)
    client = acl.client()
    rep_a, rep_b = acl.headers("rep_a"), acl.headers("rep_b")
    response = client.post("/api/v1/pools/deal_pool/claim", json={"ids": ids[:2]}, headers=rep_a)
    assert response.status_code == 200, response.json
    assert response.json["held"] == 2
    assert [_owner(acl, i) for i in ids[:2]] == [acl.ids["rep_a"]] * 2
    assert client.get(f"/api/v1/data/deal/{ids[0]}", headers=rep_a).status_code == 200
    # Taken: rep_b no longer sees it, and cannot claim it.
    assert client.get(f"/api/v1/data/deal/{ids[0]}", headers=rep_b).status_code == 404
    taken = client.post("/api/v1/pools/deal_pool/claim", json={"ids": [ids[0], ids[2]]}, headers=rep_b)
    assert taken.status_code == 409 and taken.json["error"]["details"]["ids"] == [ids[0]]
    assert _owner(acl, ids[2]) is None  # all or nothing
    # The quota counts what rep_a holds now.
    over = client.post("/api/v1/pools/deal_pool/claim", json={"ids": [ids[2]]}, headers=rep_a)
    assert over.status_code == 409 and over.json["error"]["details"]["claim_quota"] == 2
    for bad in ({"ids": []}, {"ids": ["1"]}, {}, {"ids": [True]}):
        assert client.post("/api/v1/pools/deal_pool/claim", json=bad, headers=rep_a).status_code == 422
    assert (
        client.post("/api/v1/pools/deal_pool/claim", json={"ids": [ids[2]]}, headers=acl.headers("agent_c")).status_code
        == 404
    )
    claimed = _audit(acl, "pool.claimed")
    assert [(int(e["record_id"]), e["actor_id"]) for e in claimed] == [(i, acl.ids["rep_a"]) for i in ids[:2]]


def test_two_users_claiming_the_same_record_at_once_exactly_one_wins(acl):
    ids = _pooled_world(acl)
    model = model_for(acl.instance, acl.binding)
    barrier = threading.Barrier(2)
    outcomes: dict[str, object] = {}

    def attempt(user):
        guard = acl.guard(user)
        actor = audit.Actor(user_id=acl.ids[user], email=f"{user}@acme.test")
        barrier.wait()
        try:
            outcomes[user] = pool_service.claim(guard, acl.binding, model, "deal_pool", {"ids": [ids[1]]}, actor)
        except Conflict as exc:
            outcomes[user] = exc

    threads = [threading.Thread(target=attempt, args=(u,)) for u in ("rep_a", "rep_b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [u for u, o in outcomes.items() if isinstance(o, dict)]
    losers = [o for o in outcomes.values() if isinstance(o, Conflict)]
    assert len(winners) == 1 and len(losers) == 1, outcomes
    assert losers[0].details["ids"] == [ids[1]] and str(ids[1]) in losers[0].message
    assert _owner(acl, ids[1]) == acl.ids[winners[0]]


def test_returning_needs_a_reason_and_starts_the_cool_down(acl):
    ids = _pooled_world(acl)
    client = acl.client()
    rep_a, rep_b = acl.headers("rep_a"), acl.headers("rep_b")
    assert client.post("/api/v1/pools/deal_pool/claim", json={"ids": [ids[0]]}, headers=rep_a).status_code == 200
    assert client.post("/api/v1/pools/deal_pool/return", json={"ids": [ids[0]]}, headers=rep_a).status_code == 422
    blank = {"ids": [ids[0]], "reason": "  "}
    assert client.post("/api/v1/pools/deal_pool/return", json=blank, headers=rep_a).status_code == 422
    # Not someone else's record (outside rep_b's update scope: looks missing).
    body = {"ids": [ids[0]], "reason": "not mine"}
    assert client.post("/api/v1/pools/deal_pool/return", json=body, headers=rep_b).status_code == 404
    body = {"ids": [ids[0]], "reason": "no budget this year"}
    response = client.post("/api/v1/pools/deal_pool/return", json=body, headers=rep_a)
    assert response.status_code == 200 and response.json["count"] == 1
    assert _owner(acl, ids[0]) is None
    returned = _audit(acl, "pool.returned")[-1]
    assert returned["details"] == {
        "pool": "deal_pool",
        "owner_before": acl.ids["rep_a"],
        "reason": "no budget this year",
    }
    # rep_a may not take it back for 7 days; rep_b may.
    again = client.post("/api/v1/pools/deal_pool/claim", json={"ids": [ids[0]]}, headers=rep_a)
    assert again.status_code == 409 and again.json["error"]["details"]["ids"] == [ids[0]]
    assert client.post("/api/v1/pools/deal_pool/claim", json={"ids": [ids[0]]}, headers=rep_b).status_code == 200
    # A record of one's own that never was in the pool may be returned too.
    mine = acl.record("deal-rep_a-0").id
    body = {"ids": [mine], "reason": "handing over"}
    assert client.post("/api/v1/pools/deal_pool/return", json=body, headers=rep_a).status_code == 200
    assert client.post("/api/v1/pools/deal_pool/return", json=body, headers=acl.headers("admin")).status_code == 404


def test_only_pool_admins_assign_and_only_to_members(acl):
    ids = _pooled_world(acl)
    client = acl.client()
    body = {"ids": [ids[0]], "user_id": acl.ids["rep_b"]}
    assert client.post("/api/v1/pools/deal_pool/assign", json=body, headers=acl.headers("rep_a")).status_code == 403
    stranger = {"ids": [ids[0]], "user_id": 99999}
    response = client.post("/api/v1/pools/deal_pool/assign", json=stranger, headers=acl.headers("manager"))
    assert response.status_code == 422 and "user_id" in response.json["error"]["details"]["fields"]
    response = client.post("/api/v1/pools/deal_pool/assign", json=body, headers=acl.headers("manager"))
    assert response.status_code == 200, response.json
    assert _owner(acl, ids[0]) == acl.ids["rep_b"]
    assert _audit(acl, "pool.assigned")[-1]["details"] == {"pool": "deal_pool", "owner_after": acl.ids["rep_b"]}
    # Assigned records do not count against rep_b's claim quota.
    assert (
        client.post("/api/v1/pools/deal_pool/claim", json={"ids": ids[1:]}, headers=acl.headers("rep_b")).status_code
        == 200
    )


# -- the services automations and the scheduler call ----------------------------------------------------------


def test_return_to_pool_runs_in_the_callers_transaction(acl):
    _pooled_world(acl)
    model = model_for(acl.instance, acl.binding)
    mine = [acl.record("deal-rep_a-0").id, acl.record("deal-rep_a-1").id]
    with pytest.raises(RuntimeError), acl.binding.begin() as conn:
        assert pool_service.return_to_pool(conn, model, "deal", mine, reason="r", actor=audit.SYSTEM) == 2
        raise RuntimeError("the automation failed later")
    assert _owner(acl, mine[0]) == acl.ids["rep_a"]
    with acl.binding.begin() as conn:
        assert pool_service.return_to_pool(conn, model, "deal", mine, reason="r", actor=audit.SYSTEM) == 2
        assert pool_service.return_to_pool(conn, model, "deal", mine, reason="r", actor=audit.SYSTEM) == 0
    assert _owner(acl, mine[0]) is None
    with acl.binding.begin() as conn:
        with pytest.raises(Exception, match="no pool"):
            pool_service.return_to_pool(conn, model, "ticket", [1], reason="r", actor=audit.SYSTEM)
        with pytest.raises(Exception, match="no pool"):
            pool_service.return_to_pool(conn, model, "deal", mine, reason="r", actor=audit.SYSTEM, pool="other")


def test_reclaim_returns_what_nobody_followed_up(acl):
    ids = _pooled_world(acl)
    client = acl.client()
    rep_a = acl.headers("rep_a")
    assert client.post("/api/v1/pools/deal_pool/claim", json={"ids": ids[:2]}, headers=rep_a).status_code == 200
    model = model_for(acl.instance, acl.binding)
    assert pool_service.reclaim_due(acl.binding, model) == {}
    # rep_a follows up one of them 20 days from now; 31 days from now the other is overdue.
    later = utcnow() + timedelta(days=20)
    table = model.object("deal").table
    with acl.binding.begin() as conn:
        conn.execute(table.update().where(table.c.id == ids[0]).values(updated_at=later))
    assert pool_service.reclaim_due(acl.binding, model, now=utcnow() + timedelta(days=31)) == {"deal_pool": 1}
    assert _owner(acl, ids[1]) is None and _owner(acl, ids[0]) == acl.ids["rep_a"]
    assert "no follow-up" in _audit(acl, "pool.returned")[-1]["details"]["reason"]
    with acl.binding.connect() as conn:
        assert conn.execute(sa.select(pool_claims.c.record_id)).scalars().all() == [ids[0]]
    # The daily job does it for every tenant.
    queue = job_queue(acl.instance)
    assert "access.pools.reclaim" in queue.names()
    with acl.binding.begin() as conn:
        conn.execute(table.update().where(table.c.id == ids[0]).values(updated_at=utcnow() - timedelta(days=40)))
    queue.run_now("access.pools.reclaim")
    assert _owner(acl, ids[0]) is None


# -- crm_core --------------------------------------------------------------------------------------------------


def test_crm_core_ships_the_lead_and_account_pools(instance):
    from metacrm_crm_core.plugin import PACKAGE_DIR

    from metacrm.plugins.packages import apply_package, load_package

    tenancy.create_tenant(instance, "crm", "CRM")
    binding = instance.db.bind("crm")
    package = load_package(PACKAGE_DIR)
    result = apply_package(instance, binding, package, audit.SYSTEM)
    pools = policy_for(instance, binding).pools
    assert set(pools) == {"account_pool", "lead_pool"}
    for name, obj in (("account_pool", "account"), ("lead_pool", "lead")):
        pool = pools[name]
        assert pool.object == obj
        assert set(pool.member_roles) == {"sales_rep", "sales_manager"}
        assert "sales_manager" in pool.admins
        assert (pool.claim_quota, pool.cooldown_days, pool.reclaim_days) == (50, 7, 30)
    # Installing again changes nothing (and keeps an admin's changes).
    again = apply_package(instance, binding, package, audit.SYSTEM)
    assert again["revision"] is None and result["revision"] is not None
