"""Gaze nodes: ``load_gaze`` (a recording -> Gaze), ``gaze_prompt`` (image + Gaze -> Prompts) and
``text_gaze_prompt`` (image + Gaze + words -> the named thing that was looked at).

Thin wrappers over :mod:`sam_compose.adapters.prompts.gaze` and
:mod:`sam_compose.adapters.prompts.text_gaze`; see docs/gaze.md. Example graph
(demos/gaze/gaze_segment.json)::

    "gaze":   {"type": "load_gaze", "params": {"path": "scene_gaze.csv"}},
    "prompt": {"type": "gaze_prompt", "inputs": {"image": "img", "gaze": "gaze"}},
    "seg":    {"type": "segment", "inputs": {"image": "img", "prompts": "prompt"}}

A frame of a video nobody looked at gets no prompt; the run report says so under the
node (``notes``), so an empty mask downstream is explained.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from .api import (
    Param,
    file_stamp,
    frame_index,
    guarded_clip_spec,
    input_path,
    node,
    node_engine,
    note,
)
from .ports import Gaze, Image, Prompts

FORMAT_CHOICES = (
    "auto",
    "pupil_core",
    "pupil_core_fixations",
    "neon",
    "neon_fixations",
    "neon_native",
    "tobii_g3",
    "tobii_prolab",
    "generic",
)
FIXATION_CHOICES = ("auto", "device", "detect")


def _pair(value: Sequence[float] | None, name: str, n: int = 2) -> tuple[float, ...] | None:
    from ..adapters.prompts.gaze.errors import GazeError

    if value is None:
        return None
    if len(value) != n:
        raise GazeError(f"{name} must have {n} numbers, got {list(value)}")
    return tuple(value)


@node(
    "load_gaze",
    category="inputs",
    cache_key=file_stamp,
    description="Read an eye-tracker recording (Pupil Core/Neon/Invisible, Tobii Glasses 3 / Pro Lab, generic CSV, "
    "Neon native folder).",
)
def load_gaze_node(
    *,
    path: str = Param(
        kind="path_in",
        description="recording file or folder: gaze_positions.csv, gaze.csv, "
        "fixations.csv, gazedata(.gz), a Neon recording folder or a CSV "
        "with t, x, y columns",
    ),
    format: str = Param("auto", choices=FORMAT_CHOICES, description="file format (auto: from the header)"),
    scene_size: list[int] | None = Param(
        None, description="scene camera [height, width] px (default: the device's; generic pixels: the image)"
    ),
    frame_size: list[int] | None = Param(None, description="deprecated: [width, height]; use scene_size"),
    units: str | None = Param(None, choices=(None, "px", "norm"), description="generic CSV: px or norm"),
    origin: str | None = Param(
        None, choices=(None, "top-left", "bottom-left"), description="generic CSV: where y = 0 is"
    ),
    time_unit: str | None = Param(
        None,
        choices=(None, "s", "ms", "us", "ns"),
        description="generic CSV: unit of the time column (default: from its name or the sample interval)",
    ),
    min_confidence: float | None = Param(None, ge=0.0, le=1.0, description="drop samples below this confidence"),
) -> Gaze:
    """Read a gaze recording into GazeSamples (times in seconds, scene-frame pixels)."""
    from ..adapters.prompts.gaze import read_gaze

    return read_gaze(
        input_path(path),
        format=None if format == "auto" else format,
        scene_size=_pair(scene_size, "scene_size"),
        frame_size=_pair(frame_size, "frame_size"),
        units=units,
        origin=origin,
        time_unit=time_unit,
        min_confidence=min_confidence,
    )


def _no_fixation_note(exc: Exception) -> None:
    note(f"no fixation: {' '.join(str(exc).split())}")


@node(
    "gaze_prompt",
    category="prompts",
    description="Fixations become positive points, one prompt per looked-at place, longest dwell first.",
)
def gaze_prompt_node(
    image: Image,
    gaze: Gaze,
    *,
    method: str | None = Param(
        None,
        choices=(None, "ivt", "idt"),
        description="fixation detection: velocity or dispersion (default: the "
        "device's vendor detector where it has one, else ivt)",
    ),
    fixations: str = Param(
        "auto",
        choices=FIXATION_CHOICES,
        description="the device's own fixations when the export has them (auto), "
        "always detect, or require the device's",
    ),
    velocity_threshold: float | None = Param(None, gt=0, description="I-VT threshold, px/s (deg/s with fov)"),
    dispersion_threshold: float | None = Param(None, gt=0, description="I-DT threshold, px (deg with fov)"),
    min_duration: float = Param(0.06, ge=0, le=10, description="shortest fixation, seconds"),
    fov: list[float] | None = Param(
        None, description="scene camera field of view [h_deg, v_deg] (default: the device's)"
    ),
    crop: list[float] | None = Param(None, description="[x0, y0, x1, y1] scene px the image shows"),
    merge_radius: float | None = Param(None, ge=0, description="join fixations closer than this (image px)"),
    negatives: bool = Param(False, description="other fixated places become negative points"),
    max_prompts: int | None = Param(None, ge=1, description="keep the N longest-dwell places"),
    accuracy: float | None = Param(
        None, ge=0, description="tracker accuracy radius in image px: calibration-aware prompting with the engine"
    ),
    engine: str = Param("opencv", kind="model", description="engine for calibration-aware prompting"),
    video_fps: float | None = Param(
        None, gt=0, description="over a video: frame rate, so each frame gets the fixations shown during it"
    ),
    video_start: float | None = Param(
        None, description="gaze-clock time of video frame 0, seconds (default: the recording's first sample)"
    ),
) -> Prompts:
    """Turn gaze into prompts for ``segment`` (see sam_compose.adapters.prompts.gaze_to_prompts)."""
    from ..adapters.prompts.gaze import gaze_to_prompts
    from ..adapters.prompts.gaze.errors import NoFixationError

    kw: dict[str, Any] = {}
    detect: dict[str, Any] = dict(
        method=method,
        velocity_threshold=velocity_threshold,
        dispersion_threshold=dispersion_threshold,
        min_duration=min_duration,
        fov=_pair(fov, "fov"),
        fixations=fixations,
    )
    frame = frame_index()
    if video_fps is not None and frame is not None:
        kw.update(frame=frame, fps=video_fps, video_start=_video_start(gaze, video_start))
        gaze, detect, kw["scene_size"] = _video_fixations(gaze, image, detect)
    eng = None
    if accuracy is not None:
        eng = node_engine(engine)
    try:
        return gaze_to_prompts(
            gaze,
            image,
            crop=_pair(crop, "crop", 4),
            merge_radius=merge_radius,
            negatives=negatives,
            max_prompts=max_prompts,
            engine=eng,
            accuracy=accuracy,
            **detect,
            **kw,
        )
    except NoFixationError as exc:
        if "frame" in kw:  # over a video, a frame nobody looked at simply has no prompt; the report says so
            _no_fixation_note(exc)
            return []
        raise


@node(
    "text_gaze_prompt",
    category="prompts",
    description="The named thing that was looked at: words and gaze fused into one prompt per phrase.",
)
def text_gaze_prompt_node(
    image: Image,
    gaze: Gaze,
    *,
    text: str = Param(
        description="what was looked at, e.g. 'the mug'; several: 'mug, cup'; a leading '-' marks a negative phrase"
    ),
    negative: str | None = Param(None, description="phrases to avoid, comma-separated"),
    top_k: int = Param(1, ge=1, le=20, description="prompts per phrase"),
    min_text: float = Param(0.1, ge=0.0, le=1.0, description="least text evidence"),
    min_gaze: float = Param(0.05, ge=0.0, le=1.0, description="least share of the dwell"),
    accuracy: float | None = Param(
        None, gt=0, description="tracker accuracy in image px (default: 1.5 deg or 2% of the image)"
    ),
    fixations: str = Param("auto", choices=FIXATION_CHOICES, description="the device's own fixations or detect"),
    method: str | None = Param(
        None, choices=(None, "ivt", "idt"), description="fixation detection (default: the device's, else ivt)"
    ),
    crop: list[float] | None = Param(None, description="[x0, y0, x1, y1] scene px the image shows"),
    proposals: str = Param(
        "auto", choices=("auto", "masks", "none"), description="also the engine's automatic masks as candidates"
    ),
    background: str = Param(
        "blur", choices=("blur", "mask", "none"), description="how crops show pixels outside a region's mask"
    ),
    engine: str = Param("opencv", kind="model", description="engine whose masks are the candidates"),
    clip: str | None = Param(None, kind="model", description="open_clip spec (default: $SAM_COMPOSE_CLIP or ViT-B-32)"),
    detector: str | None = Param(None, kind="model", description="a zero-shot detector adding candidates"),
    video_fps: float | None = Param(None, gt=0, description="over a video: frame rate"),
    video_start: float | None = Param(None, description="gaze-clock time of video frame 0, s"),
) -> Prompts:
    """Prompts for the thing that is both named and looked at (see text_gaze_prompts); over a
    video, frames nobody looked at get none and the run report says so."""
    from ..adapters.prompts.gaze.errors import NoFixationError
    from ..adapters.prompts.text_gaze import text_gaze_prompts

    kw: dict[str, Any] = dict(method=method, fixations=fixations)
    frame = frame_index()
    if video_fps is not None and frame is not None:
        kw.update(frame=frame, fps=video_fps, video_start=_video_start(gaze, video_start))
        gaze, detect, kw["scene_size"] = _video_fixations(gaze, image, {"method": method, "fixations": fixations})
        if not detect:
            kw.pop("method")
            kw.pop("fixations")
    if crop is not None:
        kw["crop"] = _pair(crop, "crop", 4)
    try:
        return text_gaze_prompts(
            image,
            text,
            gaze,
            engine=node_engine(engine),
            clip=guarded_clip_spec(clip),
            negative=negative,
            top_k=top_k,
            min_text=min_text,
            min_gaze=min_gaze,
            accuracy=accuracy,
            proposals=proposals,
            background=background,
            detector=None if detector is None else input_path(detector),
            **kw,
        )
    except NoFixationError as exc:
        if "frame" in kw:
            _no_fixation_note(exc)
            return []
        raise


def _video_start(gaze: Any, video_start: float | None) -> float | None:
    """``video_start`` or, for a recording, its first sample's time (the documented default)."""
    from ..adapters.prompts.gaze import GazeSamples

    if video_start is not None:
        return float(video_start)
    if isinstance(gaze, GazeSamples) and len(gaze):
        return float(gaze.t[0])
    return None


_CACHE_LOCK = threading.Lock()
_CACHE: dict[str, Any] = {}


def _video_fixations(gaze: Any, image: Any, detect: dict[str, Any]) -> tuple[Any, dict[str, Any], Any]:
    """Over a video the recording is the same for every frame: detect its fixations once.

    Returns (fixations or the samples, remaining detect options, scene size for mapping).
    A single-entry cache keyed by the recording's identity, extent and the options.
    """
    from ..adapters.prompts.gaze import GazeSamples, detect_fixations

    if not isinstance(gaze, GazeSamples) or len(gaze) == 0:
        return gaze, detect, None
    key = repr((id(gaze), len(gaze), float(gaze.t[0]), float(gaze.t[-1]), gaze.scene_size, sorted(detect.items())))
    with _CACHE_LOCK:
        hit = _CACHE.get("key") == key
        fixations = _CACHE.get("fixations") if hit else None
    if fixations is None:
        size = None if gaze.scene_size is not None else (int(image.shape[0]), int(image.shape[1]))
        fixations = detect_fixations(gaze, image_size=size, **detect)
        with _CACHE_LOCK:
            _CACHE.update(key=key, fixations=fixations)
    if not fixations:
        return gaze, detect, None  # let gaze_to_prompts explain why there is none
    return list(fixations), {}, gaze.scene_size
