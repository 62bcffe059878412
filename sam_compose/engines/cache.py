"""A thread-safe, byte-bounded LRU cache of image embeddings.

Keyed by (engine key, image content hash). One cache belongs to one engine instance and
is shared by every node and adapter that uses that engine.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from typing import Callable

from ..types import ImageEmbedding

DEFAULT_CACHE_BYTES = 2 * 1024**3
"""2 GiB; override with ``SAM_COMPOSE_CACHE_BYTES`` or ``EmbeddingCache(max_bytes=...)``."""


def default_cache_bytes() -> int:
    raw = os.environ.get("SAM_COMPOSE_CACHE_BYTES")
    if raw:
        try:
            return max(0, int(raw))
        except ValueError:
            pass
    return DEFAULT_CACHE_BYTES


class EmbeddingCache:
    """LRU over embeddings with a total byte budget (``max_bytes``; 0 disables caching).

    ``get_or_compute`` computes an embedding at most once per key even when several threads
    ask for the same image at the same time.
    """

    def __init__(self, max_bytes: int | None = None) -> None:
        self.max_bytes = default_cache_bytes() if max_bytes is None else int(max_bytes)
        self._items: OrderedDict[tuple[str, str], ImageEmbedding] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._inflight: dict[tuple[str, str], threading.Event] = {}
        self.hits = 0
        self.misses = 0

    @property
    def nbytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0

    def get(self, key: tuple[str, str]) -> ImageEmbedding | None:
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                self._items.move_to_end(key)
            return item

    def discard(self, key: tuple[str, str]) -> bool:
        """Forget one entry (e.g. a video frame seen once); returns whether it was cached."""
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= int(old.nbytes)
            return old is not None

    def put(self, key: tuple[str, str], value: ImageEmbedding) -> None:
        with self._lock:
            self._put_locked(key, value)

    def _put_locked(self, key: tuple[str, str], value: ImageEmbedding) -> None:
        size = int(value.nbytes)
        if size > self.max_bytes:
            return
        old = self._items.pop(key, None)
        if old is not None:
            self._bytes -= int(old.nbytes)
        self._items[key] = value
        self._bytes += size
        while self._bytes > self.max_bytes and self._items:
            _, evicted = self._items.popitem(last=False)
            self._bytes -= int(evicted.nbytes)

    def _hit_locked(self, key: tuple[str, str]) -> ImageEmbedding | None:
        item = self._items.get(key)
        if item is not None:
            self._items.move_to_end(key)
            self.hits += 1
        return item

    def get_or_compute(self, key: tuple[str, str], compute: Callable[[], ImageEmbedding]) -> tuple[ImageEmbedding, bool]:
        """Return ``(embedding, was_cached)``, computing it once if absent."""
        owned: threading.Event | None = None
        while True:
            with self._lock:
                item = self._hit_locked(key)
                if item is not None:
                    return item, True
                event = self._inflight.get(key)
                if event is None:
                    owned = event = threading.Event()
                    self._inflight[key] = event
                    break
            event.wait()  # another thread is computing the same embedding
            with self._lock:
                item = self._hit_locked(key)
                if item is not None:
                    return item, True
            # the other computation failed or could not be cached: compute it ourselves
            if self.max_bytes <= 0:
                break  # nothing can be cached: compute without claiming the key
        try:
            value = compute()
            with self._lock:
                self.misses += 1
                self._put_locked(key, value)
            return value, False
        finally:
            if owned is not None:
                # release only our own claim, never another thread's in-flight event
                with self._lock:
                    if self._inflight.get(key) is owned:
                        del self._inflight[key]
                owned.set()
