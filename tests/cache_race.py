"""Concurrent callers of one failing computation, for the tests of ``sam_compose.cache.BoundedCache``
(and the caches built on it): one thread computes a key, others ask for it meanwhile."""

from __future__ import annotations

import threading
import time
from typing import Any


def race_a_failure(cache: Any, waiters: int = 3, message: str = "node failed") -> tuple[int, list[str]]:
    """(how many times the computation ran, the error message each caller got).

    A first thread calls ``cache.get_or_compute("k", fn)`` with an ``fn`` that raises
    ``RuntimeError(message)`` once ``waiters`` more threads have asked for ``"k"`` (plus a
    short grace period for them to start waiting). A cache that shares one computation
    returns ``(1, [message] * (waiters + 1))``.
    """
    started, release = threading.Event(), threading.Event()
    calls: list[int] = []
    errors: list[str] = []

    def failing() -> Any:
        calls.append(1)
        started.set()
        release.wait(5)
        raise RuntimeError(message)

    def ask() -> None:
        try:
            cache.get_or_compute("k", failing)
        except RuntimeError as exc:
            errors.append(str(exc))

    first = threading.Thread(target=ask)
    first.start()
    started.wait(5)
    others = [threading.Thread(target=ask) for _ in range(waiters)]
    for t in others:
        t.start()
    time.sleep(0.2)
    release.set()
    for t in [first, *others]:
        t.join(20)
    return len(calls), errors
