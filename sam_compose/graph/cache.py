"""The in-process result cache of graph runs.

A node's result is keyed by (node type, params, the node's own ``cache_key(params)``,
and the keys of its inputs). Input keys are the keys of the upstream results (a Merkle
chain), or content hashes for values fed from outside, so rebuilding a graph with one
downstream param changed finds every upstream result again, across graphs and runs.
Values without a reliable content hash (arbitrary objects fed in) make the key ``None``:
that node and everything downstream is simply not cached.

The cache is a thread-safe LRU bounded in bytes (``SAM_COMPOSE_GRAPH_CACHE_BYTES``,
default 1 GiB). Concurrent runs asking for the same key compute it once.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections import OrderedDict
from typing import Any, Callable

import numpy as np

DEFAULT_MAX_BYTES = 1024**3


def _hash(*parts: bytes) -> str:
    h = hashlib.blake2b(digest_size=16)
    for p in parts:
        h.update(len(p).to_bytes(8, "little"))
        h.update(p)
    return h.hexdigest()


def fingerprint(value: Any) -> str | None:
    """A content hash of a value, or None when it has no reliable one.

    JSON values, numpy arrays (shape, dtype, bytes), Masks, Prompts and lists/dicts of
    those are hashed; anything else returns None.
    """
    from ..masks import Masks
    from ..types import Prompt

    try:
        return _hash(b"json", json.dumps(value, sort_keys=True, allow_nan=True).encode())
    except (TypeError, ValueError):
        pass
    if isinstance(value, np.ndarray):
        arr = np.ascontiguousarray(value)
        return _hash(b"nd", str(arr.shape).encode(), str(arr.dtype).encode(), arr.tobytes())
    if isinstance(value, Masks):
        logits = fingerprint(value.logits) if value.logits is not None else "none"
        ids = fingerprint(value.ids) if value.ids is not None else "none"
        # the shape is hashed too: packed bits alone are equal for e.g. empty 4x6 and 6x4 masks
        return _hash(b"masks", str(value.masks.shape).encode(), np.packbits(value.masks).tobytes(),
                     value.scores.tobytes(), value.prompt_index.tobytes(), str(logits).encode(), str(ids).encode())
    if isinstance(value, Prompt):
        mask = fingerprint(value.mask) if value.mask is not None else "none"
        return _hash(b"prompt", json.dumps(value.to_dict(), sort_keys=True, default=str).encode(), str(mask).encode())
    if isinstance(value, (list, tuple)):
        parts = [fingerprint(v) for v in value]
        return None if any(p is None for p in parts) else _hash(b"seq", *(p.encode() for p in parts))  # type: ignore[union-attr]
    if isinstance(value, dict):
        items = [(str(k), fingerprint(v)) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))]
        if any(v is None for _, v in items):
            return None
        return _hash(b"dict", *(f"{k}={v}".encode() for k, v in items))
    if isinstance(value, os.PathLike):
        return fingerprint(os.fspath(value))
    return None


def node_key(node_type: str, params: dict[str, Any], extra: Any, input_keys: dict[str, str | None]) -> str | None:
    """The cache key of one node evaluation, or None when any part is unhashable."""
    if any(k is None for k in input_keys.values()):
        return None
    p = fingerprint(params)
    e = fingerprint(extra)
    if p is None or e is None:
        return None
    wires = ",".join(f"{port}={key}" for port, key in sorted(input_keys.items()))
    return _hash(b"node", node_type.encode(), p.encode(), e.encode(), wires.encode())


def nbytes(value: Any) -> int:
    """Approximate memory held by a value (arrays and Masks counted, others 1 KiB)."""
    from ..masks import Masks

    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    if isinstance(value, Masks):
        return int(value.masks.nbytes + (value.logits.nbytes if value.logits is not None else 0)) + 1024
    if isinstance(value, (list, tuple)):
        return sum(nbytes(v) for v in value) + 64
    if isinstance(value, dict):
        return sum(nbytes(v) for v in value.values()) + 64
    return 1024


def default_max_bytes() -> int:
    raw = os.environ.get("SAM_COMPOSE_GRAPH_CACHE_BYTES")
    try:
        return max(0, int(raw)) if raw else DEFAULT_MAX_BYTES
    except ValueError:
        return DEFAULT_MAX_BYTES


class _Flight:
    """One computation in progress: waiters block on ``done`` and share its value or error."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: dict[str, Any] | None = None
        self.error: BaseException | None = None


class ResultCache:
    """Thread-safe LRU of node results ({port: value}) bounded by ``max_bytes`` (0 disables)."""

    def __init__(self, max_bytes: int | None = None) -> None:
        self.max_bytes = default_max_bytes() if max_bytes is None else int(max_bytes)
        self._items: OrderedDict[str, tuple[dict[str, Any], int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._inflight: dict[str, _Flight] = {}
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            self._items.move_to_end(key)
            return item[0]

    def put(self, key: str, outputs: dict[str, Any]) -> None:
        size = nbytes(outputs)
        with self._lock:
            if size > self.max_bytes:
                return
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            self._items[key] = (outputs, size)
            self._bytes += size
            while self._bytes > self.max_bytes and self._items:
                _, (_, s) = self._items.popitem(last=False)
                self._bytes -= s

    def get_or_compute(self, key: str, compute: Callable[[], dict[str, Any]]) -> tuple[dict[str, Any], bool]:
        """(outputs, hit): computes at most once per key even across threads.

        Threads asking for a key while it is being computed wait for that computation and
        share its outcome: its value, or its error (raised in every waiter; a failed
        computation is not retried by each waiter in turn). Errors are not cached: a call
        after the failed one has finished computes again.
        """
        hit = self.get(key)
        if hit is not None:
            with self._lock:
                self.hits += 1
            return hit, True
        with self._lock:
            flight = self._inflight.get(key)
            owner = flight is None
            if owner:
                flight = self._inflight[key] = _Flight()
        assert flight is not None
        if not owner:
            flight.done.wait()
            if flight.error is not None:
                raise flight.error
            with self._lock:
                self.hits += 1
            return flight.value, True  # type: ignore[return-value]
        try:
            value = compute()
            self.put(key, value)
            flight.value = value
            with self._lock:
                self.misses += 1
            return value, False
        except BaseException as exc:
            flight.error = exc
            raise
        finally:
            with self._lock:
                self._inflight.pop(key, None)
            flight.done.set()

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0

    def __len__(self) -> int:
        return len(self._items)

    @property
    def bytes(self) -> int:
        return self._bytes


_DEFAULT: ResultCache | None = None
_DEFAULT_LOCK = threading.Lock()


def default_cache() -> ResultCache:
    """The process-wide result cache every run uses unless given another."""
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            _DEFAULT = ResultCache()
        return _DEFAULT
