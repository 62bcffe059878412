"""Core nodes: load images and video, simple prompts, segment, generate, draw and save.

These are thin wrappers: images go through :func:`sam_compose.image_io.load_image`,
engines through :func:`sam_compose.shared_engine` (one engine and one embedding cache per
spec, shared by every node and graph in the process), exports through
:func:`sam_compose.adapters.outputs.export_masks`.

``point_prompt``, ``box_prompt``, ``save_image`` and ``export`` are fallbacks registered
with a low priority: the prompt and output adapter modules may register richer nodes of
the same names, which then replace these.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from .api import Param, file_stamp, input_files, input_path, node, node_engine, output_path
from .ports import FilePath, Image, Masks, Prompts, Video

FALLBACK = -10


@node(
    "load_image",
    category="inputs",
    description="Load an image file (or sample:NAME) as (H, W, 3) uint8 RGB.",
    cache_key=file_stamp,
)
def load_image_node(
    *,
    path: str = Param(kind="path_in", description="image file path, or sample:NAME (astronaut, chelsea, coffee, ...)"),
    max_pixels: int | None = Param(None, ge=1, description="refuse images with more pixels"),
) -> Image:
    from ..image_io import load_image

    src = path if path.startswith("sample:") else input_path(path)
    return load_image(src, max_pixels=max_pixels)


def _video_frames(path: str, start: int, stop: int | None, step: int) -> Iterator[np.ndarray]:
    """(H, W, 3) uint8 RGB frames from a video file, a folder of images or a glob.

    The source is checked now (missing file, unreadable video: InputError); frames are
    read lazily, one at a time, by :mod:`sam_compose.video_io`, so memory does not grow
    with the length of the video.
    """
    from ..video_io import IMAGE_SUFFIXES, VideoSource, open_video

    resolved = input_path(path)
    p = Path(resolved)
    if p.is_dir() or (any(ch in resolved for ch in "*?[") and not p.exists()):
        # every frame file is checked by the run's path guard (symlinks, '..', links in the pattern)
        files = input_files(resolved, IMAGE_SUFFIXES)[start:stop:step]
        if not files:
            raise InputError(
                f"load_video: no image files found at {path!r}; give a video file, a folder of frames or a glob"
            )
        return _frames_of(VideoSource(path, iter(files), frame_count=len(files)), path, 0, None, 1)
    if not p.is_file():
        raise InputError(f"load_video: {path!r} does not exist; give a video file, a folder of frames or a glob")
    return _frames_of(open_video(p), path, start, stop, step)


def _frames_of(source: Any, path: str, start: int, stop: int | None, step: int) -> Iterator[np.ndarray]:
    with source:  # closing the generator (the runtime does) releases the video
        produced = 0
        for frame in itertools.islice(source, start, stop, step):
            produced += 1
            yield frame
        if produced == 0:
            raise InputError(f"load_video: {path!r} has no frames (in the range start={start}, stop={stop})")


@node(
    "load_video",
    category="inputs",
    cacheable=False,
    description="Stream the frames of a video file, a folder of images or a glob; per-frame nodes run once per frame.",
)
def load_video_node(
    *,
    path: str = Param(kind="path_in", description="video file, folder of frames, or glob such as frames/*.png"),
    start: int = Param(0, ge=0, description="first frame index"),
    stop: int | None = Param(None, ge=1, description="stop before this frame index (None: to the end)"),
    step: int = Param(1, ge=1, description="keep every step-th frame"),
) -> Video:
    return _video_frames(path, start, stop, step)


@node(
    "point_prompt",
    category="prompts",
    priority=FALLBACK,
    description="Points (x, y pixels) with labels (1 foreground, 0 background) as one prompt, or one prompt per point.",
)
def point_prompt_node(
    image: Image | None = None,
    *,
    points: list[list[float]] = Param(description="[[x, y], ...] in pixels of the image"),
    labels: list[int] | None = Param(None, description="1 (foreground) or 0 (background) per point; default all 1"),
    separate: bool = Param(False, description="one prompt per point instead of one prompt with all points"),
) -> Prompts:
    from ..types import Prompt

    if labels is not None and len(labels) != len(points):
        raise InputError(f"point_prompt: {len(labels)} labels for {len(points)} points; give one label per point")
    labels = [1] * len(points) if labels is None else labels
    if separate:
        prompts = [Prompt(points=[pt], labels=[lb]) for pt, lb in zip(points, labels)]
    else:
        prompts = [Prompt(points=points, labels=labels)]
    if image is not None:
        prompts = [p.validate_for(image.shape[:2]) for p in prompts]
    return prompts


@node(
    "box_prompt",
    category="prompts",
    priority=FALLBACK,
    description="Boxes (x0, y0, x1, y1 pixels), one prompt per box.",
)
def box_prompt_node(
    image: Image | None = None, *, boxes: list[list[float]] = Param(description="[[x0, y0, x1, y1], ...] in pixels")
) -> Prompts:
    from ..types import Prompt

    if not boxes:
        raise InputError("box_prompt: no boxes given; set boxes to [[x0, y0, x1, y1], ...]")
    prompts = [Prompt(box=b) for b in boxes]
    if image is not None:
        prompts = [p.validate_for(image.shape[:2]) for p in prompts]
    return prompts


@node("segment", category="engine", description="Segment the image for each prompt with a shared engine.")
def segment_node(
    image: Image,
    prompts: Prompts,
    *,
    engine: str = Param(
        "opencv", kind="model", description="engine spec: opencv, auto, a Hugging Face id, a folder or a .pth"
    ),
    multimask: bool = Param(False, description="three candidate masks per prompt"),
    best: bool = Param(False, description="keep only the highest-scoring mask per prompt"),
) -> Masks:
    eng = node_engine(engine)
    if isinstance(prompts, list) and not prompts:  # e.g. a video frame with no fixation: no mask, no error
        from ..masks import Masks

        return Masks.empty(image.shape[:2], data={**eng.describe(), "prompts": []})
    res = eng.segment(image, prompts, multimask=multimask)
    return res.best() if best else res


@node("generate", category="engine", description="Automatic mask generation: every object the engine finds.")
def generate_node(
    image: Image,
    *,
    engine: str = Param("opencv", kind="model", description="engine spec"),
    points_per_side: int | None = Param(None, ge=1, le=128, description="grid density (engine default if None)"),
    options: dict[str, Any] = Param({}, description="further engine generate() parameters, e.g. pred_iou_thresh"),
    max_masks: int | None = Param(None, ge=1, description="keep only the highest-scoring masks"),
) -> Masks:
    kwargs = dict(options)
    if points_per_side is not None:
        kwargs["points_per_side"] = points_per_side
    res = node_engine(engine).generate(image, **kwargs)
    if max_masks is not None and len(res) > max_masks:
        res = res[np.sort(np.argsort(-res.scores, kind="stable")[:max_masks])]
    return res


@node("overlay", category="outputs", description="Draw masks (and their boxes) over the image.")
def overlay_node(
    image: Image,
    masks: Masks,
    *,
    alpha: float = Param(0.5, ge=0.0, le=1.0, description="mask opacity"),
    boxes: bool = Param(True, description="draw each mask's box"),
) -> Image:
    from ..visualize import overlay

    if masks.image_size != tuple(image.shape[:2]):
        raise InputError(
            f"overlay: masks are {masks.image_size} (H, W) but the image is {tuple(image.shape[:2])}; "
            "wire the image the masks were made from"
        )
    return overlay(image, masks, alpha=alpha, boxes=boxes)


@node(
    "save_image",
    category="outputs",
    cacheable=False,
    priority=FALLBACK,
    description="Write an image as PNG/JPEG; relative paths go under --out DIR; {frame} is the frame index.",
)
def save_image_node(
    image: Image,
    *,
    path: str = Param(kind="path_out", description="output file, e.g. out.png or frames/{frame:05d}.png"),
) -> FilePath:
    import cv2

    from ..video_io import IMAGE_SUFFIXES

    target = output_path(path)
    suffix = target.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise InputError(f"save_image: cannot tell the format of {path!r}; use a .png or .jpg name")
    tmp = target.with_name(f".{target.stem}.tmp{suffix}")
    if not cv2.imwrite(str(tmp), np.ascontiguousarray(image[:, :, ::-1])):
        raise InputError(f"save_image: could not write {target}")
    os.replace(tmp, target)
    return str(target)


@node(
    "export",
    category="outputs",
    cacheable=False,
    priority=FALLBACK,
    description="Export masks (COCO JSON or PNG folder) via sam_compose.adapters.outputs.export_masks.",
)
def export_node(
    masks: Masks,
    *,
    path: str = Param(kind="path_out", description="output file (coco) or folder (png)"),
    format: str = Param("coco", description="export format, e.g. coco or png"),
) -> FilePath:
    from ..adapters.outputs import export_masks

    return str(export_masks(masks, output_path(path), format=format))
