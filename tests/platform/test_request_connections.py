"""One connection per request (issue 16, item 2): the token check, the
revision check, the roles and the work share one checkout per engine; a
failing request leaves no connection checked out or in a transaction; a
request never reaches another tenant through the shared connection; a
dropped connection is retried once instead of pinging every checkout; a
request's deferred identity check runs before any statement, once, and a
failure it finds is raised again at every later block."""

from __future__ import annotations

import contextlib

import pytest
import sqlalchemy as sa

from metacrm.platform.errors import Conflict, Unauthenticated
from tests.metadata.conftest import AcmeWorld

DATA = "/api/v1/data"


@pytest.fixture
def world(instance, app):
    return AcmeWorld(instance, app)


@pytest.fixture
def admin(world) -> dict:
    return world.bearer("admin@acme.test", "acme")


@pytest.fixture
def record(client, admin) -> int:
    body = {"api_name": "thing", "label": "Thing", "fields": []}
    assert client.post("/api/v1/meta/objects", json=body, headers=admin).status_code == 201
    made = client.post(f"{DATA}/thing", json={"name": "first"}, headers=admin)
    assert made.status_code == 201, made.json
    return made.json["id"]


def engines(instance, slug: str = "acme") -> list[sa.engine.Engine]:
    return list({id(e): e for e in (instance.db.engine, instance.db.tenant_engine(slug))}.values())


def count_checkouts(instance) -> list:
    seen: list = []
    for engine in engines(instance):
        sa.event.listen(engine, "checkout", lambda *args, engine=engine: seen.append(engine))
    return seen


def checked_out(instance) -> int:
    return sum(engine.pool.checkedout() for engine in engines(instance))


def test_a_get_by_id_checks_out_one_connection_per_engine(instance, client, admin, record):
    assert client.get(f"{DATA}/thing/{record}", headers=admin).status_code == 200  # warm the caches
    seen = count_checkouts(instance)
    response = client.get(f"{DATA}/thing/{record}", headers=admin)
    assert response.status_code == 200 and response.json["name"] == "first"
    # token, revision, roles and the record: PostgreSQL has one engine, SQLite one per file.
    assert len(seen) == len(engines(instance))
    seen.clear()
    assert client.patch(f"{DATA}/thing/{record}", json={"name": "second", "version": 1}, headers=admin).status_code
    assert len(seen) == len(engines(instance))
    assert checked_out(instance) == 0


def test_a_failing_request_leaves_no_connection_checked_out_or_in_a_transaction(
    instance, app, client, admin, record, monkeypatch
):
    from metacrm.metadata.store import RecordStore

    def fail_inside_the_transaction(self, *args, **kwargs):
        with self.binding.begin() as conn:
            conn.execute(sa.text("SELECT 1"))
            raise Conflict("planned failure")

    monkeypatch.setattr(RecordStore, "update", fail_inside_the_transaction)
    response = client.patch(f"{DATA}/thing/{record}", json={"name": "x", "version": 1}, headers=admin)
    assert response.status_code == 409
    assert checked_out(instance) == 0
    monkeypatch.undo()
    # The pool's connections are clean: the next request reads and writes normally.
    assert client.patch(f"{DATA}/thing/{record}", json={"name": "y", "version": 1}, headers=admin).status_code == 200
    assert client.get(f"{DATA}/thing/{record}", headers=admin).json["name"] == "y"


def test_the_shared_connection_serves_one_tenant_only(instance, world):
    """Inside one request scope, a second tenant gets a connection of its
    own: its tables are never read through the first tenant's schema map."""
    from metacrm.metadata.tables import meta_head
    from metacrm.platform import tenancy

    tenancy.create_tenant(instance, "globex", "Globex")
    acme, globex = instance.db.bind("acme"), instance.db.bind("globex")
    with acme.begin() as conn:
        conn.execute(meta_head.update().values(revision=41))
    with globex.begin() as conn:
        conn.execute(meta_head.update().values(revision=42))
    token = instance.db.open_request()
    try:
        with acme.connect() as a:
            assert a.execute(sa.select(meta_head.c.revision)).scalar() == 41
            with globex.connect() as g:
                assert g is not a or instance.db.dialect == "sqlite"
                assert g.execute(sa.select(meta_head.c.revision)).scalar() == 42
            assert a.execute(sa.select(meta_head.c.revision)).scalar() == 41
        with globex.connect() as g:
            assert g.execute(sa.select(meta_head.c.revision)).scalar() == 42
        with acme.connect() as a:
            assert a.execute(sa.select(meta_head.c.revision)).scalar() == 41
    finally:
        instance.db.close_request(token)
    assert checked_out(instance) == 0


def test_reads_and_writes_share_the_request_connection_and_nesting_stays_safe(instance, world):
    from metacrm.metadata.tables import meta_head

    acme = instance.db.bind("acme")
    token = instance.db.open_request()
    try:
        with acme.connect() as first:
            before = first.execute(sa.select(meta_head.c.revision)).scalar()
        with acme.begin() as writer:
            assert writer is first  # the read transaction ended, the write began on the same connection
            writer.execute(meta_head.update().values(revision=before + 1))
            with acme.connect() as inside:  # a read inside the write: a connection of its own
                assert inside is not writer
        with acme.connect() as again:
            assert again is first
            assert again.execute(sa.select(meta_head.c.revision)).scalar() == before + 1
            with acme.begin() as nested:  # a write inside an open read: its own transaction
                assert nested is not again
                nested.execute(meta_head.update().values(revision=before + 2))
        with acme.connect() as last:
            assert last.execute(sa.select(meta_head.c.revision)).scalar() == before + 2
    finally:
        instance.db.close_request(token)
    assert checked_out(instance) == 0


def test_a_dropped_connection_is_retried_once(instance, client, admin, record, caplog):
    if instance.db.dialect != "postgresql":
        pytest.skip("a server that drops connections: PostgreSQL")
    assert client.get(f"{DATA}/thing/{record}", headers=admin).status_code == 200
    # The pool holds exactly one idle connection; another session kills its backend.
    instance.db.engine.dispose()
    with instance.db.engine.connect() as conn:
        pid = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar()
    killer = sa.create_engine(instance.db.engine.url, poolclass=sa.pool.NullPool)
    with killer.connect() as conn:
        conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    killer.dispose()
    response = client.get(f"{DATA}/thing/{record}", headers=admin)
    assert response.status_code == 200, response.json
    assert response.json["name"] == "first"
    assert "retrying once" in caplog.text


def test_a_write_on_the_shared_connection_is_all_or_nothing(instance, world):
    """The shared connection reads in autocommit on PostgreSQL; a write block
    is still one transaction, rolled back whole on an error."""
    from metacrm.metadata.tables import meta_head

    acme = instance.db.bind("acme")
    token = instance.db.open_request()
    try:
        with acme.connect() as conn:
            before = conn.execute(sa.select(meta_head.c.revision)).scalar()
        with pytest.raises(RuntimeError), acme.begin() as conn:
            conn.execute(meta_head.update().values(revision=before + 7))
            raise RuntimeError("planned")
        with acme.connect() as conn:
            assert conn.execute(sa.select(meta_head.c.revision)).scalar() == before
        with acme.begin() as conn:
            conn.execute(meta_head.update().values(revision=before + 8))
        with acme.connect() as conn:
            assert conn.execute(sa.select(meta_head.c.revision)).scalar() == before + 8
    finally:
        instance.db.close_request(token)
    with acme.connect() as conn:  # outside the request: committed for everyone
        assert conn.execute(sa.select(meta_head.c.revision)).scalar() == before + 8


class _Check:
    """A deferred request check (``database.RequestCheck``) that counts its
    runs and fails, when told to, with what a revoked token raises."""

    def __init__(self, fails: bool):
        self.fails, self.runs, self.done = fails, 0, False

    def pending(self) -> bool:
        return not self.done

    def ensure(self) -> None:
        if not self.done:
            self.runs += 1
            self.done = True
        if self.fails:
            raise Unauthenticated("the API token is invalid or revoked")

    def fold_into(self, conn, statement, params=None):
        self.runs += 1
        self.done = True
        rows = conn.execute(statement, params or {}).all()
        self.ensure()
        return rows


@pytest.mark.parametrize("fails", [False, True])
def test_a_deferred_check_runs_before_any_statement_and_its_failure_sticks(instance, world, fails):
    """The request's deferred check (``platform.web.read_only``) runs before
    the first block of any kind, once; a failure is raised again at every
    later block and at the end, so code that swallows it cannot go on."""
    from metacrm.metadata.tables import meta_head
    from metacrm.platform.database import defer_request_check, ensure_request_check, request_check_to_fold

    acme = instance.db.bind("acme")
    token = instance.db.open_request()
    try:
        check = _Check(fails)
        defer_request_check(check)
        for _ in range(2):
            try:
                with acme.connect() as conn:
                    assert conn.execute(sa.select(meta_head.c.revision)).scalar() is not None
                assert not fails
            except Unauthenticated:
                assert fails
            assert check.runs == 1
        with pytest.raises(Unauthenticated) if fails else contextlib.nullcontext():
            ensure_request_check()
        # Once it has run, there is nothing left to carry.
        with request_check_to_fold() as carried:
            assert carried is None
        # A fresh check carried by a read: the read's block does not run it again.
        folded = _Check(fails)
        defer_request_check(folded)
        refused = pytest.raises(Unauthenticated) if fails else contextlib.nullcontext()
        with refused, request_check_to_fold() as carried, acme.connect() as conn:
            assert carried is folded
            rows = carried.fold_into(conn, sa.select(meta_head.c.revision))
            assert len(rows) == 1
        assert folded.runs == 1
    finally:
        instance.db.close_request(token)
    assert checked_out(instance) == 0
