"""Units at the reader boundary: coordinates (px / normalised, origin), times (s / ms / us / ns), sizes.

Every size here is **(height, width)** pixels (``scene_size`` of the recording's scene
camera, ``image_size`` of the picture); points are (x, y) with the origin at the top left.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .errors import GazeError

__all__ = [
    "ORIGINS",
    "TIME_SCALE",
    "UNITS",
    "as_size",
    "check_units",
    "infer_time_unit",
    "size_text",
    "to_scene_pixels",
]

UNITS = ("px", "norm")
ORIGINS = ("top-left", "bottom-left")
TIME_SCALE = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}
"""Seconds per unit of each time unit a reader converts."""


def as_size(value: Any, name: str = "scene_size") -> tuple[int, int]:
    """``value`` as a validated (height, width) pair of positive ints; :class:`GazeError` otherwise."""
    try:
        h, w = (int(v) for v in value)
    except (TypeError, ValueError) as exc:
        raise GazeError(f"{name} must be (height, width) in pixels, got {value!r}") from exc
    if h <= 0 or w <= 0:
        raise GazeError(f"{name} must be positive (height, width), got {value!r}")
    return h, w


def size_text(size: Sequence[int]) -> str:
    """``(H, W)`` as the ``WxH`` people read ("a 1088x1080 scene camera")."""
    return f"{int(size[1])}x{int(size[0])}"


def to_scene_pixels(
    x: np.ndarray, y: np.ndarray, scene_size: tuple[int, int], units: str, origin: str
) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates in ``units`` ("px" | "norm") with ``origin`` ("top-left" | "bottom-left")
    -> top-left pixels of a scene frame of ``scene_size`` (H, W)."""
    if units not in UNITS:
        raise GazeError(f"gaze units must be one of {UNITS} (pixels or normalised 0..1), got {units!r}")
    if origin not in ORIGINS:
        raise GazeError(f"gaze origin must be one of {ORIGINS}, got {origin!r}")
    h, w = scene_size
    if units == "norm":
        px, py = np.asarray(x, np.float64) * w, np.asarray(y, np.float64) * h
    else:
        px, py = np.array(x, np.float64, copy=True), np.array(y, np.float64, copy=True)
    if origin == "bottom-left":
        py = h - py
    return px, py


def check_units(x: np.ndarray, y: np.ndarray, units: str, scene_size: tuple[int, int] | None, where: str) -> None:
    """Refuse coordinates that contradict their declared units.

    Pixels that all lie within 0..1 of a frame larger than 2x2 are normalised values
    declared as pixels; "normalised" values mostly far above 1 are pixels. Needs at least
    20 finite samples to judge.
    """
    ok = np.isfinite(x) & np.isfinite(y)
    if np.count_nonzero(ok) < 20:
        return
    xs, ys = np.abs(x[ok]), np.abs(y[ok])
    big = scene_size is None or min(scene_size) > 2
    if units == "px" and big and xs.max() <= 1.0 and ys.max() <= 1.0:
        frame = "" if scene_size is None else f" of a {size_text(scene_size)} frame"
        raise GazeError(
            f"{where}: every gaze value lies within 0..1 although the units are pixels{frame}; these look like "
            "normalised coordinates: read them with units='norm' (and origin='bottom-left' if y points up)"
        )
    if units == "norm" and np.mean((xs > 2.0) | (ys > 2.0)) > 0.5:
        raise GazeError(
            f"{where}: most gaze values are far above 1 (max x {xs.max():.4g}, y {ys.max():.4g}) although "
            "the units are normalised 0..1; these look like pixels: read them with units='px' and scene_size=(H, W)"
        )


def infer_time_unit(t: np.ndarray) -> str | None:
    """The time unit that makes the median sample interval a plausible eye-tracker rate.

    Eye trackers sample at 10..5000 Hz, i.e. every 0.2..100 ms: a median interval of
    0.0002..0.1 is seconds, 0.2..100 milliseconds, 200..100000 microseconds and
    200000..1e8 nanoseconds. Returns None when fewer than 3 increasing times are given or
    the interval fits no unit.
    """
    tt = np.asarray(t, np.float64)
    tt = tt[np.isfinite(tt)]
    if tt.size < 3:
        return None
    dt = np.diff(tt)
    dt = dt[dt > 0]
    if dt.size == 0:
        return None
    med = float(np.median(dt))
    for unit, (lo, hi) in (
        ("s", (1.5e-4, 0.15)),
        ("ms", (0.15, 150.0)),
        ("us", (150.0, 1.5e5)),
        ("ns", (1.5e5, 1.5e8)),
    ):
        if lo <= med < hi:
            return unit
    return None
