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
from typing import Any

import numpy as np

from ..cache import BoundedCache, bytes_from_env

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
        return _hash(
            b"masks",
            str(value.masks.shape).encode(),
            np.packbits(value.masks).tobytes(),
            value.scores.tobytes(),
            value.prompt_index.tobytes(),
            str(logits).encode(),
            str(ids).encode(),
        )
    if isinstance(value, Prompt):
        mask = fingerprint(value.mask) if value.mask is not None else "none"
        return _hash(b"prompt", json.dumps(value.to_dict(), sort_keys=True, default=str).encode(), str(mask).encode())
    if isinstance(value, (list, tuple)):
        parts = [fingerprint(v) for v in value]
        known = [p for p in parts if p is not None]
        return _hash(b"seq", *(p.encode() for p in known)) if len(known) == len(parts) else None
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
    return bytes_from_env("SAM_COMPOSE_GRAPH_CACHE_BYTES", DEFAULT_MAX_BYTES)


class ResultCache(BoundedCache[str, dict[str, Any]]):
    """Thread-safe LRU of node results ({port: value}) bounded by ``max_bytes`` (0 disables).

    ``get_or_compute`` runs a node at most once per key across threads; a failed node is not
    cached, and threads waiting for it get its error instead of running it again.
    """

    def __init__(self, max_bytes: int | None = None) -> None:
        super().__init__(default_max_bytes() if max_bytes is None else int(max_bytes), size_of=nbytes)

    @property
    def bytes(self) -> int:
        return self.nbytes


_DEFAULT: ResultCache | None = None
_DEFAULT_LOCK = threading.Lock()


def default_cache() -> ResultCache:
    """The process-wide result cache every run uses unless given another."""
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            _DEFAULT = ResultCache()
        return _DEFAULT
