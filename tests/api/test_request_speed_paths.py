"""Issue 16, items 1-2, through the API: what the speed work must not change.

* ``fields=`` narrows the SELECT but a page still sorts, pages (cursor and
  offset, the deferred join too) and hides what it hides;
* a ``where=`` shape cached with its literals bound gives each text its own
  rows, and never mixes tenants (one cache per tenant's model) or users
  (``$User`` filters are compiled per caller);
* a request reads the head revision and the caller's roles in ONE statement
  (``members.head_and_roles``): a role taken away, a field added, a member
  not provisioned yet are all seen by the very next request;
* a GET by id sends three statements on SQLite (the token, the revision
  with the roles, the record) and ONE on PostgreSQL once the worker has
  checked the token with its tenant reads: the check rides with the
  record's own SELECT (``platform.web.read_only``); a revoked token, a role
  taken away or given, a field added, a tenant that starts requiring two
  factors are all seen by the very next request, and a token refused
  reveals nothing (401 whether the record exists or not);
* a browser session folds the same reads into its session check on
  PostgreSQL (the session names its tenant), and still ends at once.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from metacrm.metadata.store import query as store_query

DATA = "/api/v1/data"
FIELDS = [
    {"api_name": "amount", "label": "Amount", "type": "integer"},
    {"api_name": "code", "label": "Code", "type": "text"},
]


def _make_deals(client, headers, rows: list[dict]) -> None:
    body = {"api_name": "deal", "label": "Deal", "fields": FIELDS}
    assert client.post("/api/v1/meta/objects", json=body, headers=headers).status_code == 201
    made = client.post(f"{DATA}/deal/bulk", json={"records": rows}, headers=headers)
    assert made.status_code == 201, made.json


@pytest.fixture
def acme(world, client) -> dict:
    admin = world.bearer("admin@acme.test", "acme")
    _make_deals(client, admin, [{"name": f"acme {i:02d}", "amount": (i * 37) % 25, "code": f"a{i}"} for i in range(40)])
    return admin


def _list(client, headers, **params) -> dict:
    response = client.get(f"{DATA}/deal", query_string=params, headers=headers)
    assert response.status_code == 200, response.json
    return response.json


def test_a_page_with_fields_still_sorts_and_pages_right(client, acme, monkeypatch):
    everything = _list(client, acme, sort="-amount,name", limit=200)["data"]
    assert len(everything) == 40
    expected = [(r["id"], r["amount"]) for r in everything]
    assert expected == sorted(
        expected, key=lambda pair: (-pair[1], next(r["name"] for r in everything if r["id"] == pair[0]))
    )
    # Cursor pages of 7 with two fields: the same order, only the asked fields (and the system ones).
    seen, cursor = [], None
    while True:
        params = {"sort": "-amount,name", "limit": 7, "fields": "amount"}
        if cursor:
            params["cursor"] = cursor
        page = _list(client, acme, **params)
        for record in page["data"]:
            assert "code" not in record and "name" not in record and record["amount"] is not None
        seen += [(r["id"], r["amount"]) for r in page["data"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == expected
    # Offsets, plain and through the deferred join (ids first, then the rows).
    plain = [r["id"] for r in _list(client, acme, sort="-amount,name", limit=5, offset=11, fields="code")["data"]]
    monkeypatch.setattr(store_query, "DEFERRED_OFFSET", 1)
    deferred = _list(client, acme, sort="-amount,name", limit=5, offset=11, fields="code")["data"]
    assert plain == [r["id"] for r in deferred] == [pair[0] for pair in expected[11:16]]
    assert all(set(r) >= {"id", "code"} and "amount" not in r for r in deferred)


def test_the_where_cache_keeps_literals_tenants_and_users_apart(client, world, acme):
    globex = world.bearer("admin@globex.test", "globex")
    _make_deals(client, globex, [{"name": f"globex {i}", "amount": 100 + i, "code": f"g{i}"} for i in range(5)])
    acme_amounts = {r["name"]: r["amount"] for r in _list(client, acme, limit=200)["data"]}

    def names(headers, where: str) -> list[str]:
        return sorted(r["name"] for r in _list(client, headers, where=where, limit=200)["data"])

    # One shape, two literals, two tenants, interleaved: each text its own rows, each tenant its own table.
    for bound in (20, 3, 102, 20):
        assert names(acme, f'amount > {bound} AND code != "zz"') == sorted(
            n for n, a in acme_amounts.items() if a > bound
        )
        assert names(globex, f'amount > {bound} AND code != "zz"') == sorted(
            f"globex {i}" for i in range(5) if 100 + i > bound
        )
    assert names(acme, 'code = "a7"') == ["acme 07"]
    assert names(acme, 'code = "g1"') == []
    assert names(globex, 'code = "g1"') == ["globex 1"]
    # A filter that reads $User is the caller's, whoever asked the same text first.
    user = world.bearer("user@acme.test", "acme")
    granted = client.put(
        f"/api/v1/access/users/{world.identity('user@acme.test', 'acme').user_id}/roles",
        json={"roles": ["read_only"]},
        headers=acme,
    )
    assert granted.status_code == 200, granted.json
    mine = 'BEGINS($User.Email, "admin@")'
    assert len(names(acme, mine)) == 40
    assert names(user, mine) == []
    assert len(names(acme, mine)) == 40
    assert names(user, 'BEGINS($User.Email, "user@")') == sorted(acme_amounts)


def test_each_request_sees_the_roles_and_the_model_of_its_own_moment(client, world, acme):
    """Roles and the revision are read in one statement per request, never
    kept between requests."""
    user_id = world.identity("user@acme.test", "acme").user_id
    user = world.bearer("user@acme.test", "acme")  # not provisioned yet: the first request provisions
    assert client.get(f"{DATA}/deal", headers=user).status_code in (200, 403)

    def assign(roles: list[str]) -> None:
        response = client.put(f"/api/v1/access/users/{user_id}/roles", json={"roles": roles}, headers=acme)
        assert response.status_code == 200, response.json

    assign(["read_only"])
    assert client.get(f"{DATA}/deal", headers=user).status_code == 200
    assign([])
    assert client.get(f"{DATA}/deal", headers=user).status_code == 403
    assign(["read_only"])
    assert client.get(f"{DATA}/deal", headers=user).status_code == 200
    # A field added by the admin is in the user's very next page.
    field = {"api_name": "region", "label": "Region", "type": "text"}
    assert client.post("/api/v1/meta/objects/deal/fields", json=field, headers=acme).status_code == 201
    assert "region" in _list(client, user, limit=1)["data"][0]


def _statements_of(instance, request) -> tuple[object, list[str]]:
    """The response of ``request()`` and the data statements it sent."""
    statements: list[str] = []
    engines = {id(e): e for e in (instance.db.engine, instance.db.tenant_engine("acme"))}.values()

    def note(conn, cursor, statement, *args):
        statements.append(statement)

    for engine in engines:
        sa.event.listen(engine, "before_cursor_execute", note)
    try:
        response = request()
    finally:
        for engine in engines:
            sa.event.remove(engine, "before_cursor_execute", note)
    return response, [s for s in statements if s.split()[0].upper() in ("SELECT", "INSERT", "UPDATE", "DELETE", "WITH")]


def test_a_get_by_id_sends_one_statement_on_postgresql_three_on_sqlite(instance, client, acme):
    record_id = _list(client, acme, limit=1)["data"][0]["id"]
    assert client.get(f"{DATA}/deal/{record_id}", headers=acme).status_code == 200  # warm the caches
    response, data = _statements_of(instance, lambda: client.get(f"{DATA}/deal/{record_id}", headers=acme))
    assert response.status_code == 200 and response.json["id"] == record_id
    assert response.json["name"] and "amount" in response.json
    if instance.db.dialect == "postgresql":
        assert len(data) == 1, data  # the record, with the token check, the head revision and the roles
        assert all(name in data[0] for name in ("o_deal", "api_tokens", "meta_head", "user_roles")), data
    else:
        assert len(data) == 3, data  # token; head revision + roles; the record
        assert "meta_head" in data[1] and "user_roles" in data[1]
    # A record that is not there: still one statement, and a 404.
    missing, data = _statements_of(instance, lambda: client.get(f"{DATA}/deal/999999", headers=acme))
    assert missing.status_code == 404
    if instance.db.dialect == "postgresql":
        assert len(data) == 2, data  # no row to carry the check: it runs alone after


def test_the_check_sent_with_the_read_sees_every_change_at_once(client, world, acme):
    """What the worker assumed about a token is confirmed by the record's
    own statement; anything changed answers the request again, fresh."""
    from metacrm.platform import identity as identities

    record_id = _list(client, acme, limit=1)["data"][0]["id"]
    user_id = world.identity("user@acme.test", "acme").user_id
    user = world.bearer("user@acme.test", "acme")

    def assign(roles: list[str]) -> None:
        response = client.put(f"/api/v1/access/users/{user_id}/roles", json={"roles": roles}, headers=acme)
        assert response.status_code == 200, response.json

    def get(headers=user, record=record_id):
        return client.get(f"{DATA}/deal/{record}", headers=headers)

    assign(["read_only"])
    for _ in range(3):  # the worker learns the token, then assumes it
        assert get().status_code == 200
    assign([])
    assert get().status_code == 403
    assign(["read_only"])
    assert get().status_code == 200 and get().status_code == 200
    # A field the admin adds is in the next answer.
    field = {"api_name": "region", "label": "Region", "type": "text"}
    assert client.post("/api/v1/meta/objects/deal/fields", json=field, headers=acme).status_code == 201
    assert "region" in get().json
    # A tenant that starts requiring two factors of the user's role.
    assert get(acme).status_code == 200 and get(acme).status_code == 200
    required = client.patch("/api/v1/auth/settings", json={"two_factor_roles": ["admin"]}, headers=acme)
    assert required.status_code == 200
    blocked = get(acme)
    assert blocked.status_code == 403 and blocked.json["error"]["code"] == "two_factor_required"
    # The admin's token, refused before any view while two factors are pending, is revoked: 401.
    admin = world.identity("admin@acme.test", "acme")
    identities.revoke_token(world.instance, admin, identities.list_tokens(world.instance, admin)[-1]["id"])
    assert get(acme).status_code == 401
    # A revoked token: 401, for a record that exists and for one that does not.
    assert get().status_code == 200
    identity = world.identity("user@acme.test", "acme")
    identities.revoke_token(world.instance, identity, identities.list_tokens(world.instance, identity)[-1]["id"])
    for record in (record_id, 999999):
        refused = get(record=record)
        assert refused.status_code == 401, refused.json
        assert "acme" not in refused.get_data(as_text=True)
    # Nor does an error the view finds before its first read (no such object, no such field).
    early = (
        f"{DATA}/nothing/{record_id}",
        f"{DATA}/deal/{record_id}?fields=nothing",
        f"{DATA}/deal?where=nothing",
        f"{DATA}/deal/{record_id}?fields=%00",
    )
    for path in early:
        assert client.get(path, headers=user).status_code == 401, path


def test_the_folded_token_check_still_refuses_a_revoked_token_and_keeps_tenants_apart(client, world, acme):
    from metacrm.platform import identity as identities

    globex = world.bearer("admin@globex.test", "globex")
    _make_deals(client, globex, [{"name": "globex only", "amount": 1}])
    for _ in range(2):  # the second request of each token takes the folded path on PostgreSQL
        assert {r["name"] for r in _list(client, globex, limit=200)["data"]} == {"globex only"}
        assert len(_list(client, acme, limit=200)["data"]) == 40
    user = world.bearer("user@acme.test", "acme")
    assert client.get(f"{DATA}/deal", headers=user).status_code in (200, 403)
    identity = world.identity("user@acme.test", "acme")
    token_id = identities.list_tokens(world.instance, identity)[-1]["id"]
    identities.revoke_token(world.instance, identity, token_id)
    assert client.get(f"{DATA}/deal", headers=user).status_code == 401


def test_a_browser_session_reads_its_identity_revision_and_roles_in_one_statement_on_postgresql(instance, app, acme):
    """The session path folds like the token path (the session names its
    tenant): on PostgreSQL the session check carries the head revision and
    the roles; signing out everywhere still ends the session at once."""
    from metacrm.platform import identity as identities
    from tests.conftest import PASSWORD

    browser = app.test_client()
    page = browser.get("/login").get_data(as_text=True)
    csrf = page.split('name="csrf_token" value="')[1].split('"')[0]
    signed_in = browser.post(
        "/login", data={"email": "admin@acme.test", "password": PASSWORD, "tenant": "acme", "csrf_token": csrf}
    )
    assert signed_in.status_code == 302
    assert browser.get("/o/deal").status_code == 200  # warm the caches
    statements: list[str] = []
    engines = {id(e): e for e in (instance.db.engine, instance.db.tenant_engine("acme"))}.values()

    def note(conn, cursor, statement, *args):
        statements.append(statement)

    for engine in engines:
        sa.event.listen(engine, "before_cursor_execute", note)
    try:
        response = browser.get("/o/deal")
    finally:
        for engine in engines:
            sa.event.remove(engine, "before_cursor_execute", note)
    assert response.status_code == 200 and "acme 00" in response.get_data(as_text=True)
    data = [s for s in statements if s.split()[0].upper() in ("SELECT", "WITH")]
    first = data[0]
    assert "memberships" in first
    if instance.db.dialect == "postgresql":
        assert "meta_head" in first and "user_roles" in first, data
    else:
        assert "meta_head" not in first and any("meta_head" in s for s in data[1:])
    identities.sign_out_everywhere(instance, identities.user_id_of(instance, "admin@acme.test"))
    assert browser.get("/o/deal").status_code in (302, 401)
