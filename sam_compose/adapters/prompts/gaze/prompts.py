"""Fixations -> SAM prompts: one positive point per looked-at place, longest dwell first.

:func:`gaze_to_prompts` detects fixations (unless given them), maps them from the scene
frame into the image (resize and crop, :class:`~.coords.SceneToImage`), keeps those
inside the image (and, for video, those overlapping the requested frame), groups
fixations within ``merge_radius`` of each other (refixations of one place), and makes one
prompt per group ordered by total dwell time. Optional: negative points at the other
groups (``negatives=True``), and calibration-aware prompting with an engine
(``engine=..., accuracy=...``, see :mod:`.calibrate`).

It never turns noise into a prompt: with no fixation it raises
:class:`~.samples.NoFixationError` ("no fixation found ...") saying why.
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any, Sequence

import numpy as np

from ....types import Prompt
from .coords import SceneToImage, px_per_degree
from .fixations import detect_fixations
from .samples import Fixation, GazeError, GazeSamples, NoFixationError

__all__ = ["gaze_to_prompts", "gaze_segment", "fixations_in_image", "group_fixations", "frame_interval"]


def _image_size(image: Any, image_size: Sequence[int] | None) -> tuple[int, int]:
    if image is not None:
        arr = np.asarray(image)
        if arr.ndim < 2:
            raise GazeError(f"image must be an (H, W, 3) array, got shape {arr.shape}")
        return int(arr.shape[0]), int(arr.shape[1])
    if image_size is None:
        raise GazeError("gaze_to_prompts needs the image (or image_size=(H, W)) to place the prompts")
    h, w = (int(v) for v in image_size)
    if h <= 0 or w <= 0:
        raise GazeError(f"image_size must be positive (H, W), got {image_size!r}")
    return h, w


def _why_none(samples: GazeSamples | None) -> str:
    if samples is None:
        return "the fixation list is empty"
    d = samples.describe()
    dropped = ", ".join(f"{k}: {v}" for k, v in sorted(d["dropped"].items())) or "none"
    if samples.n_valid == 0:
        return (f"none of the {len(samples)} samples is valid (dropped: {dropped}); check the confidence "
                "threshold, that the tracker was worn, and the export")
    return (f"{samples.n_valid} of {len(samples)} samples are valid (dropped: {dropped}) over "
            f"{d['duration_s']}s but none rests long enough; lower min_duration or raise the velocity/"
            "dispersion threshold if the recording is noisy")


def frame_interval(frame: int, frame_times: Any = None, *, fps: float | None = None,
                   video_start: float = 0.0) -> tuple[float, float]:
    """[start, end) seconds on the gaze clock during which video ``frame`` is shown."""
    if frame < 0:
        raise GazeError(f"frame must be >= 0, got {frame}")
    if frame_times is not None:
        ft = np.asarray(frame_times, dtype=np.float64).reshape(-1)
        if frame >= ft.size:
            raise GazeError(f"frame {frame} is past the video's {ft.size} frames")
        period = float(np.median(np.diff(ft))) if ft.size > 1 else np.inf
        return float(ft[frame]), float(ft[frame + 1]) if frame + 1 < ft.size else float(ft[frame] + period)
    if fps is None or not np.isfinite(fps) or fps <= 0:
        raise GazeError("matching gaze to a video frame needs frame_times (seconds) or a positive fps")
    return video_start + frame / fps, video_start + (frame + 1) / fps


def _dwell_centre(group: Sequence[Fixation]) -> np.ndarray:
    """(x, y) of a group's fixations weighted by their durations."""
    wts = np.array([max(f.duration, 1e-6) for f in group])
    return np.array([[f.x, f.y] for f in group]).T @ wts / wts.sum()


def group_fixations(fixations: Sequence[Fixation], radius: float) -> list[list[Fixation]]:
    """Group fixations whose centres lie within ``radius`` px of a group's dwell-weighted centre.

    Greedy, longest fixation first; returns groups ordered by total dwell, longest first.
    Group centres live in a grid of ``radius``-sized cells, so each fixation is compared
    with the groups of its 3x3 cells only: O(n log n) for n fixations (the sort).
    """
    cell = float(radius) if radius > 0 else 1.0
    groups: list[list[Fixation]] = []
    sums: list[list[float]] = []  # per group: sum(w*x), sum(w*y), sum(w)
    centres: list[tuple[float, float]] = []
    grid: dict[tuple[int, int], set[int]] = {}

    def key(x: float, y: float) -> tuple[int, int]:
        return int(np.floor(x / cell)), int(np.floor(y / cell))

    for f in sorted(fixations, key=lambda f: -f.duration):
        fx, fy = float(f.x), float(f.y)
        if not (np.isfinite(fx) and np.isfinite(fy)):
            groups.append([f])  # no place to compare; its own group, as the distance test would give
            sums.append([0.0, 0.0, 1.0])
            centres.append((fx, fy))
            continue
        kx, ky = key(fx, fy)
        best, best_d = -1, np.inf
        for dx in (-1, 0, 1):
            for dy in (-1, 0, 1):
                for g in grid.get((kx + dx, ky + dy), ()):
                    d = float(np.hypot(fx - centres[g][0], fy - centres[g][1]))
                    if d < best_d or (d == best_d and g < best):
                        best, best_d = g, d
        w = max(f.duration, 1e-6)
        if best >= 0 and best_d <= radius:
            groups[best].append(f)
            sx, sy, sw = sums[best]
            sums[best] = [sx + w * fx, sy + w * fy, sw + w]
            old = key(*centres[best])
            centres[best] = (sums[best][0] / sums[best][2], sums[best][1] / sums[best][2])
            new = key(*centres[best])
            if new != old:
                grid[old].discard(best)
                grid.setdefault(new, set()).add(best)
        else:
            groups.append([f])
            sums.append([w * fx, w * fy, w])
            centres.append((fx, fy))
            grid.setdefault((kx, ky), set()).add(len(groups) - 1)
    return sorted(groups, key=lambda g: -sum(f.duration for f in g))


def fixations_in_image(gaze: Any, image_size: tuple[int, int], *, frame_size: Sequence[int] | None = None,
                       crop: Sequence[float] | None = None, frame: int | None = None, frame_times: Any = None,
                       fps: float | None = None, video_start: float = 0.0, **detect: Any) -> list[Fixation]:
    """Fixations mapped to image pixels (inside the image only), in time order.

    ``gaze``: a recording path, :class:`GazeSamples`, or a list of :class:`Fixation` in
    scene pixels of ``frame_size`` (None: already image pixels). ``crop`` (x0, y0, x1, y1
    scene pixels) is the part of the scene frame the image shows. For video give ``frame``
    with ``frame_times`` (seconds) or ``fps``: fixations overlapping that frame are kept and
    carry ``frame``. ``detect`` goes to :func:`detect_fixations`. Raises
    :class:`NoFixationError` when none remains, saying why.
    """
    samples: GazeSamples | None = None
    if isinstance(gaze, (str, os.PathLike)):
        from .readers import read_gaze

        gaze = read_gaze(gaze)
    if isinstance(gaze, GazeSamples):
        samples = gaze
        fsize = samples.frame_size
        fixations = detect_fixations(samples, image_size=image_size if fsize is None else None, **detect)
    else:
        try:
            fixations = list(gaze) if gaze is not None else []
        except TypeError:
            fixations = [gaze]  # not iterable: reported as the wrong type just below
        bad = [f for f in fixations if not isinstance(f, Fixation)]
        if bad:
            raise GazeError(f"gaze must be a recording path, GazeSamples or a list of Fixation, got {type(bad[0]).__name__}")
        fsize = tuple(int(v) for v in frame_size) if frame_size is not None else None
    if samples is not None and frame_size is not None and tuple(int(v) for v in frame_size) != fsize:
        raise GazeError(f"frame_size {tuple(frame_size)} contradicts the recording's {fsize}: the samples are "
                        "already in its pixels; pass frame_size to read_gaze instead")
    if not fixations:
        raise NoFixationError(f"no fixation found in the gaze data: {_why_none(samples)}")
    n_all = len(fixations)
    if frame is not None:
        f0, f1 = frame_interval(int(frame), frame_times, fps=fps, video_start=video_start)
        fixations = [replace(f, frame=int(frame)) for f in fixations if f.start < f1 and f.end >= f0]
        if not fixations:
            raise NoFixationError(f"no fixation found during video frame {frame} ({f0:.3f}s..{f1:.3f}s): {n_all} "
                                  "fixations in the recording, none overlaps it (check frame_times/fps and video_start)")
    if fsize is None:
        mapping = SceneToImage(frame_size=(image_size[1], image_size[0]), image_size=image_size,
                               crop=tuple(crop) if crop is not None else None)
    else:
        mapping = SceneToImage(frame_size=fsize, image_size=image_size, crop=tuple(crop) if crop is not None else None)
    mapped = [mapping.map_fixation(f) for f in fixations]
    inside = [f for f in mapped if mapping.inside(f.x, f.y)]
    if not inside:
        xs = [f.x for f in mapped]
        ys = [f.y for f in mapped]
        raise NoFixationError(
            f"no fixation found inside the {image_size[1]}x{image_size[0]} image: all {len(mapped)} fixations fall "
            f"outside it (x {min(xs):.0f}..{max(xs):.0f}, y {min(ys):.0f}..{max(ys):.0f} image px); the gaze is "
            "entirely outside the image, or frame_size/crop do not describe how the image relates to the scene")
    return inside


def gaze_to_prompts(gaze: Any, image: np.ndarray | None = None, *, image_size: Sequence[int] | None = None,
                    frame_size: Sequence[int] | None = None, crop: Sequence[float] | None = None,
                    merge_radius: float | None = None, negatives: bool = False, max_prompts: int | None = None,
                    min_dwell: float = 0.0, frame: int | None = None, frame_times: Any = None,
                    fps: float | None = None, video_start: float = 0.0, engine: Any = None,
                    accuracy: float | None = None, accuracy_deg: float | None = None, n_candidates: int = 9,
                    **detect: Any) -> list[Prompt]:
    """Prompts from gaze: one positive point per fixated place, ordered by dwell, longest first.

    ``gaze``: a recording path, :class:`GazeSamples` (fixations detected with ``detect``
    keyword arguments: ``method``, thresholds, ``fov``, ``min_duration`` ...) or a list of
    :class:`Fixation` (scene pixels of ``frame_size``; None = image pixels). ``image`` (or
    ``image_size`` (H, W)) is what will be segmented; ``crop`` / ``frame`` as in
    :func:`fixations_in_image`. Fixations within ``merge_radius`` image px (default 3% of
    the image diagonal) form one prompt at their dwell-weighted centre. ``negatives``
    adds the other places as negative points. ``min_dwell`` (s) and ``max_prompts`` trim
    the list. With ``engine`` and ``accuracy`` (image px) or ``accuracy_deg`` (needs
    ``fov``), each prompt is calibrated (:func:`.calibrate.calibrated_segment`): its
    point moves to the most consistent candidate within the accuracy radius and it carries
    that mask's logits.

    Each prompt's ``data``: ``adapter="gaze"``, ``fixation`` {x, y, start, end, duration}
    of the group (duration = total dwell), ``fixations`` (members), ``rank``, ``dwell``.
    Raises :class:`NoFixationError` when there is nothing to prompt with.
    """
    size = _image_size(image, image_size)
    fix = fixations_in_image(gaze, size, frame_size=frame_size, crop=crop, frame=frame, frame_times=frame_times,
                             fps=fps, video_start=video_start, **detect)
    h, w = size
    radius = 0.03 * float(np.hypot(h, w)) if merge_radius is None else float(merge_radius)
    if radius < 0:
        raise GazeError(f"merge_radius must be >= 0 image pixels, got {merge_radius!r}")
    groups = [g for g in group_fixations(fix, radius) if sum(f.duration for f in g) >= min_dwell]
    if not groups:
        raise NoFixationError(f"no fixation found with a dwell of at least {min_dwell}s "
                              f"({len(fix)} shorter fixations); lower min_dwell")
    if max_prompts is not None:
        if max_prompts < 1:
            raise GazeError(f"max_prompts must be >= 1, got {max_prompts}")
        groups = groups[:max_prompts]
    centres = [tuple(_dwell_centre(g)) for g in groups]
    acc = _accuracy_px(accuracy, accuracy_deg, detect.get("fov"), gaze, frame_size, size, crop)
    prompts: list[Prompt] = []
    for rank, (g, (cx, cy)) in enumerate(zip(groups, centres)):
        pts = [[cx, cy]]
        labels = [1]
        if negatives:
            for j, (ox, oy) in enumerate(centres):
                if j != rank:
                    pts.append([ox, oy])
                    labels.append(0)
        dwell = float(sum(f.duration for f in g))
        data = {
            "adapter": "gaze", "rank": rank, "dwell": round(dwell, 6),
            "fixation": {"x": round(float(cx), 3), "y": round(float(cy), 3), "start": min(f.start for f in g),
                         "end": max(f.end for f in g), "duration": round(dwell, 6)},
            "fixations": [f.to_dict() for f in sorted(g, key=lambda f: f.start)],
        }
        if isinstance(gaze, GazeSamples):
            data["source"] = gaze.source
        prompts.append(Prompt(points=pts, labels=labels, data=data))
    if engine is not None and acc is not None:
        if image is None:
            raise GazeError("calibration-aware prompting segments the image: pass image= with engine=")
        from .calibrate import calibrated_segment

        prompts = [calibrated_segment(np.asarray(image), p, engine, acc, n=n_candidates)[1] for p in prompts]
    return prompts


def _accuracy_px(accuracy: float | None, accuracy_deg: float | None, fov: Any, gaze: Any,
                 frame_size: Sequence[int] | None, image_size: tuple[int, int], crop: Any) -> float | None:
    if accuracy is not None:
        if not np.isfinite(accuracy) or accuracy < 0:
            raise GazeError(f"accuracy is a radius in image pixels >= 0, got {accuracy!r}")
        return float(accuracy)
    if accuracy_deg is None:
        return None
    fsize = gaze.frame_size if isinstance(gaze, GazeSamples) else frame_size
    if fov is None or fsize is None:
        raise GazeError("accuracy_deg needs fov=(h_deg, v_deg) and a scene frame size; or give accuracy in image pixels")
    scene_px = float(accuracy_deg) * px_per_degree(tuple(fsize), fov)
    return scene_px * SceneToImage(tuple(fsize), image_size, tuple(crop) if crop is not None else None).scale


def gaze_segment(image: np.ndarray, gaze: Any, engine: Any, *, accuracy: float | None = None,
                 n_candidates: int = 9, **kwargs: Any) -> Any:
    """Segment what was looked at: one mask per prompt of :func:`gaze_to_prompts`, dwell order.

    With ``accuracy`` (image px) each mask is the most consistent over the tracker's
    accuracy disc (:func:`.calibrate.calibrated_segment`); otherwise one engine call
    segments every prompt. Returns :class:`~sam_compose.masks.Masks` with
    ``data["adapter"] == "gaze"``.
    """
    from ....masks import Masks
    from .calibrate import calibrated_segment

    prompts = gaze_to_prompts(gaze, image, **kwargs)
    if accuracy is None:
        res = engine.segment(image, prompts)
        res.data["adapter"] = "gaze"
        return res
    rows = [calibrated_segment(image, p, engine, accuracy, n=n_candidates)[0] for p in prompts]
    out = Masks.concat(rows)
    out.data["adapter"] = "gaze"
    return out
