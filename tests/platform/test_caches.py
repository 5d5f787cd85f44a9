"""The one cache mechanism: typed slots on the instance, memos on their
owners, bounded per-tenant tables (issue 16, item 5)."""

from __future__ import annotations

import threading

import pytest

from metacrm.platform.caches import CacheSlot, InstanceCaches, LruDict, Memo
from metacrm.plugins.testing import make_config

NUMBERS: CacheSlot[list[int]] = CacheSlot("numbers")
OTHER: CacheSlot[list[int]] = CacheSlot("numbers")


def test_a_slot_is_built_once_and_kept():
    caches = InstanceCaches()
    builds = []
    first = caches.get_or_build(NUMBERS, lambda: builds.append(1) or [1])
    assert caches.get_or_build(NUMBERS, lambda: builds.append(2) or [2]) is first
    assert caches[NUMBERS] is first and builds == [1]


def test_slots_are_keys_by_identity_not_by_name():
    caches = InstanceCaches()
    caches.get_or_build(NUMBERS, lambda: [1])
    assert caches.get_or_build(OTHER, lambda: [2]) == [2]
    with pytest.raises(KeyError):
        InstanceCaches()[NUMBERS]


def test_a_discarded_slot_is_built_again():
    caches = InstanceCaches()
    caches.get_or_build(NUMBERS, lambda: [1])
    caches.discard(NUMBERS)
    caches.discard(NUMBERS)
    assert caches.get_or_build(NUMBERS, lambda: [2]) == [2]


def test_a_build_may_ask_for_another_slot():
    caches = InstanceCaches()
    assert caches.get_or_build(NUMBERS, lambda: caches.get_or_build(OTHER, lambda: [3]) + [4]) == [3, 4]


def test_racing_threads_see_one_instance_value():
    caches = InstanceCaches()
    builds = []
    start = threading.Barrier(8)
    seen = []

    def worker():
        start.wait()
        seen.append(caches.get_or_build(NUMBERS, lambda: builds.append(1) or [len(builds)]))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert builds == [1] and all(value is seen[0] for value in seen)


def test_a_memo_builds_once_per_key_and_stores_no_failure():
    memo = Memo()
    assert memo(("a",), lambda: 1) == 1
    assert memo(("a",), lambda: 2) == 1

    def failing():
        raise ValueError("no")

    with pytest.raises(ValueError):
        memo(("b",), failing)
    assert memo(("b",), lambda: 3) == 3 and len(memo) == 2


def test_a_bounded_memo_drops_the_least_recently_used():
    memo = Memo(max_size=2)
    memo("a", lambda: 1)
    memo("b", lambda: 2)
    memo("a", lambda: 0)  # "a" is now the most recent
    memo("c", lambda: 3)
    assert memo("a", lambda: 9) == 1 and memo("b", lambda: 9) == 9 and len(memo) == 2


def test_the_instance_and_its_models_use_them(instance, world):
    from metacrm.metadata.model import FIELD_TYPES, field_types, model_for

    assert field_types(instance) is instance.caches[FIELD_TYPES]
    model = model_for(instance, instance.db.bind("acme"))
    assert model.memo(("test",), lambda: "x") == "x"


# -- the bounded table: LruDict ------------------------------------------------------------


def test_an_lru_dict_drops_the_least_recently_used_and_reports_it():
    dropped = []
    lru = LruDict(2, on_evict=lambda key, value: dropped.append((key, value)))
    lru["a"] = 1
    lru["b"] = 2
    assert lru.get("a") == 1  # a read makes "a" the most recent
    lru["c"] = 3
    assert dropped == [("b", 2)] and "b" not in lru and len(lru) == 2
    assert lru["a"] == 1 and lru.get("b") is None and lru.get("b", 0) == 0
    with pytest.raises(KeyError):
        lru["b"]
    assert lru.pop("a") == 1 and lru.pop("a") is None and len(lru) == 1
    lru["c"] = 4  # writing a key again replaces it and evicts nothing
    assert lru.values() == [4] and dropped == [("b", 2)]


def test_an_unbounded_lru_dict_keeps_everything_and_a_bound_is_at_least_one():
    lru = LruDict()
    for i in range(1000):
        lru[i] = i
    assert len(lru) == 1000
    with pytest.raises(ValueError):
        LruDict(0)


def test_racing_threads_get_one_value_per_key_and_the_bound_holds():
    lru = LruDict(5)
    start = threading.Barrier(16)
    seen: dict[int, list] = {key: [] for key in range(4)}
    builds = []

    def worker(n):
        start.wait()
        for round_ in range(200):
            key = (n + round_) % 4
            seen[key].append(lru.get_or_build(key, lambda key=key: builds.append(key) or [key]))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Four keys fit the bound: whatever raced, every caller got the first value stored.
    assert all(all(value is values[0] for value in values) for values in seen.values())
    assert len(lru) == 4

    many = LruDict(3)
    start = threading.Barrier(8)

    def filler(n):
        start.wait()
        for key in range(n * 100, n * 100 + 100):
            assert many.get_or_build(key, lambda key=key: key) == key

    threads = [threading.Thread(target=filler, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(many) == 3


def test_per_tenant_tables_share_the_instance_bound():
    caches = InstanceCaches(tenant_cache_size=3)
    table = caches.per_tenant(NUMBERS)
    assert caches.per_tenant(NUMBERS) is table and table.max_size == 3
    for slug in "abcde":
        table(slug, lambda slug=slug: slug.upper())
    assert len(table) == 3 and table("e", lambda: "?") == "E" and table("a", lambda: "again") == "again"


# -- a worker serving more tenants than the bound ------------------------------------------


@pytest.fixture
def config(tmp_path, backend) -> dict:
    return make_config(tmp_path, backend, TENANT_CACHE_SIZE=2)


def test_more_tenants_than_the_bound_keep_the_caches_at_the_bound_and_answer_right(instance, client):
    from metacrm.access.policy import POLICIES
    from metacrm.metadata.model import MODELS
    from metacrm.platform import identity as identities
    from metacrm.platform import tenancy
    from metacrm.platform.settings import SETTINGS_BY_VERSION

    bearers = {}
    for n, slug in enumerate(("ta", "tb", "tc", "td")):
        tenancy.create_tenant(instance, slug, slug.upper())
        user_id = identities.create_user(
            instance, tenant=slug, email=f"admin@{slug}.test", password="pw-" + slug * 6, is_admin=True, role="admin"
        )
        token = identities.create_token(instance, identities.identity_for(instance, user_id, slug), "test")[1]
        bearers[slug] = {"Authorization": f"Bearer {token}"}
        # Each tenant has an object of its own, with n records.
        body = {"api_name": f"thing_{slug}", "label": f"Thing {slug}", "fields": []}
        assert client.post("/api/v1/meta/objects", json=body, headers=bearers[slug]).status_code == 201
        for i in range(n):
            made = client.post(f"/api/v1/data/thing_{slug}", json={"name": f"{slug}{i}"}, headers=bearers[slug])
            assert made.status_code == 201, made.json

    def answers(slug: str) -> list[str]:
        response = client.get(f"/api/v1/data/thing_{slug}", headers=bearers[slug])
        assert response.status_code == 200, response.json
        return sorted(row["name"] for row in response.json["data"])

    for _ in range(2):  # round two: every tenant's values were dropped and are rebuilt
        for n, slug in enumerate(("ta", "tb", "tc", "td")):
            assert answers(slug) == [f"{slug}{i}" for i in range(n)]
            assert client.get("/api/v1/data/thing_ta", headers=bearers[slug]).status_code == 404 or slug == "ta"
    caches = instance.caches
    assert len(caches[MODELS]) == 2 and len(caches[POLICIES]) <= 2
    if SETTINGS_BY_VERSION in caches._values:
        assert len(caches[SETTINGS_BY_VERSION]) <= 2
    if instance.db.dialect == "sqlite":
        assert len(instance.db._tenant_engines) == 2
