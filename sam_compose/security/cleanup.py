"""Removing old per-session and per-call folders, by age and by count.

Servers make one folder per demo session and one per tool call. :func:`prune` keeps at
most ``max_count`` of them and none older than ``max_age`` seconds (by modification time,
oldest removed first); folders named in ``keep`` (sessions still open) are never removed.
Defaults come from the limits ``sessions`` / ``session_age`` (demo) and
``output_folders`` / ``output_age`` (MCP and LangChain tools).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Collection
from pathlib import Path

__all__ = ["prune"]


def prune(
    parent: str | os.PathLike,
    *,
    max_count: int,
    max_age: float,
    prefix: str = "",
    keep: Collection[str] = (),
    now: float | None = None,
) -> list[Path]:
    """Remove sub-folders of ``parent`` (whose names start with ``prefix``) beyond the bounds.

    Returns the folders removed. Symlinks and files are ignored (never followed).
    """
    root = Path(parent)
    if not root.is_dir():
        return []
    now = time.time() if now is None else now
    entries: list[tuple[float, Path]] = []
    with os.scandir(root) as it:
        for e in it:
            if not e.name.startswith(prefix) or e.is_symlink() or not e.is_dir(follow_symlinks=False):
                continue
            try:
                entries.append((e.stat(follow_symlinks=False).st_mtime, Path(e.path)))
            except OSError:
                continue
    entries.sort(key=lambda t: t[0], reverse=True)  # newest first
    removed: list[Path] = []
    kept = 0
    for mtime, path in entries:
        if path.name in keep:
            kept += 1
            continue
        if kept >= max_count or now - mtime > max_age:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
        else:
            kept += 1
    return removed
