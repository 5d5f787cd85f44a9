"""Many writers at once, through the whole stack (each thread its own HTTP
client): optimistic locking never loses an update, auto-numbers stay
gap-free, metadata changes are serialised into distinct revisions, and
records written while the schema changes are all kept."""

from __future__ import annotations

import threading

import pytest

from tests.metadata.conftest import column_values, snapshot

META = "/api/v1/meta"
DATA = "/api/v1/data"
THREADS = 6


def run_together(count: int, work) -> list:
    """Run ``work(i)`` in ``count`` threads started at the same moment;
    returns their results and re-raises the first failure."""
    barrier = threading.Barrier(count)
    results: list = [None] * count
    errors: list[BaseException] = []

    def main(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[i] = work(i)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            errors.append(exc)

    threads = [threading.Thread(target=main, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a worker hung"
    if errors:
        raise errors[0]
    return results


@pytest.fixture
def admin(world) -> dict:
    return world.bearer("admin@acme.test", "acme")


@pytest.fixture
def counter(client, admin) -> str:
    """Object ``counter`` with one record (n = 0); returns its URL."""
    body = {
        "api_name": "counter",
        "label": "Counter",
        "fields": [
            {"api_name": "n", "label": "N", "type": "integer", "default": 0},
            {"api_name": "code", "label": "Code", "type": "text", "unique": True},
            {"api_name": "ref", "label": "Ref", "type": "auto_number", "options": {"format": "C-{000}"}},
        ],
    }
    assert client.post(f"{META}/objects", json=body, headers=admin).status_code == 201
    record = client.post(f"{DATA}/counter", json={"name": "the counter"}, headers=admin).json
    return f"{DATA}/counter/{record['id']}"


def test_concurrent_read_modify_write_with_versions_never_loses_an_increment(app, admin, counter):
    increments = 8
    conflicts = [0] * THREADS

    def work(i: int) -> None:
        client = app.test_client()
        for _ in range(increments):
            while True:
                record = client.get(counter, headers=admin)
                assert record.status_code == 200
                n, etag = record.json["n"], record.headers["ETag"]
                response = client.patch(counter, json={"n": n + 1}, headers={**admin, "If-Match": etag})
                if response.status_code == 200:
                    break
                assert response.status_code == 409, response.json
                conflicts[i] += 1

    run_together(THREADS, work)
    final = app.test_client().get(counter, headers=admin).json
    assert final["n"] == THREADS * increments
    assert final["version"] == THREADS * increments + 1


def test_auto_numbers_are_gap_free_and_unique_under_concurrency(app, instance, admin, counter):
    per_thread = 6

    def work(i: int) -> list[str]:
        client = app.test_client()
        numbers = []
        for j in range(per_thread):
            if j % 3 == 2:
                # Fails after its number was reserved (the code repeats): the
                # number must go back, not leave a gap.
                response = client.post(f"{DATA}/counter", json={"name": "dup", "code": "same"}, headers=admin)
                assert response.status_code in (201, 409), response.json
            elif j % 3 == 1:
                response = client.post(
                    f"{DATA}/counter/bulk",
                    json={"records": [{"name": f"b{i}-{j}-{k}"} for k in range(3)]},
                    headers=admin,
                )
                assert response.status_code == 201, response.json
                numbers += [r["ref"] for r in response.json["data"]]
                continue
            else:
                response = client.post(f"{DATA}/counter", json={"name": f"t{i}-{j}"}, headers=admin)
                assert response.status_code == 201, response.json
            if response.status_code == 201:
                numbers.append(response.json["ref"])
        return numbers

    handed_out = [n for numbers in run_together(THREADS, work) for n in numbers]
    stored = sorted(column_values(instance, "counter", "ref").values())
    assert len(stored) == len(set(stored)) == 1 + THREADS * (2 + 6) + 1
    assert stored == [f"C-{n:03d}" for n in range(1, len(stored) + 1)]
    assert sorted(handed_out) == [n for n in stored if n != "C-001"]


def test_concurrent_metadata_changes_are_serialised_into_distinct_revisions(app, instance, admin, counter):
    start = snapshot(instance)["revision"]

    def work(i: int) -> int:
        client = app.test_client()
        body = {"api_name": f"extra_{i}", "label": f"Extra {i}", "type": "integer"}
        response = client.post(f"{META}/objects/counter/fields", json=body, headers=admin)
        assert response.status_code == 201, response.json
        return i

    run_together(THREADS, work)
    revisions = app.test_client().get(f"{META}/revisions", headers=admin).json["data"]
    assert [r["revision"] for r in revisions][:THREADS] == list(range(start + THREADS, start, -1))
    assert sorted(r["summary"] for r in revisions[:THREADS]) == [f"add field counter.extra_{i}" for i in range(THREADS)]
    fields = {
        f["api_name"] for f in app.test_client().get(f"{META}/objects/counter/fields", headers=admin).json["data"]
    }
    assert {f"extra_{i}" for i in range(THREADS)} <= fields


def test_records_written_while_the_schema_changes_are_all_kept(app, instance, admin, counter):
    writers, per_writer = THREADS - 1, 10

    def work(i: int) -> list[int]:
        client = app.test_client()
        if i == writers:  # the admin changing the schema meanwhile
            for k in range(4):
                field = {"api_name": f"late_{k}", "label": f"Late {k}", "type": "text"}
                assert client.post(f"{META}/objects/counter/fields", json=field, headers=admin).status_code == 201
            assert (
                client.patch(
                    f"{META}/objects/counter/fields/late_0", json={"type": "long_text"}, headers=admin
                ).status_code
                == 200
            )
            assert client.delete(f"{META}/objects/counter/fields/late_1", headers=admin).status_code == 204
            return []
        ids = []
        for j in range(per_writer):
            response = client.post(f"{DATA}/counter", json={"name": f"w{i}-{j}", "n": j}, headers=admin)
            assert response.status_code == 201, response.json
            ids.append(response.json["id"])
        return ids

    created = [record_id for ids in run_together(THREADS, work) for record_id in ids]
    names = column_values(instance, "counter", "name")
    assert len(created) == writers * per_writer
    assert {names[record_id] for record_id in created} == {
        f"w{i}-{j}" for i in range(writers) for j in range(per_writer)
    }
    assert len(names) == 1 + writers * per_writer
