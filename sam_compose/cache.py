"""One thread-safe, byte-bounded LRU cache, used for image embeddings and graph results.

``BoundedCache.get_or_compute(key, compute)`` computes each key at most once even when
several threads ask for it at the same time: the first caller computes, the others wait
for it. When the computation fails, the waiters get the same exception instead of each
computing again (a failure is never stored, so a later call tries afresh).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

__all__ = ["BoundedCache", "bytes_from_env"]


def bytes_from_env(variable: str, default: int) -> int:
    """A byte budget from the environment variable ``variable`` (an integer), else ``default``."""
    raw = os.environ.get(variable)
    if raw:
        try:
            return max(0, int(raw))
        except ValueError:
            pass
    return default


class _InFlight:
    """One computation in progress: waiters block on ``done`` and then read ``error``."""

    __slots__ = ("done", "error")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.error: BaseException | None = None


class BoundedCache(Generic[K, V]):
    """LRU over values with a total byte budget ``max_bytes`` (0 disables storing).

    ``size_of(value)`` gives a value's bytes; a value larger than the budget is not stored.
    ``hits`` and ``misses`` count :meth:`get_or_compute` outcomes.
    """

    def __init__(self, max_bytes: int, size_of: Callable[[V], int]) -> None:
        self.max_bytes = int(max_bytes)
        self._size_of = size_of
        self._items: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._inflight: dict[K, _InFlight] = {}
        self.hits = 0
        self.misses = 0

    # ------------------------------------------------------------------ reading
    @property
    def nbytes(self) -> int:
        """Bytes held now."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def get(self, key: K) -> V | None:
        """The value for ``key`` (marked most recently used), or None."""
        with self._lock:
            return self._lookup_locked(key)

    def _lookup_locked(self, key: K) -> V | None:
        item = self._items.get(key)
        if item is None:
            return None
        self._items.move_to_end(key)
        return item[0]

    # ------------------------------------------------------------------ writing
    def put(self, key: K, value: V) -> None:
        size = int(self._size_of(value))
        with self._lock:
            self._put_locked(key, value, size)

    def _put_locked(self, key: K, value: V, size: int) -> None:
        if size > self.max_bytes:
            return
        old = self._items.pop(key, None)
        if old is not None:
            self._bytes -= old[1]
        self._items[key] = (value, size)
        self._bytes += size
        while self._bytes > self.max_bytes and self._items:
            _, (_, evicted) = self._items.popitem(last=False)
            self._bytes -= evicted

    def discard(self, key: K) -> bool:
        """Forget one entry; returns whether it was there."""
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            return old is not None

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0

    # ------------------------------------------------------------------ computing once
    def get_or_compute(self, key: K, compute: Callable[[], V]) -> tuple[V, bool]:
        """``(value, was_cached)``: the cached value, or ``compute()`` run once for all callers.

        A caller that waited for another thread's computation gets its value (counted as a
        hit), or its exception re-raised. When storing is disabled (``max_bytes <= 0``) or the
        value is too large to store, waiters compute for themselves.
        """
        while True:
            with self._lock:
                item = self._lookup_locked(key)
                if item is not None:
                    self.hits += 1
                    return item, True
                running = self._inflight.get(key)
                if running is None:
                    mine = self._inflight[key] = _InFlight()
                    break
            running.done.wait()
            if running.error is not None:
                raise running.error
            with self._lock:
                item = self._lookup_locked(key)
                if item is not None:
                    self.hits += 1
                    return item, True
            # the value could not be stored: compute it ourselves, without claiming the key
            value = compute()
            with self._lock:
                self.misses += 1
            return value, False
        try:
            value = compute()
        except BaseException as exc:
            mine.error = exc
            raise
        else:
            size = int(self._size_of(value))
            with self._lock:
                self.misses += 1
                self._put_locked(key, value, size)
            return value, False
        finally:
            with self._lock:
                if self._inflight.get(key) is mine:
                    del self._inflight[key]
            mine.done.set()
