"""Running one item: the graph on one input file, written into a temporary folder, then renamed.

:class:`ItemRunner` lives in a worker (a process of the local pool, a Ray actor, or the
driver itself with one worker). It builds the graph once; engines come from
``shared_engine``, so each worker loads each engine once and keeps its embedding cache.
For every item it

1. runs the graph with the input node's ``path`` set to the file and relative output
   paths going to ``OUT/items/.tmp-<pid>-<random>/`` (a video graph streams frame by frame);
2. writes the masks node's result as ``_coco.json`` there (one COCO image per frame);
3. renames the folder to ``OUT/items/<name>/`` (an older folder of the same item, left by
   a run killed before it recorded the item, is moved aside first and deleted).

So ``items/<name>/`` only ever holds complete outputs; an interrupted item leaves a
``.tmp-*`` folder, which the next run deletes. The result is the manifest record.
A full disk (ENOSPC / EDQUOT, or any failure while less than 1 MiB is left) is not an
item failure, nor is an engine that cannot load or a missing extra (no input can fix
those): the record says ``"stop"`` and the driver stops the run, to be resumed once the
cause is fixed, instead of recording every remaining item as failed.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
import time
from pathlib import Path
from typing import Any

from .coco import ITEM_COCO, ItemCoco
from .inputs import Item
from .job import Job

DISK_FULL_ERRNOS = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
DISK_FULL_TEXT = ("No space left on device", "Disk quota exceeded")
MIN_FREE_BYTES = 1 << 20
CACHE_BYTES = 32 << 20
SETUP_ERRORS = ("EngineError", "MissingDependencyError")
"""Node errors that no input can cause (an engine that cannot load, a missing extra): they stop the run."""
TMP_PREFIX = ".tmp-"
OLD_PREFIX = ".old-"


class GraphSetupError(Exception):
    """The graph cannot run on any input (see SETUP_ERRORS); the run stops instead of failing every item."""


def _error_text(exc: BaseException) -> str:
    msg = " ".join(str(exc).split())
    return msg if msg else type(exc).__name__


def is_disk_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS:
        return True
    return any(t in str(exc) for t in DISK_FULL_TEXT)


def nearly_full(path: str | os.PathLike) -> bool:
    """Whether the file system of ``path`` has less than MIN_FREE_BYTES left (False when unknown).

    Not every full disk surfaces as ENOSPC: OpenCV's imwrite, for one, only returns False."""
    try:
        return shutil.disk_usage(path).free < MIN_FREE_BYTES
    except OSError:
        return False


def write_json(path: Path, obj: Any) -> None:
    """Write JSON (the item folder is renamed into place afterwards, so no temporary file here)."""
    import json

    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))  # the C encoder; json.dump is pure Python
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)


def publish(tmp: Path, final: Path, attempts: int = 3) -> None:
    """Move a finished item folder into place, replacing an older one of the same item (also one that
    another worker publishes at the same moment, when a list names the same file twice)."""
    for attempt in range(attempts):
        old = None
        if final.exists():
            old = final.with_name(f"{OLD_PREFIX}{final.name}-{secrets.token_hex(4)}")
            with contextlib.suppress(FileNotFoundError):
                os.rename(final, old)
        try:
            os.rename(tmp, final)
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST) or attempt == attempts - 1:
                raise
            continue
        finally:
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        return


class ItemRunner:
    """Runs items of one :class:`Job` in this process; call it with an :class:`Item` (or its dict)."""

    def __init__(self, job: Job) -> None:
        from ..graph.cache import ResultCache

        self.job = job
        self.graph = job.build_graph()
        self.items_dir = Path(job.out) / "items"
        self.items_dir.mkdir(parents=True, exist_ok=True)
        self.cache = ResultCache(CACHE_BYTES)

    def __call__(self, item: Item | dict[str, Any]) -> dict[str, Any]:
        it = item if isinstance(item, Item) else Item.from_dict(item)
        t0 = time.perf_counter()
        record: dict[str, Any] = {
            "input": it.input,
            "status": "failed",
            "outputs": {},
            "ms": 0.0,
            "error": None,
            "item": it.name,
            "index": it.index,
        }
        tmp = self.items_dir / f"{TMP_PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
        try:
            if not os.path.isfile(it.input):
                what = "is a folder, not a file" if os.path.isdir(it.input) else "does not exist"
                record["error"] = f"input file {it.input} {what}"
            else:
                tmp.mkdir()
                record.update(self._run(it, tmp))
                publish(tmp, self.items_dir / it.name)
                record["status"] = "ok"
        except Exception as exc:
            if isinstance(exc, GraphSetupError):
                record["status"] = "stop"
                record["stop"] = "setup"
            elif is_disk_full(exc) or nearly_full(self.items_dir):
                record["status"] = "stop"
                record["stop"] = "disk full"
            record["error"] = _error_text(exc)
            record["outputs"] = {}
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
            record["ms"] = round((time.perf_counter() - t0) * 1000, 3)
            record["time"] = round(time.time(), 3)  # when the item finished (epoch seconds)
        return record

    def _run(self, it: Item, tmp: Path) -> dict[str, Any]:
        from ..graph.report import GraphRunError

        job = self.job
        coco = ItemCoco(it.file_name)
        last: dict[str, Any] = {}
        targets: list[Any] = list(job.targets)
        stream = self.graph.stream(
            targets, params={f"{job.input_node}.path": it.input}, out_dir=tmp, cache=self.cache, raise_on_error=True
        )
        video = job.input_type == "load_video"
        try:
            for i, values in enumerate(stream):
                last = values
                masks = values.get(job.masks_node) if job.masks_node else None
                if masks is not None:
                    coco.add(masks, **({"frame_index": i} if video else {}))
        except GraphRunError as exc:
            for node in exc.report["nodes"].values():
                if "error" in node and any(t in node["error"] for t in DISK_FULL_TEXT):
                    raise OSError(errno.ENOSPC, f"{exc}") from None
                if node.get("error_type") in SETUP_ERRORS:
                    raise GraphSetupError(str(exc)) from None
            raise
        final = Path("items") / it.name
        outputs: dict[str, Any] = {}
        for target in job.file_targets:
            value = last.get(target)
            if isinstance(value, (str, os.PathLike)):
                p = Path(value)
                try:
                    outputs[target] = (final / p.resolve().relative_to(tmp.resolve())).as_posix()
                except ValueError:
                    outputs[target] = str(p)  # an absolute path outside the item's folder
        extra: dict[str, Any] = {}
        if job.masks_node is not None:
            write_json(tmp / ITEM_COCO, coco.to_dict())
            outputs["annotations"] = (final / ITEM_COCO).as_posix()
            extra["masks"] = coco.masks
            if video:
                extra["frames"] = len(coco.images)
        return {"outputs": outputs, **extra}


__all__ = ["OLD_PREFIX", "TMP_PREFIX", "ItemRunner", "is_disk_full", "publish", "write_json"]
