"""Gaze over video: fixations matched to frames start new tracks or refresh existing ones.

A fixation (``sam_compose.adapters.prompts.gaze.Fixation`` or any object / dict with
``x``, ``y`` in frame pixels and ``start`` in seconds; optional ``end``, ``duration`` and
``frame``) is matched to the frame ``frame`` when set, else ``floor((start - t0) * fps)``
where ``t0`` is the gaze-clock time of frame 0. On that frame:

* if the point lies on an object tracked in the previous frame, that track is refreshed
  (``Tracker.correct`` with the point and the object's box, so drift is corrected);
* otherwise a new track starts from the point (``Tracker.add``).
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Iterable, Mapping

import numpy as np

from ...errors import InputError
from ...masks import Masks
from ...types import Prompt

__all__ = ["fixations_by_frame", "apply_fixations"]


def _field(fix: Any, name: str, default: Any = None) -> Any:
    if isinstance(fix, Mapping):
        return fix.get(name, default)
    return getattr(fix, name, default)


def fixations_by_frame(fixations: Iterable[Any], fps: float, start_frame: int = 0,
                       t0: float = 0.0) -> dict[int, list[Prompt]]:
    """``{frame_index: [Prompt(point)]}`` for each fixation, in order of time.

    Each prompt is one positive point with ``data={"adapter": "gaze", "fixation": {...}}``.
    Fixations before ``start_frame`` are dropped. Raises :class:`InputError` for a fixation
    without finite x, y and start (or frame).
    """
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
        idx = int(frame) if frame is not None else int(math.floor((start - t0) * fps + 1e-9))
        if idx < start_frame:
            continue
        record = {"x": x, "y": y, "start": None if start is None else float(start), "frame": idx}
        for extra in ("end", "duration"):
            v = _field(fix, extra)
            if v is not None:
                record[extra] = float(v)
        out.setdefault(idx, []).append(Prompt(points=[[x, y]], labels=[1],
                                              data={"adapter": "gaze", "fixation": record}))
    return out


def apply_fixations(tracker: Any, prompts: list[Prompt], previous: Masks | None) -> None:
    """Refresh the track under each fixation (from ``previous``'s masks) or start a new one."""
    for p in prompts:
        x, y = (float(v) for v in p.points[0])
        if tracker.size is not None:
            h, w = tracker.size
            if not (0 <= x < w and 0 <= y < h):
                warnings.warn(f"fixation at ({x:.0f}, {y:.0f}) lies outside the {w}x{h} frame; ignored", stacklevel=3)
                continue
        hit = None
        if previous is not None and previous.ids is not None and len(previous):
            xi, yi = int(x), int(y)
            h, w = previous.image_size
            if 0 <= xi < w and 0 <= yi < h:
                on = np.flatnonzero(previous.masks[:, yi, xi])
                if on.size:
                    hit = on[int(np.argmin(previous.areas[on]))]  # the smallest object under the gaze
        if hit is None:
            tracker.add(p)
            continue
        obj_id = int(previous.ids[hit])
        x0, y0, x1, y1 = (float(v) for v in previous.boxes[hit])
        mx, my = 0.1 * (x1 - x0) + 2, 0.1 * (y1 - y0) + 2
        h, w = previous.image_size
        box = [max(0.0, x0 - mx), max(0.0, y0 - my), min(float(w), x1 + mx), min(float(h), y1 + my)]
        tracker.correct(obj_id, p.replace(box=box, data={**p.data, "refresh": obj_id}))
