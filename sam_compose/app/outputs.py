"""The output tabs without UI: inpainting, 3D lifting and video tracking through the adapters.

Each function takes plain arrays / paths and a :class:`~sam_compose.masks.Masks` result
and calls the output adapter (``inpaint``, ``lift_to_3d``, ``track``) through
:func:`~sam_compose.app.features.feature`, so a missing adapter gives one clear message.
Images are (H, W, 3) uint8 RGB; depth is (H, W) float32 metres with NaN = unknown.
"""

from __future__ import annotations

import itertools
import os
import time
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..errors import InputError
from ..masks import Masks
from ..types import Prompt
from ..visualize import overlay
from .features import feature
from .render import write_video

DEPTH_SOURCES: tuple[str, ...] = (
    "auto",
    "depth file",
    "stereo ground truth (motorcycle sample)",
    "monocular estimator",
    "relief from mask (illustration)",
)
"""Where the 3D tab's depth comes from; ``auto`` picks the first that applies."""

DEFAULT_FOV_DEG = 60.0
VIDEO_MAX_SIDE = 640
VIDEO_MAX_FRAMES = 300


def _unique_stamp() -> str:
    """A file-name stamp unique across concurrent calls (API calls share one folder)."""
    return f"{int(time.time() * 1000) % 10**9}_{uuid.uuid4().hex[:8]}"


def _require_masks(masks: Masks | None, what: str) -> Masks:
    if masks is None or len(masks) == 0:
        raise InputError(f"{what} needs a mask: segment an object first (click on it)")
    return masks


# --- inpainting -----------------------------------------------------------------------------
def inpaint_image(image: np.ndarray, masks: Masks | None, method: str = "telea", radius: int = 5) -> np.ndarray:
    """``image`` with the masked objects removed by the inpainting adapter."""
    masks = _require_masks(masks, "inpainting")
    return feature("inpaint")(image, masks, method=method, radius=int(radius))


# --- 3D -------------------------------------------------------------------------------------
def relief_depth(masks: Masks, base: float = 2.0, height: float = 0.3) -> np.ndarray:
    """An illustrative depth map (metres) when none is measured: each mask bulges towards the camera.

    Depth is ``base`` minus ``height`` times the normalised distance to the mask's edge, so
    the 3D view shows the object's outline as a dome. It is not a measurement.
    """
    union = masks.union().astype(np.uint8)
    dist = cv2.distanceTransform(union, cv2.DIST_L2, 5)
    peak = float(dist.max()) or 1.0
    depth = base - height * np.sqrt(dist / peak)
    depth = depth.astype(np.float32)
    depth[union == 0] = np.nan
    return depth


def _estimator_cached() -> bool:
    """True when the default monocular depth model is in the local Hugging Face cache (no network)."""
    try:
        from huggingface_hub import try_to_load_from_cache

        from ..adapters.outputs.depth import DEFAULT_DEPTH_MODEL
    except ImportError:
        return False
    return isinstance(try_to_load_from_cache(DEFAULT_DEPTH_MODEL, "config.json"), str)


def choose_depth(
    image: np.ndarray, image_name: str, masks: Masks, source: str = "auto", depth_file: str | None = None
) -> tuple[np.ndarray | str, Any, str]:
    """(depth or depth file, intrinsics, description) for the 3D tab.

    ``auto``: the uploaded depth file if any, the stereo ground truth for
    ``sample:motorcycle_left``, a monocular estimator when its weights are cached, else
    the illustrative relief (with a warning).
    """
    h, w = image.shape[:2]
    fov = DEFAULT_FOV_DEG
    if source not in DEPTH_SOURCES:
        raise InputError(f"unknown depth source {source!r}; choose one of {', '.join(DEPTH_SOURCES)}")
    if source == "depth file" or (source == "auto" and depth_file):
        if not depth_file:
            raise InputError("upload a depth file first (16-bit PNG in millimetres, or .npy in metres)")
        return str(depth_file), fov, f"depth file {Path(str(depth_file)).name}, {fov:g} degree field of view"
    is_moto = image_name.replace("sample:", "") == "motorcycle_left"
    if source.startswith("stereo") or (source == "auto" and is_moto):
        if not is_moto:
            raise InputError("stereo ground truth exists only for the 'motorcycle_left' example; load it first")
        from skimage import data

        from ..adapters.outputs.camera import MOTORCYCLE_CALIBRATION as cal
        from ..adapters.outputs.depth import depth_from_disparity

        _, _, disparity = data.stereo_motorcycle()
        depth = depth_from_disparity(disparity, cal)
        if depth.shape != (h, w):
            raise InputError(f"the stereo ground truth is {depth.shape[1]}x{depth.shape[0]}, the image {w}x{h}")
        return depth, (cal.focal, cal.focal, cal.cx, cal.cy), "Middlebury ground-truth disparity with its calibration"
    if source == "monocular estimator" or (source == "auto" and _estimator_cached()):
        from ..adapters.outputs.depth import estimate_depth
        from ..errors import EngineError

        try:
            return estimate_depth(image), fov, f"monocular depth estimate (relative), {fov:g} degree field of view"
        except (EngineError, ImportError, OSError) as exc:
            if source != "auto":
                raise
            warnings.warn(
                f"no measured depth ({' '.join(str(exc).split())[:160]}); showing an illustrative "
                "relief of the mask instead",
                stacklevel=2,
            )
    return relief_depth(masks), fov, "illustrative relief from the mask shape (not measured depth)"


def lift(
    image: np.ndarray,
    image_name: str,
    masks: Masks | None,
    folder: Path,
    source: str = "auto",
    depth_file: str | None = None,
    max_points: int = 60000,
) -> tuple[str, str, dict[str, Any]]:
    """Lift the masked object into a coloured point cloud; returns (GLB path, PLY path, summary)."""
    masks = _require_masks(masks, "3D lifting")
    lift_to_3d = feature("lift_to_3d")
    depth, intrinsics, how = choose_depth(image, image_name, masks, source, depth_file)
    t0 = time.perf_counter()
    cloud = lift_to_3d(masks, depth, intrinsics, image=image, max_points=int(max_points))
    ms = (time.perf_counter() - t0) * 1000
    folder.mkdir(parents=True, exist_ok=True)
    stamp = _unique_stamp()
    glb = cloud.save(folder / f"object_{stamp}.glb")
    ply = cloud.save(folder / f"object_{stamp}.ply")
    summary = dict(cloud.summary()) if hasattr(cloud, "summary") else {"points": len(cloud)}
    summary.update({"depth": how, "lift_ms": round(ms, 1)})
    return str(glb), str(ply), summary


# --- video ----------------------------------------------------------------------------------
def iter_video(
    path: str | os.PathLike | None, max_frames: int = VIDEO_MAX_FRAMES, max_side: int = VIDEO_MAX_SIDE
) -> Iterator[np.ndarray]:
    """The first ``max_frames`` RGB frames of the video at ``path``, downscaled to ``max_side``, lazily.

    One frame is in memory at a time. Raises :class:`InputError` for a missing,
    unreadable or empty video.
    """
    from ..video_io import open_video

    if not path:
        raise InputError("upload a video first (MP4, WebM, AVI, ...)")
    with open_video(str(path)) as src:
        yield from _downscaled(src, max_frames, max_side)


def _downscaled(src: Iterator[np.ndarray], max_frames: int, max_side: int) -> Iterator[np.ndarray]:
    for frame in itertools.islice(src, max_frames):  # stops before decoding frame max_frames
        h, w = frame.shape[:2]
        s = min(1.0, max_side / max(h, w))
        if s < 1.0:
            frame = cv2.resize(frame, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
        yield frame


@dataclass
class VideoInfo:
    """What the Video tab knows about a clip without holding it: frame count, fps, first frame."""

    path: str
    n_frames: int
    fps: float
    first: np.ndarray
    truncated: bool


def probe_video(
    path: str | os.PathLike | None, max_frames: int = VIDEO_MAX_FRAMES, max_side: int = VIDEO_MAX_SIDE
) -> VideoInfo:
    """Count the usable frames of a video (decoding it once, one frame at a time) and keep the first."""
    from ..video_io import open_video

    if not path:
        raise InputError("upload a video first (MP4, WebM, AVI, ...)")
    first = None
    n = 0
    with open_video(str(path)) as src:  # one pass: the frame rate and the frames
        fps = float(src.fps or 10.0)
        for frame in _downscaled(src, max_frames + 1, max_side):
            if first is None:
                first = frame
            n += 1
    if first is None:
        raise InputError(f"the video {Path(str(path)).name} has no frames")
    truncated = n > max_frames
    if truncated:
        warnings.warn(
            f"the demo tracks the first {max_frames} frames only; use `sam-compose run` "
            "with a track graph for longer videos",
            stacklevel=2,
        )
    return VideoInfo(str(path), min(n, max_frames), fps, first, truncated)


def frame_at(path: str | os.PathLike, index: int, max_side: int = VIDEO_MAX_SIDE) -> np.ndarray:
    """Frame ``index`` of the video (downscaled as in :func:`iter_video`)."""
    for i, frame in enumerate(iter_video(path, int(index) + 1, max_side)):
        if i == int(index):
            return frame
    raise InputError(f"frame {index} is past the end of the video")


def track_video(
    path: str | os.PathLike,
    prompt: Prompt,
    start: int,
    folder: Path,
    fps: float = 10.0,
    engine: Any = "opencv",
    max_frames: int = VIDEO_MAX_FRAMES,
) -> tuple[str, dict[str, Any]]:
    """Track the object given by ``prompt`` on frame ``start`` to the end; returns (overlay WebM, summary).

    Frames stream from the file through the tracking adapter (``track(..., with_frames=True)``)
    into the video writer, so memory stays flat however long the clip.
    """
    track = feature("track")
    if int(start) < 0:
        raise InputError(f"frame {start} is before the start of the video")
    t0 = time.perf_counter()
    lost_frames: list[int] = []
    count = 0

    def rendered() -> Iterator[np.ndarray]:
        nonlocal count
        stream = track(iter_video(path, max_frames), prompt, engine=engine, start_frame=int(start), with_frames=True)
        for frame, res in stream:
            i = int(res.data.get("frame", int(start) + count))
            count += 1
            if res.data.get("lost"):
                lost_frames.append(i)
            yield overlay(frame, res)

    folder.mkdir(parents=True, exist_ok=True)
    try:
        out = write_video(rendered(), folder / f"tracked_{_unique_stamp()}.webm", fps=fps)
    except InputError as exc:
        if count == 0 and "no frames to write" in str(exc):
            raise InputError(f"frame {start} is past the end of the video; pick an earlier frame") from exc
        raise
    ms = (time.perf_counter() - t0) * 1000
    return str(out), {
        "frames_tracked": count,
        "start_frame": int(start),
        "lost_on_frames": lost_frames[:50],
        "ms_per_frame": round(ms / max(count, 1), 1),
    }
