"""Resource bounds of the gaze readers, checked before anything is allocated.

The bounds themselves live in :mod:`sam_compose.security.limits` (one place for every
limit of the project): ``line_bytes`` (longest line, ``SAM_COMPOSE_MAX_LINE_BYTES``),
``gaze_bytes`` (bytes read from one recording after decompression,
``SAM_COMPOSE_MAX_GAZE_BYTES``) and ``gaze_rows`` (``SAM_COMPOSE_MAX_GAZE_ROWS``). A reader
streams its file: it never assembles a line longer than ``line_bytes`` (a small gzip file
that inflates to one endless line is refused after reading that much of it) and stops past
``gaze_rows`` rows. Going over raises :class:`~.errors.GazeLimitError` (a ``LimitError``
and a ``GazeError``) naming the limit and its variable.
"""

from __future__ import annotations

from typing import cast

from ....security import limits
from .errors import GazeLimitError

__all__ = ["check_rows", "line_too_long", "max_bytes", "max_line_bytes", "max_rows", "too_many_bytes"]

_SHORTER = "split the recording or read a shorter export"


def max_line_bytes() -> int:
    """The line bound in force (``line_bytes``)."""
    return limits.get("line_bytes")


def max_bytes() -> int:
    """The bound on the bytes read from one recording (``gaze_bytes``)."""
    return limits.get("gaze_bytes")


def max_rows() -> int:
    """The row bound in force (``gaze_rows``)."""
    return limits.get("gaze_rows")


def _name(where: object) -> str:
    return getattr(where, "name", None) or str(where)


def check_rows(n: int, where: object) -> None:
    """Raise :class:`GazeLimitError` once a recording has more than ``gaze_rows`` rows."""
    limits.check("gaze_rows", n, f"gaze file {_name(where)}", _SHORTER, error=GazeLimitError)


def _over(name: str, value: int, where: object, fix: str, part: str = "") -> GazeLimitError:
    """The :class:`GazeLimitError` for ``value`` over the limit ``name`` in the gaze file ``where``."""
    return cast(GazeLimitError, limits.over(name, value, f"gaze file {_name(where)}{part}", fix, error=GazeLimitError))


def line_too_long(where: object, length: int) -> GazeLimitError:
    """The error for a line of ``length`` bytes (or more) over ``line_bytes``."""
    return _over("line_bytes", length, where, "is it really a line-per-sample recording?", ": a line")


def too_many_bytes(where: object, total: int) -> GazeLimitError:
    """The error for a recording that inflates past ``gaze_bytes``."""
    return _over("gaze_bytes", total, where, _SHORTER)
