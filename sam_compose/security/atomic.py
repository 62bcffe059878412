"""Atomic outputs: files appear complete or not at all, and stale files do not look current.

* :func:`atomic_path` - write one file through a temporary sibling, then ``os.replace`` it
  into place (readers see the old file or the new one, never half of one).
* :func:`staged_output` - write a whole output folder (``--out DIR``) into a hidden staging
  folder; on success every file is renamed into ``DIR``, files that the *previous* run wrote
  and this run did not are removed (they are listed in ``DIR/.sam_compose_manifest.json``),
  and the manifest is rewritten. On failure ``DIR`` is left exactly as it was. Files in
  ``DIR`` that sam-compose did not write are never touched.
* :func:`fresh_folder` - build a new folder (a demo download) under a temporary name and
  rename it into place in one step.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from ..errors import InputError

__all__ = ["MANIFEST", "atomic_path", "fresh_folder", "publish", "read_manifest", "staged_output"]

MANIFEST = ".sam_compose_manifest.json"
"""File in an output folder listing what the last run wrote (relative paths)."""
STAGING_PREFIX = ".sam_compose.partial-"


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; when the block succeeds it replaces ``path``.

    The temporary file keeps ``path``'s suffix (writers that choose a format by suffix
    still work). On an exception it is removed and ``path`` is untouched.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".tmp{target.suffix}", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if not tmp_path.exists():
            raise InputError(f"nothing was written to {target}")
        os.replace(tmp_path, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()


def read_manifest(folder: str | os.PathLike) -> list[str]:
    """Relative paths the last sam-compose run wrote into ``folder`` ([] without a manifest)."""
    p = Path(folder) / MANIFEST
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
        files = doc.get("files", []) if isinstance(doc, dict) else []
        return [f for f in files if isinstance(f, str)]
    except (OSError, ValueError):
        return []


def _files(folder: Path) -> list[str]:
    out = []
    for dirpath, _, filenames in os.walk(folder):
        for f in filenames:
            out.append(os.path.relpath(os.path.join(dirpath, f), folder))
    return sorted(out)


def publish(staging: str | os.PathLike, out_dir: str | os.PathLike, *, what: str = "") -> list[str]:
    """Move every file of ``staging`` into ``out_dir``; remove what the previous run wrote and this
    one did not; write the manifest; remove ``staging``. Returns the relative paths written."""
    src, dst = Path(staging), Path(out_dir)
    dst.mkdir(parents=True, exist_ok=True)
    moved = _files(src)
    new = [f for f in moved if f != MANIFEST]  # an inner export's manifest is replaced by this one
    old = read_manifest(dst)
    for rel in moved:
        target = dst / rel
        if target.is_dir() and not target.is_symlink():
            raise InputError(
                f"cannot write {target}: a folder of that name is in the way; remove it or use another --out folder"
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(src / rel, target)
    root = dst.resolve()
    for rel in sorted(set(old) - set(new) - {MANIFEST}):
        stale = dst / rel
        try:
            real = stale.parent.resolve() / stale.name
        except OSError:
            continue
        if root not in real.parents or ".." in Path(rel).parts:
            continue  # a manifest never makes us delete outside the folder
        if stale.is_symlink() or stale.is_file():
            stale.unlink()
            parent = stale.parent
            while parent != dst and parent.is_dir() and not any(parent.iterdir()):
                parent.rmdir()
                parent = parent.parent
    doc = {"written_by": "sam-compose", "what": what, "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "files": new}
    with atomic_path(dst / MANIFEST) as tmp:
        tmp.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    shutil.rmtree(src, ignore_errors=True)
    return new


@contextlib.contextmanager
def staged_output(out_dir: str | os.PathLike, *, what: str = "") -> Iterator[Path]:
    """Yield a staging folder for everything a run writes to ``out_dir``; publish on success.

    The staging folder is a hidden folder inside ``out_dir`` (same file system, so the
    final renames are atomic); it is removed whatever happens.
    """
    dst = Path(out_dir)
    if dst.exists() and not dst.is_dir():
        raise InputError(f"output folder {dst} exists and is not a folder; give a folder")
    dst.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=dst))
    try:
        yield staging
        publish(staging, dst, what=what)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@contextlib.contextmanager
def fresh_folder(final: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary sibling of ``final`` (which must not exist); rename it to ``final`` on success."""
    target = Path(final)
    if target.exists():
        raise InputError(f"{target} already exists")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=target.parent))
    try:
        yield staging
        os.rename(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
