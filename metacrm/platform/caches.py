"""The one cache mechanism: typed slots on the instance, and memos on the
objects whose lifetime a cached value shares.

Two places hold derived values, and nothing else does:

- :class:`InstanceCaches` (``instance.caches``) holds what lives as long as
  the instance: the field-type registry, the compiled models, the job
  queue, the compiled policies. Each value sits in a :class:`CacheSlot`
  declared next to the code that builds it, so its type is known where it
  is read::

      FIELD_TYPES: CacheSlot[FieldTypeRegistry] = CacheSlot("field_types")
      registry = instance.caches.get_or_build(FIELD_TYPES, build)

- :class:`Memo` holds what lives as long as one object: a compiled model's
  rules and filters, a compiled policy's answers per set of roles. The
  object owns its memo (``model.memo``, ``policy.memo``) and the values go
  with it, so no module keeps a table keyed by ``id(...)``.

- :class:`LruDict` is the one bounded table: the ``max_size`` most
  recently used entries, the least recently used dropped first. A
  :class:`Memo` is an ``LruDict`` called with a key and a builder. Every
  value kept PER TENANT (compiled models and policies, settings, the SQLite
  engines) sits in one, so a worker's memory is flat in the number of
  tenants it has served (issue 16, item 5): ``instance.caches.per_tenant(slot)``
  gives the slot's table bounded by the ``TENANT_CACHE_SIZE`` setting
  (default 200). A tenant that was dropped is rebuilt on its next request,
  as after a restart: one revision read and a compile (docs/scaling.md).

Both are safe to share between threads. The instance's values are built
once, under its lock (there are few, built at start-up); a memo builds a
missing value outside its lock (building may read the database) and keeps
the first value stored when two threads race, so every caller sees one
value per key.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

# Tenants whose derived values a worker keeps (``TENANT_CACHE_SIZE``).
DEFAULT_TENANT_CACHE_SIZE = 200


class CacheSlot(Generic[T]):
    """The key of one value in :class:`InstanceCaches`; its type parameter
    is the type of the value. Compared by identity: declare each slot once,
    at module level, beside the code that builds its value."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return f"CacheSlot({self.name!r})"


class LruDict(Generic[K, V]):
    """A thread-safe mapping that keeps, with ``max_size``, only the
    ``max_size`` most recently used entries (read or written); None: all.
    ``on_evict(key, value)`` is called, outside the lock, for each entry
    dropped to make room (e.g. to close an engine)."""

    def __init__(self, max_size: int | None = None, on_evict: Callable[[K, V], None] | None = None) -> None:
        if max_size is not None and max_size < 1:
            raise ValueError(f"an LruDict keeps at least one entry, not {max_size}")
        self._values: OrderedDict[K, V] = OrderedDict()
        self.max_size = max_size
        self._on_evict = on_evict
        self._lock = threading.Lock()

    def get(self, key: K, default: Any = None) -> Any:
        with self._lock:
            try:
                value = self._values[key]
            except KeyError:
                return default
            if self.max_size is not None:
                self._values.move_to_end(key)
            return value

    def __getitem__(self, key: K) -> V:
        missing = object()
        value = self.get(key, missing)
        if value is missing:
            raise KeyError(key)
        return value

    def __setitem__(self, key: K, value: V) -> None:
        with self._lock:
            self._values[key] = value
            evicted = self._trim(key)
        self._evicted(evicted)

    def __contains__(self, key: object) -> bool:
        return key in self._values

    def __len__(self) -> int:
        return len(self._values)

    def pop(self, key: K, default: Any = None) -> Any:
        with self._lock:
            return self._values.pop(key, default)

    def clear(self) -> None:
        with self._lock:
            self._values.clear()

    def values(self) -> list[V]:
        """A snapshot of the values, least recently used first."""
        with self._lock:
            return list(self._values.values())

    def get_or_build(self, key: K, build: Callable[[], V]) -> V:
        """The value for ``key``, built by ``build()`` when missing. The build
        runs outside the lock (it may read the database); when two threads
        race, the first value stored is kept and returned to both. A build
        that raises stores nothing."""
        missing = object()
        value = self.get(key, missing)
        if value is not missing:
            return value
        value = build()
        with self._lock:
            value = self._values.setdefault(key, value)
            evicted = self._trim(key)
        self._evicted(evicted)
        return value

    def _trim(self, key: K) -> list[tuple[K, V]]:
        evicted = []
        if self.max_size is not None:
            self._values.move_to_end(key)
            while len(self._values) > self.max_size:
                evicted.append(self._values.popitem(last=False))
        return evicted

    def _evicted(self, evicted: list[tuple[K, V]]) -> None:
        if self._on_evict is not None:
            for key, value in evicted:
                self._on_evict(key, value)


class Memo(LruDict[Hashable, Any]):
    """Values built once per key and kept as long as the memo's owner, or,
    with ``max_size``, the ``max_size`` most recently used ones."""

    def __call__(self, key: Hashable, build: Callable[[], T]) -> T:
        """The value for ``key``, built by ``build()`` on first use. A build
        that raises stores nothing."""
        return self.get_or_build(key, build)


class InstanceCaches:
    """The instance's derived values, one per :class:`CacheSlot`.
    ``tenant_cache_size``: the bound of every per-tenant table
    (:meth:`per_tenant`)."""

    def __init__(self, tenant_cache_size: int | None = DEFAULT_TENANT_CACHE_SIZE) -> None:
        self._values: dict[CacheSlot, Any] = {}
        self._lock = threading.RLock()
        self.tenant_cache_size = tenant_cache_size

    def get_or_build(self, slot: CacheSlot[T], build: Callable[[], T]) -> T:
        """The value in ``slot``, built by ``build()`` on first use."""
        try:
            return self._values[slot]
        except KeyError:
            pass
        with self._lock:  # re-entrant: one value's build may ask for another
            if slot not in self._values:
                self._values[slot] = build()
            return self._values[slot]

    def per_tenant(self, slot: CacheSlot[Memo], on_evict: Callable[[Any, Any], None] | None = None) -> Memo:
        """The slot's table of per-tenant values (keyed by the tenant, or by
        something that names one tenant): the ``tenant_cache_size`` most
        recently used entries, so a worker serving any number of tenants
        holds at most that many. ``on_evict(key, value)``: see
        :class:`LruDict` (the first call's is kept)."""
        return self.get_or_build(slot, lambda: Memo(self.tenant_cache_size, on_evict))

    def __getitem__(self, slot: CacheSlot[T]) -> T:
        return self._values[slot]

    def discard(self, slot: CacheSlot) -> None:
        """Forget the value in ``slot`` (the next use builds it again), e.g.
        after a plugin was registered that changes what it would hold."""
        with self._lock:
            self._values.pop(slot, None)
