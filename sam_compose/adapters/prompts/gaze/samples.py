"""Gaze data types: :class:`GazeSamples` (a recording, or one chunk of it) and :class:`Fixation`.

Conventions (every reader converts to these):

* ``t`` is time in **seconds** (float64, the recording's own clock; not shifted to 0).
* ``x``, ``y`` are **pixels of the scene frame** (the scene camera image, or the screen),
  origin at the **top left**, x to the right, y down. ``frame_size`` is that frame's
  (width, height) in pixels. Normalised recordings are scaled by ``frame_size`` on reading;
  :meth:`GazeSamples.normalized` gives them back in 0..1.
* ``valid`` marks usable samples; readers already clear it for samples the device flags
  (not worn, blink, confidence below the threshold). NaN coordinates are always invalid.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Sequence

import numpy as np

from ....errors import InputError

__all__ = ["GazeSamples", "Fixation", "GazeError", "NoFixationError"]


class GazeError(InputError):
    """A gaze recording or gaze parameter is unusable; the message says why and how to fix it."""


class NoFixationError(GazeError):
    """Nothing in the recording is a fixation that can prompt the engine."""


@dataclass(frozen=True)
class Fixation:
    """One fixation: where the eye rested and for how long.

    ``x``, ``y`` are pixels of the frame the fixation was detected in (the scene frame for
    :func:`detect_fixations`; image pixels once mapped by :func:`gaze_to_prompts`), origin
    top left. ``start``, ``end`` and ``duration`` are seconds. ``dispersion`` is the
    Salvucci dispersion (x range + y range, pixels) of its samples; ``n_samples`` how many
    valid samples it spans; ``frame`` the video frame index when matched to a video.
    """

    x: float
    y: float
    start: float
    end: float
    duration: float
    n_samples: int = 0
    dispersion: float = 0.0
    frame: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly provenance record (floats rounded to 4 decimals)."""
        out: dict[str, Any] = {
            "x": round(float(self.x), 4), "y": round(float(self.y), 4),
            "start": round(float(self.start), 6), "end": round(float(self.end), 6),
            "duration": round(float(self.duration), 6), "n_samples": int(self.n_samples),
            "dispersion": round(float(self.dispersion), 4),
        }
        if self.frame is not None:
            out["frame"] = int(self.frame)
        return out

    def moved(self, x: float, y: float) -> "Fixation":
        """The same fixation at another position (e.g. after mapping to image pixels)."""
        return replace(self, x=float(x), y=float(y))


def _vec(value: Any, n: int | None, name: str, dtype: Any) -> np.ndarray:
    arr = np.asarray(value, dtype=dtype).reshape(-1)
    if n is not None and arr.shape[0] != n:
        raise GazeError(f"gaze field {name!r} has {arr.shape[0]} values, expected {n} (one per sample)")
    return arr


@dataclass
class GazeSamples:
    """Gaze samples of one recording, or one chunk of a streamed recording.

    Arrays are (N,): ``t`` seconds, ``x``/``y`` scene-frame pixels (top-left origin),
    ``valid`` bool, ``confidence`` in 0..1 (NaN where the device gives none).
    ``frame_size`` is the scene frame's (width, height), or None when the coordinates are
    already pixels of the image to segment (e.g. a screen-based tracker over that image). ``fixations`` holds fixations the
    device software already detected (e.g. Pupil Labs ``fixations.csv``); then
    :func:`detect_fixations` returns those. ``dropped`` counts samples marked invalid, by
    reason. ``source`` names the format, ``meta`` holds anything else (path, device).
    """

    t: np.ndarray
    x: np.ndarray
    y: np.ndarray
    frame_size: tuple[int, int] | None
    valid: np.ndarray | None = None
    confidence: np.ndarray | None = None
    source: str = "samples"
    fixations: list[Fixation] | None = None
    dropped: dict[str, int] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.t = _vec(self.t, None, "t", np.float64)
        n = self.t.shape[0]
        self.x = _vec(self.x, n, "x", np.float64)
        self.y = _vec(self.y, n, "y", np.float64)
        finite = np.isfinite(self.x) & np.isfinite(self.y) & np.isfinite(self.t)
        self.valid = finite if self.valid is None else (_vec(self.valid, n, "valid", bool) & finite)
        self.confidence = (np.full(n, np.nan) if self.confidence is None
                           else _vec(self.confidence, n, "confidence", np.float64))
        if self.frame_size is None:
            return
        try:
            w, h = (int(v) for v in self.frame_size)
        except (TypeError, ValueError) as exc:
            raise GazeError(f"frame_size must be (width, height) in pixels, got {self.frame_size!r}") from exc
        if w <= 0 or h <= 0:
            raise GazeError(f"frame_size must be positive (width, height), got {self.frame_size!r}")
        self.frame_size = (w, h)

    # -- construction ------------------------------------------------------------------
    @classmethod
    def from_arrays(cls, t: Any, x: Any, y: Any, *, frame_size: Sequence[int], units: str = "px",
                    origin: str = "top-left", valid: Any = None, confidence: Any = None,
                    source: str = "arrays") -> "GazeSamples":
        """Build samples from arrays; ``units`` "px" or "norm", ``origin`` "top-left" or "bottom-left"."""
        from .coords import to_frame_pixels

        w, h = (int(v) for v in frame_size)
        px, py = to_frame_pixels(np.asarray(x, np.float64), np.asarray(y, np.float64), (w, h), units, origin)
        return cls(t=t, x=px, y=py, frame_size=(w, h), valid=valid, confidence=confidence, source=source)

    @classmethod
    def concat(cls, parts: Iterable["GazeSamples"]) -> "GazeSamples":
        """Join chunks of one recording (same frame size) into one object."""
        items = list(parts)
        if not items:
            raise GazeError("no gaze samples to join: the recording yielded no chunks")
        sizes = {p.frame_size for p in items}
        if len(sizes) > 1:
            raise GazeError(f"gaze chunks have different frame sizes {sorted(sizes)}; read them separately")
        dropped: dict[str, int] = {}
        fix: list[Fixation] | None = None
        for p in items:
            for k, v in p.dropped.items():
                dropped[k] = dropped.get(k, 0) + int(v)
            if p.fixations is not None:
                fix = (fix or []) + list(p.fixations)
        first = items[0]
        return cls(
            t=np.concatenate([p.t for p in items]), x=np.concatenate([p.x for p in items]),
            y=np.concatenate([p.y for p in items]), frame_size=first.frame_size,
            valid=np.concatenate([p.valid for p in items]),
            confidence=np.concatenate([p.confidence for p in items]),
            source=first.source, fixations=fix, dropped=dropped, meta=dict(first.meta),
        )

    # -- views -------------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self.t.shape[0])

    def __getitem__(self, index: Any) -> "GazeSamples":
        """Row selection (slice, boolean mask or index array) keeping frame size and source."""
        if isinstance(index, (int, np.integer)):
            index = slice(int(index), int(index) + 1)
        return GazeSamples(t=self.t[index], x=self.x[index], y=self.y[index], frame_size=self.frame_size,
                           valid=self.valid[index], confidence=self.confidence[index], source=self.source,
                           fixations=self.fixations, meta=dict(self.meta))

    @property
    def n_valid(self) -> int:
        return int(np.count_nonzero(self.valid))

    @property
    def duration(self) -> float:
        """Seconds from the first to the last sample (0 for fewer than two samples)."""
        return float(self.t[-1] - self.t[0]) if len(self) > 1 else 0.0

    @property
    def rate(self) -> float:
        """Median sampling rate in Hz (NaN for fewer than two samples)."""
        if len(self) < 2:
            return float("nan")
        dt = np.diff(self.t)
        dt = dt[dt > 0]
        return float(1.0 / np.median(dt)) if dt.size else float("nan")

    def normalized(self) -> tuple[np.ndarray, np.ndarray]:
        """(x, y) in 0..1 of the scene frame, origin top left."""
        if self.frame_size is None:
            raise GazeError("these gaze samples are image pixels (no frame_size); normalising needs frame_size=(W, H)")
        w, h = self.frame_size
        return self.x / w, self.y / h

    def describe(self) -> dict[str, Any]:
        """Short JSON-friendly summary (counts, duration, rate, drop reasons)."""
        return {"source": self.source, "samples": len(self), "valid": self.n_valid,
                "duration_s": round(self.duration, 3),
                "rate_hz": None if not np.isfinite(self.rate) else round(self.rate, 2),
                "frame_size": None if self.frame_size is None else list(self.frame_size), "dropped": dict(self.dropped),
                "fixations_in_file": None if self.fixations is None else len(self.fixations)}

    def __repr__(self) -> str:
        return (f"GazeSamples(source={self.source!r}, n={len(self)}, valid={self.n_valid}, "
                f"duration={self.duration:.3f}s, frame_size={self.frame_size})")
