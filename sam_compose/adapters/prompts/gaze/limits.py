"""Resource bounds of the gaze readers, checked before anything is allocated.

A reader streams its file: it never reads a line longer than :data:`MAX_LINE_BYTES`
(a gzip bomb holding one 4 GiB line is refused after reading at most that many bytes)
and stops with :class:`~.errors.GazeLimitError` past :data:`MAX_ROWS` rows. Both can be
raised through environment variables for trusted, unusually large recordings.

These are module constants so that they can move to the project's central limits module
(``sam_compose.limits``, issue 13) without changing the readers.
"""

from __future__ import annotations

import os

from .errors import GazeLimitError

__all__ = ["MAX_LINE_BYTES", "MAX_ROWS", "check_rows", "max_line_bytes", "max_rows"]

MAX_LINE_BYTES = 1 << 20
"""Longest line (bytes) of a gaze CSV or JSON-lines file: 1 MiB (a real row is < 2 KiB)."""
MAX_ROWS = 50_000_000
"""Most rows in one recording: 50 M (> 69 h at 200 Hz, > 11 h at 1200 Hz)."""
ENV_LINE = "SAM_COMPOSE_GAZE_MAX_LINE_BYTES"
ENV_ROWS = "SAM_COMPOSE_GAZE_MAX_ROWS"


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw)
    except ValueError:
        return default
    return value if value > 0 else default


def max_line_bytes() -> int:
    """The line bound in force (:data:`MAX_LINE_BYTES` or ``$SAM_COMPOSE_GAZE_MAX_LINE_BYTES``)."""
    return _env_int(ENV_LINE, MAX_LINE_BYTES)


def max_rows() -> int:
    """The row bound in force (:data:`MAX_ROWS` or ``$SAM_COMPOSE_GAZE_MAX_ROWS``)."""
    return _env_int(ENV_ROWS, MAX_ROWS)


def check_rows(n: int, where: object) -> None:
    """Raise :class:`GazeLimitError` when a recording has read more than :func:`max_rows` rows."""
    limit = max_rows()
    if n > limit:
        raise GazeLimitError(f"{where}: more than {limit} gaze rows; the reader stops there (raise the limit "
                             f"with {ENV_ROWS}=N for a trusted recording, or split the file)")


def line_too_long(where: object, lineno: int) -> GazeLimitError:
    """The error for a line over :func:`max_line_bytes`."""
    return GazeLimitError(f"{where}: line {lineno} is longer than {max_line_bytes()} bytes; not a gaze recording "
                          f"(raise the limit with {ENV_LINE}=N if it really is one)")
