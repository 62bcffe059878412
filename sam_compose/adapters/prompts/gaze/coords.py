"""Gaze coordinates: normalised / scene-camera pixels -> image pixels, degrees <-> pixels, frames.

* Scene frame: what the eye tracker reports against (the scene camera image or the screen),
  (width, height) pixels, origin top left after reading (see :mod:`.samples`).
* Image: the picture being segmented, (height, width) as everywhere in sam_compose. It
  shows the scene frame, possibly **cropped** (``crop`` = x0, y0, x1, y1 in scene pixels:
  the part of the scene frame the image shows) and **resized** (to the image size).
* Video: each sample or fixation is matched to the frame shown at its time
  (:func:`match_frames`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Sequence

import numpy as np

from .samples import Fixation, GazeError

__all__ = ["to_frame_pixels", "SceneToImage", "px_per_degree", "match_frames", "assign_frames", "check_units"]

UNITS = ("px", "norm")
ORIGINS = ("top-left", "bottom-left")


def to_frame_pixels(x: np.ndarray, y: np.ndarray, frame_size: tuple[int, int], units: str,
                    origin: str) -> tuple[np.ndarray, np.ndarray]:
    """Convert coordinates in ``units`` ("px" | "norm") with ``origin`` ("top-left" |
    "bottom-left") to top-left scene-frame pixels of ``frame_size`` (width, height)."""
    if units not in UNITS:
        raise GazeError(f"gaze units must be one of {UNITS} (pixels or normalised 0..1), got {units!r}")
    if origin not in ORIGINS:
        raise GazeError(f"gaze origin must be one of {ORIGINS}, got {origin!r}")
    w, h = frame_size
    if units == "norm":
        px, py = x * w, y * h
    else:
        px, py = x.astype(np.float64, copy=True), y.astype(np.float64, copy=True)
    if origin == "bottom-left":
        py = h - py
    return px, py


def check_units(x: np.ndarray, y: np.ndarray, units: str, frame_size: tuple[int, int], where: str) -> None:
    """Refuse coordinates that contradict their declared units.

    Pixels that all lie within 0..1 of a frame larger than 2x2 are normalised values
    declared as pixels; "normalised" values mostly far above 1 are pixels. Needs at least
    20 finite samples to judge.
    """
    ok = np.isfinite(x) & np.isfinite(y)
    if np.count_nonzero(ok) < 20:
        return
    xs, ys = np.abs(x[ok]), np.abs(y[ok])
    if units == "px" and min(frame_size) > 2 and xs.max() <= 1.0 and ys.max() <= 1.0:
        raise GazeError(
            f"{where}: every gaze value lies within 0..1 although the units are pixels of a "
            f"{frame_size[0]}x{frame_size[1]} frame; these look like normalised coordinates: "
            "read them with units='norm' (and origin='bottom-left' if y points up)")
    if units == "norm" and np.mean((xs > 2.0) | (ys > 2.0)) > 0.5:
        raise GazeError(
            f"{where}: most gaze values are far above 1 (max x {xs.max():.4g}, y {ys.max():.4g}) although "
            "the units are normalised 0..1; these look like pixels: read them with units='px' and frame_size=(W, H)")


def px_per_degree(frame_size: tuple[int, int], fov: Sequence[float] | float) -> float:
    """Pixels per degree of visual angle for a scene camera of ``fov`` degrees.

    ``fov`` is (horizontal, vertical) or one horizontal value. Uses the linear
    approximation width / fov_h (and the mean with height / fov_v), which is exact at the
    image centre of an ideal pinhole camera to within a few percent for fields below ~100 deg.
    """
    vals = np.atleast_1d(np.asarray(fov, dtype=np.float64))
    if vals.size not in (1, 2) or not np.isfinite(vals).all() or (vals <= 0).any() or (vals >= 180).any():
        raise GazeError(f"fov must be degrees (horizontal[, vertical]) in (0, 180), got {fov!r}")
    w, h = frame_size
    if vals.size == 1:
        return float(w / vals[0])
    return float(0.5 * (w / vals[0] + h / vals[1]))


@dataclass(frozen=True)
class SceneToImage:
    """Map scene-frame pixels to image pixels through an optional crop and a resize.

    ``frame_size`` (width, height) of the scene frame; ``image_size`` (height, width) of
    the image; ``crop`` (x0, y0, x1, y1) scene pixels shown by the image (default: the
    whole frame). The image is the crop resized to ``image_size``.
    """

    frame_size: tuple[int, int]
    image_size: tuple[int, int]
    crop: tuple[float, float, float, float] | None = None

    def __post_init__(self) -> None:
        w, h = self.frame_size
        ih, iw = self.image_size
        if min(w, h, ih, iw) <= 0:
            raise GazeError(f"frame size {self.frame_size} and image size {self.image_size} must be positive")
        if self.crop is not None:
            c = np.asarray(self.crop, dtype=np.float64).reshape(-1)
            if c.shape != (4,) or not np.isfinite(c).all() or c[2] <= c[0] or c[3] <= c[1]:
                raise GazeError(f"crop must be x0, y0, x1, y1 scene pixels with x1 > x0, y1 > y0; got {self.crop!r}")
            object.__setattr__(self, "crop", tuple(float(v) for v in c))

    @property
    def _crop(self) -> tuple[float, float, float, float]:
        return self.crop if self.crop is not None else (0.0, 0.0, float(self.frame_size[0]), float(self.frame_size[1]))

    def __call__(self, x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
        """Scene pixels -> image pixels (arrays of any shape)."""
        x0, y0, x1, y1 = self._crop
        ih, iw = self.image_size
        return ((np.asarray(x, np.float64) - x0) * (iw / (x1 - x0)),
                (np.asarray(y, np.float64) - y0) * (ih / (y1 - y0)))

    def inverse(self, u: Any, v: Any) -> tuple[np.ndarray, np.ndarray]:
        """Image pixels -> scene pixels."""
        x0, y0, x1, y1 = self._crop
        ih, iw = self.image_size
        return (np.asarray(u, np.float64) * ((x1 - x0) / iw) + x0,
                np.asarray(v, np.float64) * ((y1 - y0) / ih) + y0)

    @property
    def scale(self) -> float:
        """Image pixels per scene pixel (geometric mean of the two axes)."""
        x0, y0, x1, y1 = self._crop
        ih, iw = self.image_size
        return float(np.sqrt((iw / (x1 - x0)) * (ih / (y1 - y0))))

    def map_fixation(self, f: Fixation) -> Fixation:
        u, v = self(f.x, f.y)
        return f.moved(float(u), float(v))

    def inside(self, u: Any, v: Any) -> np.ndarray:
        """Whether image pixels (u, v) fall inside the image."""
        ih, iw = self.image_size
        u, v = np.asarray(u), np.asarray(v)
        return (u >= 0) & (u < iw) & (v >= 0) & (v < ih)


def match_frames(times: Any, frame_times: Any = None, *, fps: float | None = None,
                 start: float = 0.0, n_frames: int | None = None) -> np.ndarray:
    """Index of the video frame shown at each time in ``times`` (seconds); -1 when none.

    Give ``frame_times`` (the frames' presentation timestamps in seconds, increasing, on
    the gaze clock; Pupil Labs ``world_timestamps.csv``, Tobii scene video timestamps) or
    ``fps`` with the video's ``start`` time on the gaze clock. A time belongs to the last
    frame that started at or before it; times before the first frame or after the last
    frame's end (one median frame interval) get -1.
    """
    t = np.asarray(times, dtype=np.float64).reshape(-1)
    if frame_times is None:
        if fps is None or not np.isfinite(fps) or fps <= 0:
            raise GazeError("match_frames needs frame_times (seconds per frame) or a positive fps")
        idx = np.floor((t - start) * fps + 1e-9).astype(np.int64)
        bad = (idx < 0) | ~np.isfinite(t)
        if n_frames is not None:
            bad |= idx >= n_frames
        idx[bad] = -1
        return idx
    ft = np.asarray(frame_times, dtype=np.float64).reshape(-1)
    if ft.size == 0:
        raise GazeError("match_frames got no frame timestamps (a video with zero frames?)")
    if ft.size > 1 and (np.diff(ft) <= 0).any():
        bad_i = int(np.flatnonzero(np.diff(ft) <= 0)[0]) + 1
        raise GazeError(f"frame timestamps must increase; frame {bad_i} ({ft[bad_i]:.6f}s) is not after frame {bad_i - 1}")
    idx = np.searchsorted(ft, t, side="right") - 1
    period = float(np.median(np.diff(ft))) if ft.size > 1 else np.inf
    idx[(idx < 0) | ~np.isfinite(t) | (t >= ft[-1] + period)] = -1
    return idx.astype(np.int64)


def assign_frames(fixations: Sequence[Fixation], frame_times: Any = None, *, fps: float | None = None,
                  start: float = 0.0, at: str = "end", n_frames: int | None = None) -> list[Fixation]:
    """Each fixation with ``frame`` set to the video frame shown at its ``start``, ``end`` or ``mid`` time.

    ``at="end"`` (default) is the first frame on which the fixation is known to have
    happened (a tracker can start or refresh an object there); fixations outside the
    video are dropped. Clock and arguments as in :func:`match_frames`.
    """
    if at not in ("start", "end", "mid"):
        raise GazeError(f"at must be 'start', 'end' or 'mid', got {at!r}")
    if not fixations:
        return []
    when = np.array([f.start if at == "start" else f.end if at == "end" else 0.5 * (f.start + f.end)
                     for f in fixations])
    idx = match_frames(when, frame_times, fps=fps, start=start, n_frames=n_frames)
    return [replace(f, frame=int(i)) for f, i in zip(fixations, idx) if i >= 0]
