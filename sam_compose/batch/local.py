"""The local backend: ``--workers N`` processes, each running items with its own engines.

With one worker the items run in this process (no start-up cost). With more, N worker
processes are spawned; each builds the graph once and loads each engine once, then
takes one item at a time over its own pipe, so the driver always knows which item each
worker holds:

* each worker holds up to two items (the one it runs and the next), so it never waits for
  the driver between items; the input stream is read lazily and results are handed to
  ``on_result`` at once, never collected (at most 2 N items in flight);
* a worker that dies (a crash in native code, the OOM killer) has the item it was running
  recorded as failed, the items queued behind it go to another worker, and it is replaced;
* workers ignore SIGINT (Ctrl-C reaches the whole process group): the driver decides,
  stops handing out items and terminates the workers; when the driver itself is killed
  their pipe closes and they exit;
* each worker limits its math libraries (OpenMP, OpenCV, torch) to its share of the
  CPU cores, so N workers do not fight over the same cores.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any

from .inputs import Item
from .job import Job

ResultHandler = Callable[[dict[str, Any]], bool]
"""Called with each record; returns False to stop the run (e.g. disk full)."""

JOIN_TIMEOUT_S = 5.0
PREFETCH = 2


def limit_threads(threads: int | None) -> None:
    """Cap OpenMP / BLAS / OpenCV / torch threads of this process (None: leave as is)."""
    if not threads:
        return
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, str(threads))
    with contextlib.suppress(Exception):  # optional speed-up only
        import cv2

        cv2.setNumThreads(threads)
    torch = sys.modules.get("torch")  # imported later, torch reads OMP_NUM_THREADS
    if torch is not None:
        with contextlib.suppress(Exception):
            torch.set_num_threads(threads)


def available_cpus() -> int:
    """CPU cores this process may use (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return max(1, os.cpu_count() or 1)


def worker_threads(workers: int) -> int:
    """Math-library threads per worker: the cores shared out between ``workers`` processes."""
    return max(1, available_cpus() // max(1, workers))


def _worker_main(conn: Connection, job_dict: dict[str, Any]) -> None:
    """A worker process: build the runner once, then answer one item per message until None or EOF."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    job = Job.from_dict(job_dict)
    limit_threads(job.threads)
    try:
        from .item import ItemRunner

        runner = ItemRunner(job)
    except BaseException as exc:  # reported to the driver, which stops the run
        with contextlib.suppress(OSError):
            conn.send({"init_error": f"{type(exc).__name__}: {exc}"})
        return
    with contextlib.suppress(OSError):
        conn.send({"ready": True})
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return  # the driver is gone
        if msg is None:
            return
        record = runner(msg)
        try:
            conn.send(record)
        except (BrokenPipeError, OSError):
            return


@dataclass
class _Worker:
    proc: Any
    conn: Connection
    queue: deque[Item] = field(default_factory=deque)
    """Items sent and not yet answered, oldest (the one running) first."""
    ready: bool = False
    """It started (built its graph); a worker that dies before that is a setup problem, not an item's."""


class LocalPool:
    """``workers`` spawned processes running :class:`~sam_compose.batch.item.ItemRunner` s.

    Each worker holds up to ``prefetch`` items (the one it runs and the next ones), so it
    never waits for the driver between items; it answers them in order, so the oldest
    unanswered item of a worker that died is the one that killed it.
    """

    def __init__(self, job: Job, workers: int, prefetch: int = PREFETCH) -> None:
        self.job = job
        self.n = workers
        self.prefetch = max(1, prefetch)
        self.ctx = mp.get_context("spawn")
        self.workers: list[_Worker] = []

    def _start(self) -> _Worker:
        parent, child = self.ctx.Pipe()
        job = Job.from_dict({**self.job.to_dict(), "threads": self.job.threads or worker_threads(self.n)})
        proc = self.ctx.Process(
            target=_worker_main, args=(child, job.to_dict()), daemon=True, name="sam-compose-batch-worker"
        )
        proc.start()
        child.close()
        w = _Worker(proc, parent)
        self.workers.append(w)
        return w

    def _retire(self, w: _Worker) -> None:
        self.workers.remove(w)
        with contextlib.suppress(OSError):
            w.conn.close()

    def run(self, items: Iterator[Item], on_result: ResultHandler) -> None:
        for _ in range(self.n):
            self._start()
        retry: deque[Item] = deque()  # items queued at a worker that died before reaching them
        exhausted = stopping = False
        try:
            while True:
                while not stopping and not (exhausted and not retry):
                    w = min(self.workers, key=lambda x: len(x.queue))
                    if len(w.queue) >= self.prefetch:
                        break
                    item = retry.popleft() if retry else next(items, None)
                    if item is None:
                        exhausted = True
                        continue
                    w.queue.append(item)
                    try:
                        w.conn.send(item.to_dict())
                    except OSError:  # it died while idle: nothing of its was running
                        w.queue.pop()
                        retry.appendleft(item)
                        self._replace(w, retry)
                busy = [w for w in self.workers if w.queue]
                if not busy:
                    return
                ready = wait([w.conn for w in busy] + [w.proc.sentinel for w in busy])
                for w in busy:
                    if w.conn not in ready and w.proc.sentinel not in ready:
                        continue
                    record = self._receive(w, retry)
                    if record is None:
                        continue
                    if "init_error" in record:
                        raise RuntimeError(f"a batch worker could not start: {record['init_error']}")
                    if not on_result(record):
                        stopping = True
        finally:
            self.close()

    def _receive(self, w: _Worker, retry: deque[Item]) -> dict[str, Any] | None:
        """The next record of ``w``; a failure record (and a fresh worker) when it died; None: nothing yet."""
        try:
            if w.conn.poll():
                record = w.conn.recv()
                if record.get("ready"):
                    w.ready = True
                    return None
                if "init_error" not in record:
                    w.queue.popleft()
                return record
        except (EOFError, OSError):
            w.proc.join(JOIN_TIMEOUT_S)  # its pipe closed: it is exiting
        if w.proc.is_alive():
            return None
        if not w.ready:
            w.proc.join()
            raise RuntimeError(
                f"a batch worker process exited while starting (exit code {w.proc.exitcode}); run from a script "
                "file or `python -m` (spawned workers re-import the main module; stdin cannot be), or use one worker"
            )
        code = self._replace(w, retry)
        item = w.queue.popleft()
        why = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        return {
            "input": item.input,
            "status": "failed",
            "outputs": {},
            "ms": 0.0,
            "item": item.name,
            "index": item.index,
            "error": f"the worker process died ({why}) while running this item",
            "time": round(time.time(), 3),
        }

    def _replace(self, w: _Worker, retry: deque[Item]) -> int | None:
        """Retire the dead worker ``w`` (its queue but the first item goes to ``retry``), start another;
        returns its exit code."""
        w.proc.join()
        self._retire(w)
        self._start()
        while len(w.queue) > 1:
            retry.appendleft(w.queue.pop())  # the items it had not started go to another worker
        return w.proc.exitcode

    def close(self) -> None:
        for w in list(self.workers):
            if w.queue:
                w.proc.terminate()  # abandoned mid-item: its .tmp folder is cleaned by the next run
            else:
                with contextlib.suppress(OSError):
                    w.conn.send(None)
        for w in list(self.workers):
            w.proc.join(JOIN_TIMEOUT_S)
            if w.proc.is_alive():
                w.proc.kill()
                w.proc.join()
            self._retire(w)


def run_local(job: Job, items: Iterator[Item], workers: int, on_result: ResultHandler) -> None:
    """Run ``items`` with ``workers`` processes (in this process when 1), handing each record to ``on_result``."""
    if workers <= 1:
        from .item import ItemRunner

        runner = ItemRunner(job)
        for item in items:
            if not on_result(runner(item)):
                return
        return
    LocalPool(job, workers).run(items, on_result)


__all__ = ["LocalPool", "limit_threads", "run_local", "worker_threads"]
