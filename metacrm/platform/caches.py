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


class CacheSlot(Generic[T]):
    """The key of one value in :class:`InstanceCaches`; its type parameter
    is the type of the value. Compared by identity: declare each slot once,
    at module level, beside the code that builds its value."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return f"CacheSlot({self.name!r})"


class InstanceCaches:
    """The instance's derived values, one per :class:`CacheSlot`."""

    def __init__(self) -> None:
        self._values: dict[CacheSlot, Any] = {}
        self._lock = threading.RLock()

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

    def __getitem__(self, slot: CacheSlot[T]) -> T:
        return self._values[slot]

    def discard(self, slot: CacheSlot) -> None:
        """Forget the value in ``slot`` (the next use builds it again), e.g.
        after a plugin was registered that changes what it would hold."""
        with self._lock:
            self._values.pop(slot, None)


class Memo:
    """Values built once per key and kept as long as the memo's owner, or,
    with ``max_size``, the ``max_size`` most recently used ones."""

    def __init__(self, max_size: int | None = None) -> None:
        self._values: OrderedDict[Hashable, Any] = OrderedDict()
        self._max_size = max_size
        self._lock = threading.Lock()

    def __call__(self, key: Hashable, build: Callable[[], T]) -> T:
        """The value for ``key``, built by ``build()`` on first use. A build
        that raises stores nothing."""
        with self._lock:
            if key in self._values:
                if self._max_size is not None:
                    self._values.move_to_end(key)
                return self._values[key]
        value = build()
        with self._lock:
            value = self._values.setdefault(key, value)
            if self._max_size is not None:
                self._values.move_to_end(key)
                while len(self._values) > self._max_size:
                    self._values.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._values)
