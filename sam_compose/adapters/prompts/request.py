"""One request, many prompt sources: the shared front door of the CLI, the demo and the tools.

``prompts_from_request`` combines points, boxes, text, a gaze recording and a prior mask
into the list of prompts an engine segments, with the same rules everywhere:

* each box is one prompt; when there is exactly one box, the points join it;
* points without a box form one prompt (positive and negative points together);
* text and gaze together are **one** query, the named thing that was looked at
  (:func:`.text_gaze.text_gaze_prompts`); ``fuse=False`` keeps the older union where
  each adds its own prompts (one per matched region or fixation);
* a prior mask joins the single point/box prompt when there is one, otherwise it is a
  prompt of its own (mask logits plus a derived box).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ...errors import PromptError
from ...types import Prompt


def parse_point(text: str) -> tuple[float, float, int]:
    """``"X,Y"`` or ``"X,Y,LABEL"`` -> (x, y, label); label defaults to 1 (foreground)."""
    parts = [p.strip() for p in str(text).split(",")]
    if len(parts) not in (2, 3):
        raise PromptError(f"point {text!r} must be X,Y or X,Y,LABEL (label 1 = foreground, 0 = background)")
    try:
        x, y = float(parts[0]), float(parts[1])
        label = int(float(parts[2])) if len(parts) == 3 else 1
    except ValueError as exc:
        raise PromptError(f"point {text!r} must hold numbers, as X,Y or X,Y,LABEL") from exc
    if not (np.isfinite(x) and np.isfinite(y)):
        raise PromptError(f"point {text!r} has NaN or infinite coordinates")
    if label not in (0, 1):
        raise PromptError(f"point {text!r}: label must be 1 (foreground) or 0 (background)")
    return x, y, label


def parse_box(text: str) -> list[float]:
    """``"X0,Y0,X1,Y1"`` -> [x0, y0, x1, y1] (checked by :class:`Prompt`)."""
    parts = [p.strip() for p in str(text).split(",")]
    if len(parts) != 4:
        raise PromptError(f"box {text!r} must be four numbers X0,Y0,X1,Y1, got {len(parts)}")
    try:
        return [float(p) for p in parts]
    except ValueError as exc:
        raise PromptError(f"box {text!r} must hold numbers X0,Y0,X1,Y1") from exc


def parse_option(text: str) -> tuple[str, Any]:
    """``"KEY=VALUE"`` -> (key, value); the value is read as JSON when it parses, else kept as text."""
    key, sep, raw = str(text).partition("=")
    if not sep or not key.strip():
        raise PromptError(f"option {text!r} must be KEY=VALUE, e.g. scene_size=[720,1280]")
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    return key.strip(), value


def _gaze_prompts(image: np.ndarray, gaze: Any, options: Mapping[str, Any], engine: Any) -> list[Prompt]:
    """Read a recording (or take samples / fixations) and turn it into prompts, routing each
    option to the reader or to ``gaze_to_prompts`` by name."""
    import inspect

    from .gaze import gaze_to_prompts, read_gaze
    from .gaze.detect import detect_fixations
    from .gaze.readers import iter_gaze

    reader_keys = set(inspect.signature(iter_gaze).parameters) - {"source"}
    prompt_keys = (
        set(inspect.signature(gaze_to_prompts).parameters) | set(inspect.signature(detect_fixations).parameters)
    ) - {"gaze", "image", "samples", "detect", "engine", "image_size"}
    unknown = sorted(set(options) - reader_keys - prompt_keys)
    if unknown:
        raise PromptError(
            f"unknown gaze option(s) {unknown}; reader options: {sorted(reader_keys)}; "
            f"prompt options: {sorted(prompt_keys)}"
        )
    read_opts = {k: v for k, v in options.items() if k in reader_keys}
    prompt_opts = {k: v for k, v in options.items() if k not in reader_keys}
    if prompt_opts.get("accuracy") is not None or prompt_opts.get("accuracy_deg") is not None:
        prompt_opts.setdefault("engine", engine)
    samples = read_gaze(gaze, **read_opts) if isinstance(gaze, (str, os.PathLike)) else gaze
    return gaze_to_prompts(samples, image=image, **prompt_opts)


def _fused_prompts(image: np.ndarray, text: str, gaze: Any, options: Mapping[str, Any], engine: Any) -> list[Prompt]:
    """Text and gaze as one query (:func:`.text_gaze.text_gaze_prompts`), options routed by name."""
    import inspect

    from .gaze.detect import detect_fixations
    from .gaze.prompts import fixations_in_image
    from .gaze.readers import iter_gaze
    from .text_gaze import text_gaze_prompts

    own = set(inspect.signature(text_gaze_prompts).parameters) - {
        "image",
        "text",
        "gaze",
        "engine",
        "gaze_options",
        "scorer",
    }
    known = (
        own
        | set(inspect.signature(iter_gaze).parameters)
        | set(inspect.signature(fixations_in_image).parameters)
        | set(inspect.signature(detect_fixations).parameters)
    ) - {"source", "samples", "image_size", "detect"}
    unknown = sorted(set(options) - known)
    if unknown:
        raise PromptError(f"unknown gaze option(s) {unknown} for text with gaze; known: {sorted(known)}")
    if engine is None:
        raise PromptError("text with gaze needs an engine (its masks are the candidates); pass engine=...")
    return text_gaze_prompts(image, text, gaze, engine=engine, **dict(options))


def prompts_from_request(
    image: np.ndarray,
    *,
    points: Sequence[Sequence[float]] | None = None,
    labels: Sequence[int] | None = None,
    boxes: Sequence[Sequence[float]] | None = None,
    text: str | None = None,
    gaze: str | os.PathLike | Any | None = None,
    mask: Any = None,
    engine: Any = None,
    gaze_options: Mapping[str, Any] | None = None,
    fuse: bool = True,
) -> list[Prompt]:
    """Build the prompts for one segmentation request on ``image`` ((H, W, 3) uint8).

    ``points`` are (x, y) pixels with ``labels`` (default all 1); ``boxes`` are xyxy
    pixels; ``text`` goes through CLIP (``text_to_prompts``); ``gaze`` is a recording
    path or samples (``read_gaze`` + ``gaze_to_prompts``); both together are the fused
    query ``text_gaze_prompts`` (the named thing that was looked at) unless ``fuse`` is
    False (then each adds its own prompts); ``mask`` is a path or a
    full-size mask array (``mask_to_prompt``). ``gaze_options`` go to the reader
    (``format``, ``scene_size``, ``units``, ...) or to ``gaze_to_prompts`` (``crop``,
    ``method``, thresholds, ``negatives``, ``accuracy`` ...). Raises :class:`PromptError`
    when nothing usable is given.
    """
    size = (int(image.shape[0]), int(image.shape[1]))
    prompts: list[Prompt] = []
    try:
        pts = None if points is None or len(points) == 0 else np.asarray(points, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise PromptError(f"points must be numbers [[x, y], ...], got {points!r:.80}") from exc
    if pts is not None and (pts.ndim != 2 or pts.shape[1] != 2):
        raise PromptError(f"points must be [[x, y], ...], got shape {pts.shape}")
    if labels is not None and pts is None and len(labels):
        raise PromptError(f"{len(labels)} labels given but no points")
    box_list = [] if boxes is None else list(boxes)
    if len(box_list) == 1:
        prompts.append(Prompt(points=pts, labels=labels if pts is not None else None, box=box_list[0]))
    else:
        for b in box_list:
            prompts.append(Prompt(box=b))
        if pts is not None:
            prompts.append(Prompt(points=pts, labels=labels))
    if text is not None and gaze is not None and fuse:
        prompts.extend(_fused_prompts(image, text, gaze, gaze_options or {}, engine))
    else:
        if text is not None:
            from .text import text_to_prompts

            prompts.extend(text_to_prompts(image, text, engine=engine))
        if gaze is not None:
            prompts.extend(_gaze_prompts(image, gaze, gaze_options or {}, engine))
    if mask is not None:
        from .masks import mask_to_prompt

        mprompt = mask_to_prompt(mask, image_size=size)
        plain = [p for p in prompts if p.mask is None]
        if len(prompts) == 1 and plain:
            prompts[0] = prompts[0].replace(mask=mprompt.mask)
        else:
            prompts.append(mprompt)
    if not prompts:
        raise PromptError("nothing to segment: give at least one point, box, text, gaze recording or mask")
    return [p.validate_for(size) for p in prompts]
