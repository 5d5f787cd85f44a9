"""Roles × objects × actions × scopes: for every user and every record, the
list path and the record path agree with each other and with the oracle of
docs/access.md — a record is in a user's list exactly when GET by id returns
it, and an update or delete succeeds exactly when the record is in that
action's scope (404 otherwise, 403 without the object permission)."""

from __future__ import annotations

import pytest

from metacrm.access.changes import AccessChanges
from metacrm.access.permissions import SCOPES, covers
from metacrm.platform import audit
from metacrm.platform.errors import Forbidden, NotFound
from tests.access.conftest import OBJECTS, STANDARD, USERS, expected

ADMIN = audit.Actor(email="admin@acme.test")


def _status_for(outcome: str, ok: int) -> int:
    return {"forbidden": 403, "in": ok, "out": 404}[outcome]


@pytest.mark.parametrize("org_wide", ["private", "public_read", "public_read_write"])
def test_list_and_record_paths_agree_for_every_user_and_record(acl, org_wide):
    client = acl.client()
    if org_wide != "private":
        response = client.put(
            "/api/v1/access/objects/deal", json={"org_wide_default": org_wide}, headers=acl.headers("admin")
        )
        assert response.status_code == 200, response.json
    for user in USERS:
        headers = acl.headers(user)
        # ticket stays private: under a public default only deal has anything new to show.
        for obj in OBJECTS if org_wide == "private" else ("deal",):
            owd = org_wide if obj == "deal" else "private"
            records = [r for r in acl.records if r.object == obj]
            listing = client.get(f"/api/v1/data/{obj}?limit=200&count=true", headers=headers)
            if expected(acl, user, records[0], "read", org_wide=owd) == "forbidden":
                assert listing.status_code == 403, (user, obj)
                listed = set()
            else:
                assert listing.status_code == 200, (user, obj, listing.json)
                listed = {row["id"] for row in listing.json["data"]}
                assert listing.json["total"] == len(listed)
            for record in records:
                outcome = expected(acl, user, record, "read", org_wide=owd)
                got = client.get(f"/api/v1/data/{obj}/{record.id}", headers=headers)
                assert got.status_code == _status_for(outcome, 200), (user, record.name, outcome)
                assert (got.status_code == 200) == (record.id in listed), (user, record.name)

                outcome = expected(acl, user, record, "update", org_wide=owd)
                patched = client.patch(f"/api/v1/data/{obj}/{record.id}", json={"note": f"by {user}"}, headers=headers)
                assert patched.status_code == _status_for(outcome, 200), (user, record.name, outcome, patched.json)


def test_delete_succeeds_exactly_inside_the_delete_scope(acl):
    client = acl.client()
    system = acl.system_store()
    for user in USERS:
        for record in acl.records:
            outcome = expected(acl, user, record, "delete")
            response = client.delete(f"/api/v1/data/{record.object}/{record.id}", headers=acl.headers(user))
            assert response.status_code == _status_for(outcome, 204), (user, record.name, outcome)
            if response.status_code == 204:
                system.restore(record.object, record.id)


def _combinations():
    for read in SCOPES:
        for write in SCOPES:
            if covers(read, write):
                yield read, write


@pytest.mark.parametrize(("read", "write"), list(_combinations()))
def test_every_scope_of_a_role_holds_on_both_paths(acl, read, write):
    """sales_rep's entry for deal takes every valid (read, update = delete)
    scope pair; ticket keeps the role's * default; the manager is the control."""
    entry = {"create": read != "none", "read": read, "update": write, "delete": write}
    with AccessChanges(acl.instance, acl.binding, ADMIN).change("scope matrix") as change:
        change.put_object_access("sales_rep", "deal", entry)
    deal_roles = {**STANDARD, "sales_rep": entry}
    system = acl.system_store()
    for user in ("rep_a", "rep_b", "manager"):
        store = acl.store(user)
        for obj in OBJECTS:
            roles = deal_roles if obj == "deal" else STANDARD
            records = [r for r in acl.records if r.object == obj]
            try:
                listed = {row["id"] for row in store.query(obj, limit=200).data}
                assert expected(acl, user, records[0], "read", roles=roles) != "forbidden"
            except Forbidden:
                assert expected(acl, user, records[0], "read", roles=roles) == "forbidden"
                listed = set()
            for record in records:
                for action in ("read", "update", "delete"):
                    outcome = expected(acl, user, record, action, roles=roles)
                    try:
                        if action == "read":
                            store.get(obj, record.id)
                        elif action == "update":
                            store.update(obj, record.id, {"note": f"{read}/{write}"})
                        else:
                            store.delete(obj, record.id)
                            system.restore(obj, record.id)
                        got = "in"
                    except Forbidden:
                        got = "forbidden"
                    except NotFound:
                        got = "out"
                    assert got == outcome, (user, record.name, action, read, write)
                    if action == "read":
                        assert (got == "in") == (record.id in listed), (user, record.name)


OWN_CONDITIONS = [
    "owner_id = $User.Id",
    "NOT(owner_id <> $User.Id) and not ISBLANK(id)",
]


def test_a_condition_equivalent_to_own_holds_exactly_like_own_on_both_paths(acl):
    """sales_rep's deal scopes become a condition meaning ``own``: every user ×
    record × action must come out as the oracle says for ``own``."""
    for condition in OWN_CONDITIONS:
        _check_condition_like_own(acl, condition)


def _check_condition_like_own(acl, condition):
    client = acl.client()
    scope = {"condition": condition}
    entry = {"create": True, "read": scope, "update": scope, "delete": scope}
    response = client.put("/api/v1/access/roles/sales_rep/objects/deal", json=entry, headers=acl.headers("admin"))
    assert response.status_code == 200, response.json
    system = acl.system_store()
    deals = [r for r in acl.records if r.object == "deal"]
    for user in ("rep_a", "rep_b", "manager"):
        headers = acl.headers(user)
        listed = {row["id"] for row in client.get("/api/v1/data/deal?limit=200", headers=headers).json["data"]}
        for record in deals:
            outcome = expected(acl, user, record, "read")
            got = client.get(f"/api/v1/data/deal/{record.id}", headers=headers)
            assert got.status_code == _status_for(outcome, 200), (user, record.name, condition)
            assert (record.id in listed) == (outcome == "in"), (user, record.name)
            outcome = expected(acl, user, record, "update")
            patched = client.patch(f"/api/v1/data/deal/{record.id}", json={"note": "c"}, headers=headers)
            assert patched.status_code == _status_for(outcome, 200), (user, record.name, condition)
            outcome = expected(acl, user, record, "delete")
            deleted = client.delete(f"/api/v1/data/deal/{record.id}", headers=headers)
            assert deleted.status_code == _status_for(outcome, 204), (user, record.name, condition)
            if deleted.status_code == 204:
                system.restore("deal", record.id)
