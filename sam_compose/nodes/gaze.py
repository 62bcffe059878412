"""Gaze nodes: ``load_gaze`` (a recording file -> Gaze) and ``gaze_prompt`` (image + Gaze -> Prompts).

Thin wrappers over :mod:`sam_compose.adapters.prompts.gaze`; see docs/gaze.md. Example
graph (demos/gaze/gaze_segment.json)::

    "gaze":   {"type": "load_gaze", "params": {"path": "scene_gaze.csv"}},
    "prompt": {"type": "gaze_prompt", "inputs": {"image": "img", "gaze": "gaze"}},
    "seg":    {"type": "segment", "inputs": {"image": "img", "prompts": "prompt"}}
"""

from __future__ import annotations

import threading
from typing import Any

from .api import Param, file_stamp, frame_index, input_path, node, node_engine
from .ports import Gaze, Image, Prompts

FORMAT_CHOICES = ("auto", "pupil_core", "pupil_core_fixations", "neon", "neon_fixations", "tobii_g3", "generic")


def _pair(value: list[float] | None, name: str, n: int = 2) -> tuple[float, ...] | None:
    from ..adapters.prompts.gaze.samples import GazeError

    if value is None:
        return None
    if len(value) != n:
        raise GazeError(f"{name} must have {n} numbers, got {list(value)}")
    return tuple(value)


@node("load_gaze", category="inputs", cache_key=file_stamp,
      description="Read an eye-tracker recording (Pupil Core/Neon/Invisible, Tobii Glasses 3, generic CSV).")
def load_gaze_node(*, path: str = Param(kind="path_in", description="recording file: gaze_positions.csv, gaze.csv, fixations.csv, "
                                                      "gazedata(.gz) or a CSV with t, x, y columns"),
                   format: str = Param("auto", choices=FORMAT_CHOICES, description="file format (auto: from the header)"),
                   frame_size: list[int] | None = Param(None, description="scene frame [width, height] px "
                                                        "(default: the device's; generic pixels: the image)"),
                   units: str | None = Param(None, choices=(None, "px", "norm"), description="generic CSV: px or norm"),
                   origin: str | None = Param(None, choices=(None, "top-left", "bottom-left"),
                                              description="generic CSV: where y = 0 is"),
                   min_confidence: float | None = Param(None, ge=0.0, le=1.0,
                                                        description="drop samples below this confidence")) -> Gaze:
    """Read a gaze recording into GazeSamples (times in seconds, scene-frame pixels)."""
    from ..adapters.prompts.gaze import read_gaze

    return read_gaze(input_path(path), format=None if format == "auto" else format,
                     frame_size=_pair(frame_size, "frame_size"), units=units, origin=origin,
                     min_confidence=min_confidence)


@node("gaze_prompt", category="prompts",
      description="Fixations become positive points, one prompt per looked-at place, longest dwell first.")
def gaze_prompt_node(image: Image, gaze: Gaze, *,
                     method: str = Param("ivt", choices=("ivt", "idt"), description="fixation detection: velocity or dispersion"),
                     velocity_threshold: float | None = Param(None, gt=0, description="I-VT threshold, px/s (deg/s with fov)"),
                     dispersion_threshold: float | None = Param(None, gt=0, description="I-DT threshold, px (deg with fov)"),
                     min_duration: float = Param(0.06, ge=0, le=10, description="shortest fixation, seconds"),
                     fov: list[float] | None = Param(None, description="scene camera field of view [h_deg, v_deg]"),
                     crop: list[float] | None = Param(None, description="[x0, y0, x1, y1] scene px the image shows"),
                     merge_radius: float | None = Param(None, ge=0, description="join fixations closer than this (image px)"),
                     negatives: bool = Param(False, description="other fixated places become negative points"),
                     max_prompts: int | None = Param(None, ge=1, description="keep the N longest-dwell places"),
                     accuracy: float | None = Param(None, ge=0, description="tracker accuracy radius in image px: "
                                                    "calibration-aware prompting with the engine"),
                     engine: str = Param("opencv", kind="model", description="engine for calibration-aware prompting"),
                     video_fps: float | None = Param(None, gt=0, description="over a video: frame rate, so each frame "
                                                     "gets the fixations shown during it"),
                     video_start: float = Param(0.0, description="gaze-clock time of video frame 0, seconds")) -> Prompts:
    """Turn gaze into prompts for ``segment`` (see sam_compose.adapters.prompts.gaze_to_prompts)."""
    from ..adapters.prompts.gaze import gaze_to_prompts
    from ..adapters.prompts.gaze.samples import NoFixationError

    kw: dict[str, Any] = {}
    detect = dict(method=method, velocity_threshold=velocity_threshold, dispersion_threshold=dispersion_threshold,
                  min_duration=min_duration, fov=_pair(fov, "fov"))
    frame = frame_index()
    if video_fps is not None and frame is not None:
        kw.update(frame=frame, fps=video_fps, video_start=video_start)
        gaze, detect, kw["frame_size"] = _video_fixations(gaze, image, detect)
    eng = None
    if accuracy is not None:
        eng = node_engine(engine)
    try:
        return gaze_to_prompts(gaze, image, crop=_pair(crop, "crop", 4), merge_radius=merge_radius,
                               negatives=negatives, max_prompts=max_prompts, engine=eng, accuracy=accuracy,
                               **detect, **kw)
    except NoFixationError:
        if "frame" in kw:  # over a video, a frame nobody looked at simply has no prompt
            return []
        raise


_CACHE_LOCK = threading.Lock()
_CACHE: dict[str, Any] = {}


def _video_fixations(gaze: Any, image: Any, detect: dict[str, Any]) -> tuple[Any, dict[str, Any], Any]:
    """Over a video the recording is the same for every frame: detect its fixations once.

    Returns (fixations or the samples, remaining detect options, frame size for mapping).
    A single-entry cache keyed by the recording's identity, extent and the options.
    """
    from ..adapters.prompts.gaze import GazeSamples, detect_fixations

    if not isinstance(gaze, GazeSamples) or len(gaze) == 0:
        return gaze, detect, None
    key = repr((id(gaze), len(gaze), float(gaze.t[0]), float(gaze.t[-1]), gaze.frame_size, sorted(detect.items())))
    with _CACHE_LOCK:
        hit = _CACHE.get("key") == key
        fixations = _CACHE.get("fixations") if hit else None
    if fixations is None:
        size = None if gaze.frame_size is not None else tuple(int(v) for v in image.shape[:2])
        fixations = detect_fixations(gaze, image_size=size, **detect)
        with _CACHE_LOCK:
            _CACHE.update(key=key, fixations=fixations)
    if not fixations:
        return gaze, detect, None  # let gaze_to_prompts explain why there is none
    return list(fixations), {}, gaze.frame_size
