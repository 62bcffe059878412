"""Gaze coordinates: scene-camera pixels -> image pixels, degrees <-> pixels, video frames.

* Scene frame: what the eye tracker reports against (the scene camera image or the screen),
  ``scene_size`` (height, width) pixels, origin top left after reading (see :mod:`.samples`).
* Image: the picture being segmented, ``image_size`` (height, width). It shows the scene
  frame, possibly **cropped** (``crop`` = x0, y0, x1, y1 in scene pixels: the part of the
  scene frame the image shows) and **resized** (to the image size).
* Video: each sample or fixation is matched to the frame shown at its time
  (:func:`match_frames`); ``video_start`` is the gaze-clock time (s) of video frame 0.

Coordinate conversions of raw values (normalised, bottom-left origin) live in :mod:`.units`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from .compat import scene_size_arg, video_start_arg
from .errors import GazeError
from .samples import Fixation
from .units import as_size, check_units, to_scene_pixels

__all__ = [
    "SceneToImage",
    "assign_frames",
    "check_units",
    "match_frames",
    "px_per_degree",
    "to_frame_pixels",
    "to_scene_pixels",
]


def to_frame_pixels(
    x: np.ndarray, y: np.ndarray, frame_size: tuple[int, int], units: str, origin: str
) -> tuple[np.ndarray, np.ndarray]:
    """Deprecated: :func:`.units.to_scene_pixels` with ``scene_size`` (H, W) instead of (W, H)."""
    import warnings

    warnings.warn(
        "to_frame_pixels(x, y, (W, H), ...) is deprecated; use units.to_scene_pixels(x, y, (H, W), ...)",
        DeprecationWarning,
        stacklevel=2,
    )
    return to_scene_pixels(x, y, (int(frame_size[1]), int(frame_size[0])), units, origin)


def px_per_degree(scene_size: tuple[int, int], fov: Sequence[float] | float) -> float:
    """Pixels per degree of visual angle for a scene camera of ``scene_size`` (H, W) and ``fov`` degrees.

    ``fov`` is (horizontal, vertical) or one horizontal value. Uses the linear
    approximation width / fov_h (and the mean with height / fov_v), which is exact at the
    image centre of an ideal pinhole camera to within a few percent for fields below ~100 deg.
    """
    vals = np.atleast_1d(np.asarray(fov, dtype=np.float64))
    if vals.size not in (1, 2) or not np.isfinite(vals).all() or (vals <= 0).any() or (vals >= 180).any():
        raise GazeError(f"fov must be degrees (horizontal[, vertical]) in (0, 180), got {fov!r}")
    h, w = as_size(scene_size)
    if vals.size == 1:
        return float(w / vals[0])
    return float(0.5 * (w / vals[0] + h / vals[1]))


class SceneToImage:
    """Map scene-frame pixels to image pixels through an optional crop and a resize.

    ``scene_size`` (H, W) of the scene frame; ``image_size`` (H, W) of the image; ``crop``
    (x0, y0, x1, y1) scene pixels shown by the image (default: the whole frame). The image
    is the crop resized to ``image_size``. ``frame_size=(W, H)`` is the deprecated spelling
    of ``scene_size``.
    """

    __slots__ = ("crop", "image_size", "scene_size")
    scene_size: tuple[int, int]
    image_size: tuple[int, int]
    crop: tuple[float, float, float, float] | None

    def __init__(
        self,
        scene_size: Sequence[int] | None = None,
        image_size: Sequence[int] | None = None,
        crop: Sequence[float] | None = None,
        *,
        frame_size: Sequence[int] | None = None,
    ) -> None:
        size = scene_size_arg(scene_size, frame_size, "SceneToImage")
        if size is None or image_size is None:
            raise GazeError("SceneToImage needs scene_size=(H, W) and image_size=(H, W)")
        object.__setattr__(self, "scene_size", size)
        object.__setattr__(self, "image_size", as_size(image_size, "image_size"))
        c = None
        if crop is not None:
            arr = np.asarray(crop, dtype=np.float64).reshape(-1)
            if arr.shape != (4,) or not np.isfinite(arr).all() or arr[2] <= arr[0] or arr[3] <= arr[1]:
                raise GazeError(f"crop must be x0, y0, x1, y1 scene pixels with x1 > x0, y1 > y0; got {crop!r}")
            c = tuple(float(v) for v in arr)
        object.__setattr__(self, "crop", c)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("SceneToImage is immutable")

    def __repr__(self) -> str:
        return f"SceneToImage(scene_size={self.scene_size}, image_size={self.image_size}, crop={self.crop})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SceneToImage) and (self.scene_size, self.image_size, self.crop) == (
            other.scene_size,
            other.image_size,
            other.crop,
        )

    def __hash__(self) -> int:
        return hash((self.scene_size, self.image_size, self.crop))

    @property
    def _crop(self) -> tuple[float, float, float, float]:
        h, w = self.scene_size
        return self.crop if self.crop is not None else (0.0, 0.0, float(w), float(h))

    def __call__(self, x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
        """Scene pixels -> image pixels (arrays of any shape)."""
        x0, y0, x1, y1 = self._crop
        ih, iw = self.image_size
        return (
            (np.asarray(x, np.float64) - x0) * (iw / (x1 - x0)),
            (np.asarray(y, np.float64) - y0) * (ih / (y1 - y0)),
        )

    def inverse(self, u: Any, v: Any) -> tuple[np.ndarray, np.ndarray]:
        """Image pixels -> scene pixels."""
        x0, y0, x1, y1 = self._crop
        ih, iw = self.image_size
        return (np.asarray(u, np.float64) * ((x1 - x0) / iw) + x0, np.asarray(v, np.float64) * ((y1 - y0) / ih) + y0)

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


def _first_time(t: np.ndarray) -> float:
    ok = t[np.isfinite(t)]
    return float(ok.min()) if ok.size else 0.0


def match_frames(
    times: Any,
    frame_times: Any = None,
    *,
    fps: float | None = None,
    video_start: float | None = None,
    n_frames: int | None = None,
    start: float | None = None,
) -> np.ndarray:
    """Index of the video frame shown at each time in ``times`` (seconds); -1 when none.

    Give ``frame_times`` (the frames' presentation timestamps in seconds, increasing, on
    the gaze clock; Pupil Labs ``world_timestamps.csv``, Tobii scene video timestamps) or
    ``fps`` with ``video_start``, the gaze-clock time of frame 0 (None: the earliest of
    ``times``). A time belongs to the last frame that started at or before it; times
    before the first frame or after the last frame's end (one median frame interval) get
    -1. ``start=`` is the deprecated name of ``video_start``.
    """
    t = np.asarray(times, dtype=np.float64).reshape(-1)
    vs = video_start_arg(video_start, "match_frames", start=start)
    if frame_times is None:
        if fps is None or not np.isfinite(fps) or fps <= 0:
            raise GazeError("match_frames needs frame_times (seconds per frame) or a positive fps")
        origin = _first_time(t) if vs is None else vs
        idx = np.floor((t - origin) * fps + 1e-9)
        bad = (idx < 0) | ~np.isfinite(idx)
        if n_frames is not None:
            bad |= idx >= n_frames
        out = np.where(bad, -1, idx).astype(np.int64)
        return out
    ft = np.asarray(frame_times, dtype=np.float64).reshape(-1)
    if ft.size == 0:
        raise GazeError("match_frames got no frame timestamps (a video with zero frames?)")
    if ft.size > 1 and (np.diff(ft) <= 0).any():
        bad_i = int(np.flatnonzero(np.diff(ft) <= 0)[0]) + 1
        raise GazeError(
            f"frame timestamps must increase; frame {bad_i} ({ft[bad_i]:.6f}s) is not after frame {bad_i - 1}"
        )
    idx = np.searchsorted(ft, t, side="right") - 1
    period = float(np.median(np.diff(ft))) if ft.size > 1 else np.inf
    idx[(idx < 0) | ~np.isfinite(t) | (t >= ft[-1] + period)] = -1
    return idx.astype(np.int64)


def assign_frames(
    fixations: Sequence[Fixation],
    frame_times: Any = None,
    *,
    fps: float | None = None,
    video_start: float | None = None,
    at: str = "end",
    n_frames: int | None = None,
    start: float | None = None,
) -> list[Fixation]:
    """Each fixation with ``frame`` set to the video frame shown at its ``start``, ``end`` or ``mid`` time.

    ``at="end"`` (default) is the first frame on which the fixation is known to have
    happened (a tracker can start or refresh an object there); fixations outside the
    video are dropped. Clock and arguments as in :func:`match_frames`; ``video_start``
    None means the first fixation's start. ``start=`` is the deprecated name of ``video_start``.
    """
    if at not in ("start", "end", "mid"):
        raise GazeError(f"at must be 'start', 'end' or 'mid', got {at!r}")
    vs = video_start_arg(video_start, "assign_frames", start=start)
    if not fixations:
        return []
    if vs is None and frame_times is None:
        vs = min(f.start for f in fixations)
    when = np.array(
        [f.start if at == "start" else f.end if at == "end" else 0.5 * (f.start + f.end) for f in fixations]
    )
    idx = match_frames(when, frame_times, fps=fps, video_start=vs, n_frames=n_frames)
    return [replace(f, frame=int(i)) for f, i in zip(fixations, idx) if i >= 0]
