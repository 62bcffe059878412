"""Gaze data types: :class:`GazeSamples` (a recording, or one chunk of it) and :class:`Fixation`.

Conventions (every reader converts to these; docs/conventions.md):

* ``t`` is time in **seconds** (float64, the recording's own clock; not shifted to 0).
* ``x``, ``y`` are **pixels of the scene frame** (the scene camera image, or the screen),
  origin at the **top left**, x to the right, y down. ``scene_size`` is that frame's
  (height, width) in pixels. Normalised recordings are scaled by ``scene_size`` on reading;
  :meth:`GazeSamples.normalized` gives them back in 0..1.
* ``valid`` marks usable samples; readers already clear it for samples the device flags
  (not worn, blink, confidence below the threshold). NaN coordinates are always invalid.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .compat import scene_size_arg
from .errors import GazeError, GazeLimitError, NoFixationError
from .units import as_size, size_text, to_scene_pixels

__all__ = ["Fixation", "GazeError", "GazeLimitError", "GazeSamples", "NoFixationError", "merge_fixation_parts"]


@dataclass(frozen=True)
class Fixation:
    """One fixation: where the eye rested and for how long.

    ``x``, ``y`` are pixels of the frame the fixation was detected in (the scene frame for
    :func:`detect_fixations`; image pixels once mapped by :func:`gaze_to_prompts`), origin
    top left. ``start``, ``end`` and ``duration`` are seconds. ``dispersion`` is the
    Salvucci dispersion (x range + y range, pixels) of its samples; ``n_samples`` how many
    valid samples it spans; ``frame`` the video frame index when matched to a video;
    ``id`` the device's fixation id when the fixation comes from the recording (vendor
    fixations), else None.
    """

    x: float
    y: float
    start: float
    end: float
    duration: float
    n_samples: int = 0
    dispersion: float = 0.0
    frame: int | None = None
    id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly provenance record (floats rounded)."""
        out: dict[str, Any] = {
            "x": round(float(self.x), 4),
            "y": round(float(self.y), 4),
            "start": round(float(self.start), 6),
            "end": round(float(self.end), 6),
            "duration": round(float(self.duration), 6),
            "n_samples": int(self.n_samples),
            "dispersion": round(float(self.dispersion), 4),
        }
        if self.frame is not None:
            out["frame"] = int(self.frame)
        if self.id is not None:
            out["id"] = int(self.id)
        return out

    def moved(self, x: float, y: float) -> Fixation:
        """The same fixation at another position (e.g. after mapping to image pixels)."""
        return replace(self, x=float(x), y=float(y))


def merge_fixation_parts(fixations: Sequence[Fixation]) -> list[Fixation]:
    """Join consecutive parts of one device fixation (same ``id``, e.g. split across read chunks).

    Parts are averaged by their sample counts; fixations without an id pass unchanged.
    """
    out: list[Fixation] = []
    for f in fixations:
        prev = out[-1] if out else None
        if prev is not None and f.id is not None and prev.id == f.id:
            n = prev.n_samples + f.n_samples
            w0 = prev.n_samples / n if n else 0.5
            out[-1] = replace(
                prev,
                x=prev.x * w0 + f.x * (1 - w0),
                y=prev.y * w0 + f.y * (1 - w0),
                start=min(prev.start, f.start),
                end=max(prev.end, f.end),
                duration=max(prev.end, f.end) - min(prev.start, f.start),
                n_samples=n,
                dispersion=max(prev.dispersion, f.dispersion),
            )
        else:
            out.append(f)
    return out


def _vec(value: Any, n: int | None, name: str, dtype: Any) -> np.ndarray:
    arr = np.asarray(value, dtype=dtype).reshape(-1)
    if n is not None and arr.shape[0] != n:
        raise GazeError(f"gaze field {name!r} has {arr.shape[0]} values, expected {n} (one per sample)")
    return arr


class GazeSamples:
    """Gaze samples of one recording, or one chunk of a streamed recording.

    Arrays are (N,): ``t`` seconds, ``x``/``y`` scene-frame pixels (top-left origin),
    ``valid`` bool, ``confidence`` in 0..1 (NaN where the device gives none).
    ``scene_size`` is the scene frame's (height, width), or None when the coordinates are
    already pixels of the image to segment (e.g. a screen-based tracker over that image).
    ``fixations`` holds fixations the device software already detected (Pupil Cloud's
    ``fixation id``, ``fixations.csv``, Tobii events); :func:`detect_fixations` returns
    those unless asked to detect. ``dropped`` counts samples marked invalid, by reason.
    ``source`` names the format, ``meta`` holds anything else (path, device, how the scene
    size was decided).

    ``frame_size=(W, H)`` (keyword and attribute) is the deprecated spelling of
    ``scene_size``.
    """

    def __init__(
        self,
        t: Any,
        x: Any,
        y: Any,
        scene_size: Sequence[int] | None = None,
        valid: Any = None,
        confidence: Any = None,
        source: str = "samples",
        fixations: list[Fixation] | None = None,
        dropped: dict[str, int] | None = None,
        meta: dict[str, Any] | None = None,
        *,
        frame_size: Sequence[int] | None = None,
    ) -> None:
        self.t = _vec(t, None, "t", np.float64)
        n = self.t.shape[0]
        self.x = _vec(x, n, "x", np.float64)
        self.y = _vec(y, n, "y", np.float64)
        finite = np.isfinite(self.x) & np.isfinite(self.y) & np.isfinite(self.t)
        self.valid = finite if valid is None else (_vec(valid, n, "valid", bool) & finite)
        self.confidence = np.full(n, np.nan) if confidence is None else _vec(confidence, n, "confidence", np.float64)
        self.scene_size: tuple[int, int] | None = scene_size_arg(scene_size, frame_size, "GazeSamples")
        self.source = source
        self.fixations = fixations
        self.dropped: dict[str, int] = dict(dropped or {})
        self.meta: dict[str, Any] = dict(meta or {})

    # -- deprecated spelling -----------------------------------------------------------
    @property
    def frame_size(self) -> tuple[int, int] | None:
        """Deprecated: (width, height); use :attr:`scene_size` (height, width)."""
        warnings.warn(
            "GazeSamples.frame_size (W, H) is deprecated; use GazeSamples.scene_size (H, W)",
            DeprecationWarning,
            stacklevel=2,
        )
        return None if self.scene_size is None else (self.scene_size[1], self.scene_size[0])

    @frame_size.setter
    def frame_size(self, value: Sequence[int] | None) -> None:
        warnings.warn(
            "GazeSamples.frame_size (W, H) is deprecated; set GazeSamples.scene_size (H, W)",
            DeprecationWarning,
            stacklevel=2,
        )
        if value is None:
            self.scene_size = None
        else:
            w, h = as_size(value, "frame_size")  # given as (W, H)
            self.scene_size = (h, w)

    # -- construction ------------------------------------------------------------------
    @classmethod
    def from_arrays(
        cls,
        t: Any,
        x: Any,
        y: Any,
        *,
        scene_size: Sequence[int] | None = None,
        units: str = "px",
        origin: str = "top-left",
        valid: Any = None,
        confidence: Any = None,
        source: str = "arrays",
        frame_size: Sequence[int] | None = None,
    ) -> GazeSamples:
        """Build samples from arrays; ``units`` "px" or "norm", ``origin`` "top-left" or "bottom-left";
        ``scene_size`` (H, W) of the frame the coordinates refer to."""
        size = scene_size_arg(scene_size, frame_size, "GazeSamples.from_arrays")
        if size is None:
            raise GazeError("GazeSamples.from_arrays needs scene_size=(H, W) of the scene frame")
        px, py = to_scene_pixels(np.asarray(x, np.float64), np.asarray(y, np.float64), size, units, origin)
        return cls(t=t, x=px, y=py, scene_size=size, valid=valid, confidence=confidence, source=source)

    @classmethod
    def concat(cls, parts: Iterable[GazeSamples]) -> GazeSamples:
        """Join chunks of one recording (same scene size) into one object."""
        items = list(parts)
        if not items:
            raise GazeError("no gaze samples to join: the recording yielded no chunks")
        sizes = {p.scene_size for p in items}
        if len(sizes) > 1:
            raise GazeError(f"gaze chunks have different scene sizes {sorted(sizes, key=str)}; read them separately")
        dropped: dict[str, int] = {}
        fix: list[Fixation] | None = None
        for p in items:
            for k, v in p.dropped.items():
                dropped[k] = dropped.get(k, 0) + int(v)
            if p.fixations is not None:
                fix = (fix or []) + list(p.fixations)
        if fix is not None:
            fix = merge_fixation_parts(fix)
        first = items[0]
        return cls(
            t=np.concatenate([p.t for p in items]),
            x=np.concatenate([p.x for p in items]),
            y=np.concatenate([p.y for p in items]),
            scene_size=first.scene_size,
            valid=np.concatenate([p.valid for p in items]),
            confidence=np.concatenate([p.confidence for p in items]),
            source=first.source,
            fixations=fix,
            dropped=dropped,
            meta=dict(items[-1].meta),
        )

    # -- views -------------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self.t.shape[0])

    def __getitem__(self, index: Any) -> GazeSamples:
        """Row selection (slice, boolean mask or index array) keeping scene size and source."""
        if isinstance(index, (int, np.integer)):
            index = slice(int(index), int(index) + 1)
        return GazeSamples(
            t=self.t[index],
            x=self.x[index],
            y=self.y[index],
            scene_size=self.scene_size,
            valid=self.valid[index],
            confidence=self.confidence[index],
            source=self.source,
            fixations=self.fixations,
            meta=dict(self.meta),
        )

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
        if self.scene_size is None:
            raise GazeError("these gaze samples are image pixels (no scene_size); normalising needs scene_size=(H, W)")
        h, w = self.scene_size
        return self.x / w, self.y / h

    def describe(self) -> dict[str, Any]:
        """Short JSON-friendly summary (counts, duration, rate, drop reasons)."""
        out = {
            "source": self.source,
            "samples": len(self),
            "valid": self.n_valid,
            "duration_s": round(self.duration, 3),
            "rate_hz": None if not np.isfinite(self.rate) else round(self.rate, 2),
            "scene_size": None if self.scene_size is None else list(self.scene_size),
            "dropped": dict(self.dropped),
            "fixations_in_file": None if self.fixations is None else len(self.fixations),
        }
        if "device" in self.meta:
            out["device"] = self.meta["device"]
        return out

    def __repr__(self) -> str:
        size = None if self.scene_size is None else size_text(self.scene_size)
        return (
            f"GazeSamples(source={self.source!r}, n={len(self)}, valid={self.n_valid}, "
            f"duration={self.duration:.3f}s, scene={size})"
        )
