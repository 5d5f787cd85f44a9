"""The one cache mechanism: typed slots on the instance, memos on their owners."""

from __future__ import annotations

import threading

import pytest

from metacrm.platform.caches import CacheSlot, InstanceCaches, Memo

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
