"""``OUT/manifest.jsonl``: one JSON line per finished item, appended, never rewritten.

A line is ``{"input", "status": "ok"|"failed", "outputs", "ms", "error", "item",
"index", "time", ...}`` (``ms``: the item's time in its worker; ``time``: when it
finished there, epoch seconds; ``masks``, ``frames``: counts for the COCO file). The driver is the only writer; every line is flushed as soon as the
item finishes (and fsynced at most once a second and at the end), so a killed run loses
at most the items that were in flight. A line torn by a kill is left where it is: the
next run appends a newline first, and readers skip lines that are not JSON objects.

Readers stream the file and keep 8 bytes per input (a 64-bit hash of its path), so
a manifest of millions of lines is read in bounded memory. When an input has several
lines (a failed item retried with ``--retry-failed``) the last one counts.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from .inputs import path_hash

MANIFEST = "manifest.jsonl"
FSYNC_EVERY_S = 1.0


def input_key(path: str) -> int:
    """A 64-bit key of an input's absolute path (collisions: ~1e-6 for 10 million inputs)."""
    return int(path_hash(path, 8), 16)


class ManifestWriter:
    """Appends records to the manifest; ``append`` raises OSError (e.g. disk full) to the caller."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._fh: IO[bytes] = open(self.path, "ab")  # noqa: SIM115 - closed in close()
        self._last_sync = time.monotonic()
        if self._fh.tell() > 0 and not _ends_with_newline(self.path):
            self._fh.write(b"\n")  # a line torn by a kill stays unreadable on its own line
            self._fh.flush()

    def append(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str) + "\n"
        self._fh.write(line.encode("utf-8"))
        self._fh.flush()
        now = time.monotonic()
        if now - self._last_sync >= FSYNC_EVERY_S:
            os.fsync(self._fh.fileno())
            self._last_sync = now

    def close(self) -> None:
        if self._fh.closed:
            return
        try:
            self._fh.flush()
            os.fsync(self._fh.fileno())
        finally:
            self._fh.close()


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as fh:
        fh.seek(-1, os.SEEK_END)
        return fh.read(1) == b"\n"


def scan(path: str | os.PathLike) -> Iterator[tuple[int, dict[str, Any]]]:
    """(byte offset, record) for every readable line of a manifest, in file order."""
    p = Path(path)
    if not p.exists():
        return
    with open(p, "rb") as fh:
        offset = 0
        for raw in fh:
            start, offset = offset, offset + len(raw)
            if not raw.endswith(b"\n"):
                continue  # torn last line of a killed run
            try:
                rec = json.loads(raw)
            except ValueError:
                continue
            if isinstance(rec, dict) and isinstance(rec.get("input"), str) and rec.get("status") in ("ok", "failed"):
                yield start, rec


def read_at(path: str | os.PathLike, offset: int, fh: IO[bytes] | None = None) -> dict[str, Any]:
    """The record of the line starting at ``offset``."""
    if fh is None:
        with open(path, "rb") as own:
            own.seek(offset)
            return json.loads(own.readline())
    fh.seek(offset)
    return json.loads(fh.readline())


@dataclass
class ManifestState:
    """What a manifest records, one entry per input (its last line): sorted keys and where the line is."""

    keys: np.ndarray  # uint64, sorted
    ok: np.ndarray  # bool per key
    offsets: np.ndarray  # int64 byte offset of the last line per key
    index: np.ndarray  # int64 input-stream position recorded on that line (-1 if absent)

    @classmethod
    def read(cls, path: str | os.PathLike) -> ManifestState:
        keys, ok, offsets, index = [], [], [], []
        for off, rec in scan(path):
            keys.append(input_key(rec["input"]))
            ok.append(rec["status"] == "ok")
            offsets.append(off)
            idx = rec.get("index")
            index.append(int(idx) if isinstance(idx, int) else -1)
        k = np.asarray(keys, dtype=np.uint64)
        seq = np.arange(len(k))
        order = np.lexsort((seq, k))  # by key, then file order: the last of each run of equal keys wins
        k, last = k[order], order
        keep = np.ones(len(k), bool)
        if len(k):
            keep[:-1] = k[1:] != k[:-1]
        sel = last[keep]
        return cls(
            k[keep], np.asarray(ok, bool)[sel], np.asarray(offsets, np.int64)[sel], np.asarray(index, np.int64)[sel]
        )

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def n_ok(self) -> int:
        return int(self.ok.sum())

    @property
    def n_failed(self) -> int:
        return int(len(self.ok) - self.ok.sum())

    def status(self, key: int) -> bool | None:
        """True (ok), False (failed) or None (not recorded) for an input key."""
        i = int(np.searchsorted(self.keys, np.uint64(key)))
        if i < len(self.keys) and int(self.keys[i]) == key:
            return bool(self.ok[i])
        return None


__all__ = ["MANIFEST", "ManifestState", "ManifestWriter", "input_key", "read_at", "scan"]
