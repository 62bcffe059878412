"""The batch progress bar: items/s, ok/failed counts, and an ETA once the inputs are counted.

The inputs are counted by a second pass in a background thread (a list of millions of
lines or a deep folder takes a while to count, and the work starts at once); until the
count is known the bar shows the rate without a total.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import IO, Any


class BatchProgress:
    """A tqdm bar on stderr (or nothing when disabled)."""

    def __init__(
        self,
        enabled: bool,
        counter: Callable[[Callable[[], bool]], int | None] | None = None,
        already_done: int = 0,
        file: IO[str] | None = None,
    ) -> None:
        self.ok = 0
        self.failed = 0
        self._total: int | None = None
        self._stop = threading.Event()
        self.already_done = already_done
        self.bar: Any = None
        if not enabled:
            return
        from tqdm import tqdm

        self.bar = tqdm(unit="item", desc="batch", file=file or sys.stderr, dynamic_ncols=True, smoothing=0.1)
        if counter is not None:
            threading.Thread(target=self._count, args=(counter,), daemon=True, name="batch-count").start()

    def _count(self, counter: Callable[[Callable[[], bool]], int | None]) -> None:
        try:
            self._total = counter(self._stop.is_set)
        except Exception:
            self._total = None

    def update(self, record: dict[str, Any]) -> None:
        if record.get("status") == "ok":
            self.ok += 1
        else:
            self.failed += 1
        if self.bar is None:
            return
        total = self._total
        if total is not None and self.bar.total is None:
            self.bar.total = max(total - self.already_done, self.bar.n + 1)
        self.bar.set_postfix_str(f"ok={self.ok} failed={self.failed}", refresh=False)
        self.bar.update(1)

    def close(self) -> None:
        self._stop.set()
        if self.bar is not None:
            self.bar.close()
            self.bar = None


__all__ = ["BatchProgress"]
