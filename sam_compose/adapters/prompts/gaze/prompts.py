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
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from ....types import Prompt
from .compat import positional_engine, scene_size_arg, video_start_arg
from .coords import SceneToImage, px_per_degree
from .detect import detect_fixations
from .samples import Fixation, GazeError, GazeSamples, NoFixationError

__all__ = ["fixations_in_image", "frame_interval", "gaze_segment", "gaze_to_prompts", "group_fixations"]


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
        return (
            f"none of the {len(samples)} samples is valid (dropped: {dropped}); check the confidence "
            "threshold, that the tracker was worn, and the export"
        )
    return (
        f"{samples.n_valid} of {len(samples)} samples are valid (dropped: {dropped}) over "
        f"{d['duration_s']}s but none rests long enough; lower min_duration or raise the velocity/"
        "dispersion threshold if the recording is noisy"
    )


def frame_interval(
    frame: int, frame_times: Any = None, *, fps: float | None = None, video_start: float = 0.0
) -> tuple[float, float]:
    """[start, end) seconds on the gaze clock during which video ``frame`` is shown (``video_start``:
    the gaze-clock time of frame 0, used with ``fps``)."""
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
    Group centres are kept as running dwell-weighted sums and live in a grid of
    ``radius``-sized cells, so each fixation looks only at the groups of 9 cells and updates
    one centre in O(1): O(n log n) for n fixations (the sort), not O(n * groups).
    """
    groups: list[list[Fixation]] = []
    sums: list[list[float]] = []  # per group: total weight, weighted x, weighted y
    cell = max(float(radius), 1e-9)
    grid: dict[tuple[int, int], set[int]] = {}

    def key(x: float, y: float) -> tuple[int, int]:
        return int(np.floor(x / cell)), int(np.floor(y / cell))

    def centre(g: int) -> tuple[float, float]:
        w, sx, sy = sums[g]
        return sx / w, sy / w

    for f in sorted(fixations, key=lambda f: -f.duration):
        kx, ky = key(f.x, f.y)
        best, bd = -1, np.inf
        for dx in (-1, 0, 1):
            for dy in (-1, 0, 1):
                for g in grid.get((kx + dx, ky + dy), ()):
                    cx, cy = centre(g)
                    d = float(np.hypot(f.x - cx, f.y - cy))
                    if d < bd:
                        best, bd = g, d
        w = max(f.duration, 1e-6)
        if best >= 0 and bd <= radius:
            old = key(*centre(best))
            groups[best].append(f)
            sums[best][0] += w
            sums[best][1] += w * f.x
            sums[best][2] += w * f.y
            new = key(*centre(best))
            if new != old:
                grid[old].discard(best)
                grid.setdefault(new, set()).add(best)
        else:
            groups.append([f])
            sums.append([w, w * f.x, w * f.y])
            grid.setdefault((kx, ky), set()).add(len(groups) - 1)
    order = sorted(range(len(groups)), key=lambda g: -sum(f.duration for f in groups[g]))
    return [groups[g] for g in order]


def fixations_in_image(
    gaze: Any,
    image_size: tuple[int, int],
    *,
    scene_size: Sequence[int] | None = None,
    crop: Sequence[float] | None = None,
    frame: int | None = None,
    frame_times: Any = None,
    fps: float | None = None,
    video_start: float | None = None,
    frame_size: Sequence[int] | None = None,
    **detect: Any,
) -> list[Fixation]:
    """Fixations mapped to image pixels (inside the image only), in time order.

    ``gaze``: a recording path, anything :func:`.readers.read_gaze` takes (an (N, 3)
    ``[t, x, y]`` array, samples), :class:`GazeSamples`, or a list of :class:`Fixation`
    in scene pixels of ``scene_size`` (H, W; None: already image pixels). ``crop`` (x0, y0,
    x1, y1 scene pixels) is the part of the scene frame the image shows. For video give
    ``frame`` with ``frame_times`` (seconds) or ``fps`` and ``video_start`` (the gaze-clock
    time of frame 0; None: the recording's first sample): fixations overlapping that frame
    are kept and carry ``frame``. ``detect`` goes to :func:`detect_fixations`. Raises
    :class:`NoFixationError` when none remains, saying why. ``frame_size=(W, H)`` is the
    deprecated spelling of ``scene_size``.
    """
    size_arg = scene_size_arg(scene_size, frame_size, "fixations_in_image", stacklevel=4)
    samples: GazeSamples | None = None
    if isinstance(gaze, (str, os.PathLike, np.ndarray)) or (
        isinstance(gaze, (list, tuple)) and gaze and not isinstance(gaze[0], Fixation)
    ):
        from .readers import read_gaze

        gaze = read_gaze(gaze)
    if isinstance(gaze, GazeSamples):
        samples = gaze
        fsize = samples.scene_size
        fixations = detect_fixations(samples, image_size=image_size if fsize is None else None, **detect)
    else:
        try:
            fixations = list(gaze) if gaze is not None else []
        except TypeError:
            fixations = [gaze]  # not iterable: reported as the wrong type just below
        bad = [f for f in fixations if not isinstance(f, Fixation)]
        if bad:
            raise GazeError(
                f"gaze must be a recording path, GazeSamples, an (N, 3) [t, x, y] array or a list of "
                f"Fixation, got {type(bad[0]).__name__}"
            )
        fsize = size_arg
    if samples is not None and size_arg is not None and size_arg != fsize:
        raise GazeError(
            f"scene_size {size_arg} contradicts the recording's {fsize}: the samples are "
            "already in its pixels; pass scene_size to read_gaze instead"
        )
    if not fixations:
        raise NoFixationError(f"no fixation found in the gaze data: {_why_none(samples)}")
    n_all = len(fixations)
    if frame is not None:
        vs = video_start
        if vs is None:
            vs = (
                float(samples.t[np.isfinite(samples.t)][0])
                if samples is not None and len(samples)
                else min(f.start for f in fixations)
            )
        f0, f1 = frame_interval(int(frame), frame_times, fps=fps, video_start=vs)
        fixations = [replace(f, frame=int(frame)) for f in fixations if f.start < f1 and f.end >= f0]
        if not fixations:
            raise NoFixationError(
                f"no fixation found during video frame {frame} ({f0:.3f}s..{f1:.3f}s): {n_all} "
                "fixations in the recording, none overlaps it (check frame_times/fps and video_start)"
            )
    mapping = SceneToImage(
        scene_size=image_size if fsize is None else fsize,
        image_size=image_size,
        crop=tuple(crop) if crop is not None else None,
    )
    mapped = [mapping.map_fixation(f) for f in fixations]
    inside = [f for f in mapped if mapping.inside(f.x, f.y)]
    if not inside:
        xs = [f.x for f in mapped]
        ys = [f.y for f in mapped]
        raise NoFixationError(
            f"no fixation found inside the {image_size[1]}x{image_size[0]} image: all {len(mapped)} fixations fall "
            f"outside it (x {min(xs):.0f}..{max(xs):.0f}, y {min(ys):.0f}..{max(ys):.0f} image px); the gaze is "
            "entirely outside the image, or scene_size/crop do not describe how the image relates to the scene"
        )
    return inside


def gaze_to_prompts(
    gaze: Any,
    image: np.ndarray | None = None,
    *,
    image_size: Sequence[int] | None = None,
    scene_size: Sequence[int] | None = None,
    crop: Sequence[float] | None = None,
    merge_radius: float | None = None,
    negatives: bool = False,
    max_prompts: int | None = None,
    min_dwell: float = 0.0,
    frame: int | None = None,
    frame_times: Any = None,
    fps: float | None = None,
    video_start: float | None = None,
    engine: Any = None,
    accuracy: float | None = None,
    accuracy_deg: float | None = None,
    n_candidates: int = 9,
    frame_size: Sequence[int] | None = None,
    start: float | None = None,
    t0: float | None = None,
    **detect: Any,
) -> list[Prompt]:
    """Prompts from gaze: one positive point per fixated place, ordered by dwell, longest first.

    ``gaze``: a recording path, :class:`GazeSamples`, an (N, 3) ``[t, x, y]`` array
    (fixations detected with ``detect`` keyword arguments: ``method``, thresholds, ``fov``,
    ``min_duration``, ``fixations="detect"`` ...) or a list of :class:`Fixation` (scene
    pixels of ``scene_size`` (H, W); None = image pixels). ``image`` (or
    ``image_size`` (H, W)) is what will be segmented; ``crop`` / ``frame`` as in
    :func:`fixations_in_image`. Fixations within ``merge_radius`` image px (default 3% of
    the image diagonal) form one prompt at their dwell-weighted centre. ``negatives``
    adds the other places as negative points. ``min_dwell`` (s) and ``max_prompts`` trim
    the list. With ``engine`` and ``accuracy`` (image px) or ``accuracy_deg`` (needs
    ``fov``), each prompt is calibrated (:func:`.calibrate.calibrated_segment`): its
    point moves to the most consistent candidate within the accuracy radius and it carries
    that mask's logits. ``engine`` is a spec or an Engine
    (:func:`sam_compose.engines.resolve_engine`). Deprecated spellings: ``frame_size=(W, H)``
    (``scene_size``), ``start=`` / ``t0=`` (``video_start``).

    Each prompt's ``data``: ``adapter="gaze"``, ``fixation`` {x, y, start, end, duration}
    of the group (duration = total dwell), ``fixations`` (members), ``rank``, ``dwell``.
    Raises :class:`NoFixationError` when there is nothing to prompt with.
    """
    size = _image_size(image, image_size)
    ssize = scene_size_arg(scene_size, frame_size, "gaze_to_prompts", stacklevel=4)
    vs = video_start_arg(video_start, "gaze_to_prompts", stacklevel=4, start=start, t0=t0)
    fix = fixations_in_image(
        gaze, size, scene_size=ssize, crop=crop, frame=frame, frame_times=frame_times, fps=fps, video_start=vs, **detect
    )
    h, w = size
    radius = 0.03 * float(np.hypot(h, w)) if merge_radius is None else float(merge_radius)
    if radius < 0:
        raise GazeError(f"merge_radius must be >= 0 image pixels, got {merge_radius!r}")
    groups = [g for g in group_fixations(fix, radius) if sum(f.duration for f in g) >= min_dwell]
    if not groups:
        raise NoFixationError(
            f"no fixation found with a dwell of at least {min_dwell}s ({len(fix)} shorter fixations); lower min_dwell"
        )
    if max_prompts is not None:
        if max_prompts < 1:
            raise GazeError(f"max_prompts must be >= 1, got {max_prompts}")
        groups = groups[:max_prompts]
    centres = [tuple(_dwell_centre(g)) for g in groups]
    acc = _accuracy_px(accuracy, accuracy_deg, detect.get("fov"), gaze, ssize, size, crop)
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
            "adapter": "gaze",
            "rank": rank,
            "dwell": round(dwell, 6),
            "fixation": {
                "x": round(float(cx), 3),
                "y": round(float(cy), 3),
                "start": min(f.start for f in g),
                "end": max(f.end for f in g),
                "duration": round(dwell, 6),
            },
            "fixations": [f.to_dict() for f in sorted(g, key=lambda f: f.start)],
        }
        if isinstance(gaze, GazeSamples):
            data["source"] = gaze.source
        prompts.append(Prompt(points=pts, labels=labels, data=data))
    if engine is not None and acc is not None:
        if image is None:
            raise GazeError("calibration-aware prompting segments the image: pass image= with engine=")
        from .calibrate import calibrated_segment

        eng = resolve_engine(engine)
        prompts = [
            calibrated_segment(np.asarray(image), p, engine=eng, accuracy=acc, n=n_candidates)[1] for p in prompts
        ]
    return prompts


def _accuracy_px(
    accuracy: float | None,
    accuracy_deg: float | None,
    fov: Any,
    gaze: Any,
    scene_size: Sequence[int] | None,
    image_size: tuple[int, int],
    crop: Any,
) -> float | None:
    if accuracy is not None:
        if not np.isfinite(accuracy) or accuracy < 0:
            raise GazeError(f"accuracy is a radius in image pixels >= 0, got {accuracy!r}")
        return float(accuracy)
    if accuracy_deg is None:
        return None
    fsize = gaze.scene_size if isinstance(gaze, GazeSamples) else scene_size
    if fov is None and isinstance(gaze, GazeSamples):
        fov = gaze.meta.get("fov")
    if fov is None or fsize is None:
        raise GazeError(
            "accuracy_deg needs fov=(h_deg, v_deg) and a scene frame size; or give accuracy in image pixels"
        )
    ssize = (int(fsize[0]), int(fsize[1]))
    scene_px = float(accuracy_deg) * px_per_degree(ssize, fov)
    return (
        scene_px
        * SceneToImage(scene_size=ssize, image_size=image_size, crop=tuple(crop) if crop is not None else None).scale
    )


def gaze_segment(
    image: np.ndarray,
    gaze: Any,
    *args: Any,
    engine: Any = None,
    accuracy: float | None = None,
    n_candidates: int = 9,
    **kwargs: Any,
) -> Any:
    """Segment what was looked at: one mask per prompt of :func:`gaze_to_prompts`, dwell order.

    ``engine`` (keyword) is a spec or an Engine (:func:`sam_compose.engines.resolve_engine`);
    a positional engine still works with a ``DeprecationWarning``. With ``accuracy`` (image
    px) each mask is the most consistent over the tracker's accuracy disc
    (:func:`.calibrate.calibrated_segment`); otherwise one engine call segments every
    prompt. Returns :class:`~sam_compose.masks.Masks` with ``data["adapter"] == "gaze"``.
    """
    from ....masks import Masks
    from .calibrate import calibrated_segment

    (engine,) = positional_engine(args, engine, "gaze_segment", stacklevel=4)
    if engine is None:
        raise GazeError("gaze_segment needs engine=... (a spec such as 'opencv' or an Engine)")
    eng = resolve_engine(engine)
    prompts = gaze_to_prompts(gaze, image, **kwargs)
    if accuracy is None:
        res = eng.segment(image, prompts)
        res.data["adapter"] = "gaze"
        return res
    rows = [calibrated_segment(image, p, engine=eng, accuracy=accuracy, n=n_candidates)[0] for p in prompts]
    out = Masks.concat(rows)
    out.data["adapter"] = "gaze"
    return out


def resolve_engine(engine: Any) -> Any:
    """The engine an ``engine=`` argument names (spec or Engine), through the project's one resolver."""
    from ....engines import resolve_engine as _resolve

    return _resolve(engine)
