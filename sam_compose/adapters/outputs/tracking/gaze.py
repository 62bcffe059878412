"""Gaze over video: fixations matched to frames start new tracks or refresh existing ones.

A fixation (``sam_compose.adapters.prompts.gaze.Fixation`` or any object / dict with
``x``, ``y`` in frame pixels and ``start`` in seconds; optional ``end``, ``duration`` and
``frame``) is matched to the frame ``frame`` when set, else ``floor((start - video_start) * fps)``
where ``video_start`` is the gaze-clock time of frame 0. On that frame:

* if the point lies on an object tracked in the previous frame, that track is refreshed
  (``Tracker.correct`` with the point and the object's box, so drift is corrected);
* otherwise a new track starts from the point (``Tracker.add``).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from ....errors import InputError
from ....masks import Masks
from ....types import Prompt

__all__ = ["apply_fixations", "fixations_by_frame", "gaze_schedule"]


def _is_samples(gaze: Any) -> bool:
    return hasattr(gaze, "t") and hasattr(gaze, "x") and hasattr(gaze, "valid")


def gaze_schedule(
    gaze: Any, fps: float, start_frame: int = 0, video_start: float | None = None, t0: float | None = None
) -> dict[int, list[Prompt]]:
    """``{frame: [Prompt]}`` from gaze: ``GazeSamples`` (fixations are detected first) or fixations.

    ``video_start`` is the gaze-clock time of frame 0; by default the first sample's time
    for a recording (eye tracker and scene video start together) and 0 for bare fixations
    (``t0=`` is its deprecated name). Points are in the scene frame's pixels;
    :func:`apply_fixations` rescales them when the recording's ``scene_size`` differs from
    the video frames.
    """
    from ...prompts.gaze.compat import video_start_arg

    video_start = video_start_arg(video_start, "gaze_schedule", stacklevel=4, t0=t0)
    scene_size = None
    if _is_samples(gaze):
        from ...prompts.gaze import detect_fixations

        if video_start is None:
            video_start = float(gaze.t[0]) if len(gaze.t) else 0.0
        scene_size = getattr(gaze, "scene_size", None)
        fixations = list(detect_fixations(gaze))
    elif isinstance(gaze, Mapping) or hasattr(gaze, "x"):
        fixations = [gaze]
    else:
        fixations = list(gaze)
    out = fixations_by_frame(
        fixations, fps, start_frame=start_frame, video_start=0.0 if video_start is None else float(video_start)
    )
    if scene_size is not None:
        out = {
            k: [p.replace(data={**p.data, "scene_size": [int(scene_size[0]), int(scene_size[1])]}) for p in v]
            for k, v in out.items()
        }
    return out


def _field(fix: Any, name: str, default: Any = None) -> Any:
    if isinstance(fix, Mapping):
        return fix.get(name, default)
    return getattr(fix, name, default)


def fixations_by_frame(
    fixations: Iterable[Any],
    fps: float,
    start_frame: int = 0,
    video_start: float | None = None,
    t0: float | None = None,
) -> dict[int, list[Prompt]]:
    """``{frame_index: [Prompt(point)]}`` for each fixation, in order of time.

    ``video_start`` (default 0; ``t0=`` is its deprecated name) is the gaze-clock time of frame 0.

    Each prompt is one positive point with ``data={"adapter": "gaze", "fixation": {...}}``.
    Fixations before ``start_frame`` are dropped. Raises :class:`InputError` for a fixation
    without finite x, y and start (or frame).
    """
    from ...prompts.gaze.compat import video_start_arg

    vs = video_start_arg(video_start, "fixations_by_frame", stacklevel=4, t0=t0)
    vs = 0.0 if vs is None else vs
    if not fps or fps <= 0:
        raise InputError(f"fps must be positive to match fixations to frames, got {fps}")
    out: dict[int, list[Prompt]] = {}
    for k, fix in enumerate(fixations):
        x, y = _field(fix, "x"), _field(fix, "y")
        frame = _field(fix, "frame")
        start = _field(fix, "start")
        try:
            x, y = float(x), float(y)
            if frame is None:
                start = float(start)
        except (TypeError, ValueError) as exc:
            raise InputError(
                f"fixation {k} needs numeric x, y (pixels) and start (seconds) or frame, got {fix!r}"
            ) from exc
        if not (math.isfinite(x) and math.isfinite(y)) or (frame is None and not math.isfinite(start)):
            raise InputError(f"fixation {k} has a non-finite position or time: {fix!r}")
        if frame is not None:
            idx = int(frame)
        else:
            from ...prompts.gaze.coords import match_frames

            idx = int(match_frames([start], fps=fps, video_start=vs)[0])
            if idx < 0:
                continue
        if idx < start_frame:
            continue
        record = {"x": x, "y": y, "start": None if start is None else float(start), "frame": idx}
        for extra in ("end", "duration"):
            v = _field(fix, extra)
            if v is not None:
                record[extra] = float(v)
        out.setdefault(idx, []).append(
            Prompt(points=[[x, y]], labels=[1], data={"adapter": "gaze", "fixation": record})
        )
    return out


def apply_fixations(
    tracker: Any, prompts: list[Prompt], previous: Masks | None, size: tuple[int, int] | None = None
) -> None:
    """Refresh the track under each fixation (from ``previous``'s masks) or start a new one.

    ``size`` is the (H, W) of the frame the fixations fall on (default: the tracker's).
    """
    size = (int(size[0]), int(size[1])) if size is not None else tracker.size
    for p in prompts:
        if p.points is None:
            raise InputError("a fixation prompt needs a point (x, y); build them with fixations_by_frame()")
        x, y = (float(v) for v in p.points[0])
        scene = p.data.get("scene_size")  # (height, width) of the gaze recording's frame
        if scene and size is not None and (scene[0], scene[1]) != (size[0], size[1]):
            x, y = x * size[1] / scene[1], y * size[0] / scene[0]
            p = p.replace(points=[[x, y]])
        if size is not None:
            h, w = size
            if not (0 <= x < w and 0 <= y < h):
                warnings.warn(f"fixation at ({x:.0f}, {y:.0f}) lies outside the {w}x{h} frame; ignored", stacklevel=3)
                continue
        hit = _object_under(previous, x, y)
        if hit is None:
            tracker.add(p)
            continue
        obj_id, box = hit
        tracker.correct(obj_id, p.replace(box=box, data={**p.data, "refresh": obj_id}))


def _object_under(previous: Masks | None, x: float, y: float) -> tuple[int, list[float]] | None:
    """The id of the smallest tracked object under pixel (x, y) of ``previous``, and its xyxy box
    grown by 10% + 2 px on each side (clipped to the frame); None when no tracked object is there."""
    if previous is None or previous.ids is None or not len(previous):
        return None
    xi, yi = int(x), int(y)
    h, w = previous.image_size
    if not (0 <= xi < w and 0 <= yi < h):
        return None
    on = np.flatnonzero(previous.masks[:, yi, xi])
    if not on.size:
        return None
    hit = on[int(np.argmin(previous.areas[on]))]
    x0, y0, x1, y1 = (float(v) for v in previous.boxes[hit])
    mx, my = 0.1 * (x1 - x0) + 2, 0.1 * (y1 - y0) + 2
    return int(previous.ids[hit]), [
        max(0.0, x0 - mx),
        max(0.0, y0 - my),
        min(float(w), x1 + mx),
        min(float(h), y1 + my),
    ]
