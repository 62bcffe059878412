"""Deadlines that stop work: a time limit checked between steps, and a caller told in one line.

A :class:`Deadline` is set for a block of work with :func:`deadline` (a ``contextvars``
variable, so concurrent calls in threads each see their own). Long-running code calls
:func:`checkpoint` between steps: the graph runtime between nodes and between frames,
the video readers per frame, the gaze readers per chunk, automatic mask generation per
batch, the demo's tracker per frame. Past the deadline, :func:`checkpoint` raises
:class:`DeadlineExceeded` (a :class:`~sam_compose.errors.LimitError`), the work unwinds,
its memory is released, and the caller gets one line::

    with deadline(30, "run_graph box_inpaint"):
        graph.run()            # raises DeadlineExceeded at the next checkpoint after 30 s

:func:`run_with_deadline` runs a call in a worker thread: the caller is answered at the
deadline even while the worker is inside one long step (an engine call); the worker
stops at its next checkpoint, and :meth:`Deadline.cancel` makes that immediate for
anything still queued. A step that never reaches a checkpoint is bounded by the limits
on its input (pixels, frames, rows), not by time.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import contextvars
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from ..errors import LimitError
from . import limits

__all__ = [
    "Deadline",
    "DeadlineExceeded",
    "checkpoint",
    "current_deadline",
    "deadline",
    "default_seconds",
    "run_with_deadline",
]

T = TypeVar("T")


class DeadlineExceeded(LimitError):
    """Work stopped because it ran past its time limit."""


class Deadline:
    """A point in time after which :meth:`check` raises; :meth:`cancel` makes it raise now."""

    def __init__(self, seconds: float, what: str = "the call") -> None:
        if not seconds > 0:
            raise ValueError(f"a deadline needs a positive number of seconds, got {seconds!r}")
        self.seconds = float(seconds)
        self.what = what
        self.started = time.monotonic()
        self.ends = self.started + self.seconds
        self._cancelled = threading.Event()

    @property
    def remaining(self) -> float:
        """Seconds left (negative when past)."""
        return self.ends - time.monotonic()

    @property
    def expired(self) -> bool:
        return self._cancelled.is_set() or time.monotonic() >= self.ends

    def cancel(self) -> None:
        """Stop the work at its next checkpoint, whatever the time."""
        self._cancelled.set()

    def error(self) -> DeadlineExceeded:
        """The one-line error for this deadline."""
        lim = limits.LIMITS["seconds"]
        return DeadlineExceeded(
            f"{self.what} was stopped after {self.seconds:g} s, its time limit; use a smaller input "
            f"(image, video, recording, graph) or raise {lim.env}",
            "seconds",
            lim.env,
        )

    def check(self) -> None:
        """Raise :class:`DeadlineExceeded` when the deadline has passed or was cancelled."""
        if self.expired:
            raise self.error()


_CURRENT: contextvars.ContextVar[Deadline | None] = contextvars.ContextVar("sam_compose_deadline", default=None)


def current_deadline() -> Deadline | None:
    """The deadline of the work running in this context, if any."""
    return _CURRENT.get()


def checkpoint() -> None:
    """Raise :class:`DeadlineExceeded` if the current work is past its deadline (cheap; call it often)."""
    d = _CURRENT.get()
    if d is not None and d.expired:
        raise d.error()


def default_seconds() -> int:
    """The ``seconds`` limit in force (``SAM_COMPOSE_MAX_SECONDS``)."""
    return limits.get("seconds")


@contextlib.contextmanager
def deadline(seconds: float | None = None, what: str = "the call") -> Iterator[Deadline]:
    """Run the block under a deadline (``seconds`` None: the ``seconds`` limit).

    A deadline already in force that ends sooner stays in force.
    """
    d = Deadline(default_seconds() if seconds is None else seconds, what)
    outer = _CURRENT.get()
    if outer is not None and outer.ends <= d.ends:
        yield outer
        return
    token = _CURRENT.set(d)
    try:
        yield d
    finally:
        _CURRENT.reset(token)


def run_with_deadline(
    fn: Callable[..., T],
    *args: Any,
    seconds: float | None = None,
    what: str = "the call",
    executor: concurrent.futures.Executor | None = None,
    **kwargs: Any,
) -> T:
    """``fn(*args, **kwargs)`` under a deadline, answered at the deadline at the latest.

    The call runs in a worker thread (``executor``, or a new thread) with the deadline set,
    so :func:`checkpoint` inside it stops it. If it is still running when the deadline
    passes, the deadline is cancelled (the worker stops at its next checkpoint, releasing
    what it holds) and :class:`DeadlineExceeded` is raised here.
    """
    d = Deadline(default_seconds() if seconds is None else seconds, what)
    ctx = contextvars.copy_context()

    def work() -> T:
        token = _CURRENT.set(d)
        try:
            d.check()
            return fn(*args, **kwargs)
        finally:
            _CURRENT.reset(token)

    own = executor is None
    pool = executor or concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="sam-compose-deadline")
    try:
        future = pool.submit(ctx.run, work)
        try:
            return future.result(timeout=max(d.remaining, 0.0))
        except concurrent.futures.TimeoutError:
            d.cancel()
            future.cancel()
            raise d.error() from None
    finally:
        if own:
            pool.shutdown(wait=False)
