"""``run_batch``: one graph over many inputs, resumable, with a local or a Ray backend.

The driver (this process) owns the output folder: it takes a lock on it, refuses a
folder that holds another run unless resuming, streams the inputs past what the
manifest already records, hands them to the backend, appends each record to the
manifest as it arrives, and finally merges the items' COCO files into
``annotations.json``. Nothing per item is kept in memory.

Stopping: Ctrl-C (SIGINT) and SIGTERM stop the run cleanly (the items in flight are
abandoned and redone on resume); a full disk stops it with a message. In every case the
manifest holds exactly the items that finished, and ``resume=True`` continues.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .._version import __version__
from ..errors import InputError
from .coco import ANNOTATIONS, write_annotations
from .inputs import InputSource, Item, suffixes_for
from .item import OLD_PREFIX, TMP_PREFIX, is_disk_full
from .job import BatchGraph, Job, make_job
from .manifest import MANIFEST, ManifestState, ManifestWriter, input_key, scan
from .progress import BatchProgress

BACKENDS = ("local", "ray")
RUN_FILE = "batch.json"
SCRATCH = ".batch"
EXIT_OK, EXIT_STOPPED, EXIT_BAD_INPUT, EXIT_FAILED_ITEMS = 0, 1, 2, 3
_RECORD_KEYS = ("input", "status", "outputs", "ms", "error")


class BatchInterrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM reached the driver; ``signum`` says which."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@dataclass
class BatchSummary:
    """The outcome of :func:`run_batch` (``to_json()`` for the CLI; ``exit_code`` 0, 1, 3 or 130/143).

    ``ok`` / ``failed`` count every input the output folder records (this run and the
    runs it resumed); ``run_ok`` / ``run_failed`` only this run; ``skipped`` the inputs
    this run found already recorded.
    """

    out: str
    ok: int
    failed: int
    run_ok: int
    run_failed: int
    skipped: int
    seconds: float
    items_per_s: float
    annotations: dict[str, Any] | None
    stopped: str | None = None
    error: str | None = None
    signal: int | None = None

    @property
    def manifest(self) -> str:
        return str(Path(self.out) / MANIFEST)

    @property
    def exit_code(self) -> int:
        if self.stopped == "interrupted":
            return 128 + (self.signal or signal.SIGINT)
        if self.stopped == "setup":
            return EXIT_BAD_INPUT
        if self.stopped:
            return EXIT_STOPPED
        return EXIT_FAILED_ITEMS if self.failed else EXIT_OK

    @property
    def message(self) -> str:
        """One line for people: counts, where to look, how to resume."""
        if self.stopped == "interrupted":
            return (
                f"interrupted: {self.ok} ok, {self.failed} failed so far in {self.manifest}; "
                "run the same command with --resume to continue"
            )
        if self.stopped == "setup":
            return f"stopped, the graph cannot run: {self.error}; fix that and run the command again"
        if self.stopped:
            return (
                f"stopped, {self.stopped}: {self.error}; {self.ok} ok, {self.failed} failed so far; "
                "free some space, then run the same command with --resume"
            )
        if self.failed:
            return f"{self.ok} ok, {self.failed} failed: see {self.manifest}"
        rate = f" ({self.items_per_s:.2f} items/s)" if self.run_ok else ""
        ann = f"; {self.annotations['path']}" if self.annotations else ""
        return f"{self.ok} ok{rate}{ann}"

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "manifest": self.manifest, "exit_code": self.exit_code, "message": self.message}


# ---------------------------------------------------------------- the output folder
class _Lock:
    """An exclusive lock on ``OUT/.batch/lock`` for the life of the run (released by the OS if killed)."""

    def __init__(self, out: Path) -> None:
        self.path = out / SCRATCH / "lock"
        self.fh: Any = None

    def __enter__(self) -> _Lock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fh = open(self.path, "a+")
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: no advisory locks, run without
            return self
        try:
            fcntl.flock(self.fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self.fh.close()
            raise InputError(
                f"another batch run is writing to {self.path.parent.parent}; wait for it to finish "
                "or choose another --out"
            ) from None
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.fh is not None:
            self.fh.close()


def _has_records(manifest: Path) -> bool:
    return next(scan(manifest), None) is not None


def _write_json_atomic(path: Path, obj: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, indent=2, default=str)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _check_run_file(out: Path, job: Job, source: InputSource, resume: bool, recorded: bool) -> None:
    path = out / RUN_FILE
    if resume and recorded and path.exists():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            old = {}
        if old.get("fingerprint") and old["fingerprint"] != job.fingerprint:
            raise InputError(
                f"{out} was made by a different graph, input node or --set values (see {path}); "
                "resume with the same ones, or write to another --out"
            )
        return
    _write_json_atomic(
        path,
        {
            "sam_compose": __version__,
            "fingerprint": job.fingerprint,
            "inputs": source.describe(),
            "input_node": job.input_node,
            "masks_node": job.masks_node,
            "targets": job.targets,
            "graph": job.graph,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        },
    )


def clean_stale(out: Path) -> int:
    """Delete what killed runs left half-done (item folders being written, ray shards, temp files)."""
    n = 0
    items = out / "items"
    if items.is_dir():
        for e in os.scandir(items):
            if e.name.startswith((TMP_PREFIX, OLD_PREFIX)):
                shutil.rmtree(e.path, ignore_errors=True)
                n += 1
    scratch = out / SCRATCH
    if scratch.is_dir():
        for e in os.scandir(scratch):
            if e.name == "lock":
                continue
            if e.is_dir():
                shutil.rmtree(e.path, ignore_errors=True)
            else:
                os.unlink(e.path)
    (out / f".{ANNOTATIONS}.tmp").unlink(missing_ok=True)
    return n


# ---------------------------------------------------------------- running
def _pending(
    items: Iterator[Item], state: ManifestState | None, retry_failed: bool, skipped: list[int]
) -> Iterator[Item]:
    for item in items:
        status = state.status(input_key(item.input)) if state is not None and len(state) else None
        if status is True or (status is False and not retry_failed):
            skipped[0] += 1
            continue
        yield item


@contextlib.contextmanager
def _stop_signals() -> Iterator[None]:
    """SIGTERM (and SIGINT) raise :class:`BatchInterrupted` in the driver while the run is on."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise BatchInterrupted(signum)

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def _check_args(workers: Any, backend: str, gpus_per_worker: Any) -> None:
    if backend not in BACKENDS:
        raise InputError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise InputError(f"--workers must be a whole number of at least 1, got {workers!r}")
    if gpus_per_worker is not None:
        if isinstance(gpus_per_worker, bool) or not isinstance(gpus_per_worker, (int, float)) or gpus_per_worker < 0:
            raise InputError(f"--gpus-per-worker must be a number >= 0, got {gpus_per_worker!r}")
        if backend != "ray" and gpus_per_worker:
            raise InputError(
                "--gpus-per-worker needs --backend ray (local workers all see every GPU; "
                "pick one per process with CUDA_VISIBLE_DEVICES)"
            )


def run_batch(
    graph: BatchGraph,
    inputs: str | os.PathLike | Iterable[str | os.PathLike],
    out: str | os.PathLike,
    *,
    workers: int | None = None,
    backend: str = "local",
    resume: bool = False,
    input: str | None = None,
    params: Mapping[str, Any] | None = None,
    gpus_per_worker: float | None = None,
    retry_failed: bool = False,
    progress: bool | None = None,
    merge: bool = True,
) -> BatchSummary:
    """Run ``graph`` once per input file; see docs/batch.md.

    ``inputs``: a folder, a glob, a list file (one path per line), an input file, or an
    iterable of paths. ``out``: the output folder (manifest.jsonl, annotations.json,
    items/<name>/). ``workers``: processes (local, default 1) or actors (ray, default one
    per CPU, or per ``gpus_per_worker`` GPUs). ``resume``: continue a run in ``out``,
    skipping the inputs its manifest records (``retry_failed``: except failed ones).
    ``input``: the node fed with each file (default: the one load_image node).
    ``params``: {"node.param": value} overrides. ``progress``: a bar on stderr (default:
    when stderr is a terminal). ``merge=False``: no annotations.json, only each item's
    ``items/<name>/_coco.json`` (for datasets too large for one JSON file).

    Raises InputError (bad arguments, an empty input set, an output folder holding
    another run without ``resume``) before anything runs; returns a
    :class:`BatchSummary` otherwise, also when items failed or the run was stopped.
    """
    _check_args(workers, backend, gpus_per_worker)
    if backend == "ray":
        from .ray_backend import import_ray

        import_ray()  # no Ray: one line naming the extra, before the folder is touched
    out_path = Path(out).expanduser().absolute()
    if out_path.exists() and not out_path.is_dir():
        raise InputError(f"--out {out} is a file; give a folder for the batch outputs")
    job = make_job(graph, out_path, input_node=input, params=params)
    source = InputSource(inputs, suffixes_for(job.input_type), exclude=out_path)
    stream = iter(source)
    first = next(stream, None)
    if first is None:
        raise InputError(source.empty_message())
    out_path.mkdir(parents=True, exist_ok=True)
    with _Lock(out_path):
        manifest = out_path / MANIFEST
        recorded = _has_records(manifest)
        if not resume and recorded:
            raise InputError(
                f"{out} already holds a batch run ({manifest}); add --resume to continue it, or choose another --out"
            )
        _check_run_file(out_path, job, source, resume, recorded)
        clean_stale(out_path)
        state = ManifestState.read(manifest) if resume else None
        opts = _Options(workers, backend, gpus_per_worker, retry_failed, progress, merge)
        return _run(job, source, _chain(first, stream), state, out_path, manifest, opts)


def _chain(first: Item, rest: Iterator[Item]) -> Iterator[Item]:
    yield first
    yield from rest


@dataclass(frozen=True)
class _Options:
    workers: int | None
    backend: str
    gpus_per_worker: float | None
    retry_failed: bool
    progress: bool | None
    merge: bool


def _run(
    job: Job,
    source: InputSource,
    items: Iterator[Item],
    state: ManifestState | None,
    out: Path,
    manifest: Path,
    opts: _Options,
) -> BatchSummary:
    skipped = [0]
    todo = _pending(items, state, opts.retry_failed, skipped)
    done_before = len(state) if state is not None else 0
    show = sys.stderr.isatty() if opts.progress is None else opts.progress
    bar = BatchProgress(show, source.counter(), already_done=done_before)
    writer = ManifestWriter(manifest)
    stop: dict[str, Any] = {}

    def on_result(record: dict[str, Any]) -> bool:
        if record.get("status") == "stop":
            stop.update(stopped=record.get("stop", "disk full"), error=record.get("error"))
            return False
        line = {k: record.get(k) for k in _RECORD_KEYS}
        line.update({k: v for k, v in record.items() if k not in line})
        try:
            writer.append(line)
        except OSError as exc:
            if not is_disk_full(exc):
                raise
            stop.update(stopped="disk full", error=f"{exc} (writing {manifest})")
            return False
        bar.update(record)
        return True

    t0 = time.perf_counter()
    try:
        with _stop_signals():
            if opts.backend == "ray":
                from .ray_backend import run_ray

                run_ray(job, todo, opts.workers, on_result, out / SCRATCH, opts.gpus_per_worker)
            else:
                from .local import run_local

                run_local(job, todo, opts.workers or 1, on_result)
    except BatchInterrupted as exc:
        stop.update(stopped="interrupted", signal=exc.signum)
    except KeyboardInterrupt:
        stop.update(stopped="interrupted", signal=int(signal.SIGINT))
    finally:
        bar.close()
        try:
            writer.close()
        except OSError as exc:  # a full disk at the very end: the lines were flushed, only fsync failed
            stop.setdefault("stopped", "disk full")
            stop.setdefault("error", str(exc))
    seconds = time.perf_counter() - t0
    annotations = None
    if not stop and job.masks_node is not None and opts.merge:
        try:
            annotations = write_annotations(
                out, manifest, {"graph_fingerprint": job.fingerprint, "masks_node": job.masks_node}
            )
        except OSError as exc:
            if not is_disk_full(exc):
                raise
            stop.update(stopped="disk full", error=f"{exc} (writing {out / ANNOTATIONS})")
    totals = ManifestState.read(manifest)
    processed = bar.ok + bar.failed
    return BatchSummary(
        out=str(out),
        ok=totals.n_ok,
        failed=totals.n_failed,
        run_ok=bar.ok,
        run_failed=bar.failed,
        skipped=skipped[0],
        seconds=round(seconds, 3),
        items_per_s=round(processed / seconds, 3) if seconds > 0 else 0.0,
        annotations=annotations,
        stopped=stop.get("stopped"),
        error=stop.get("error"),
        signal=stop.get("signal"),
    )


__all__ = ["BACKENDS", "BatchInterrupted", "BatchSummary", "clean_stale", "run_batch"]
