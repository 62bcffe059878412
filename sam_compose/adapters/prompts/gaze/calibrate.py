"""Calibration-aware segmentation: respect the eye tracker's accuracy when a fixation prompts SAM.

A head-mounted tracker is accurate to about 1-2 degrees, i.e. tens of pixels: a fixation
on the edge of a small object may land just outside it. :func:`calibrated_segment`
samples ``n`` points within the accuracy radius around the fixation (the centre plus a
deterministic sunflower pattern), segments each with the engine in one call, and keeps
the mask that agrees best with the others (highest mean IoU: the medoid). The mask a
majority of plausible gaze positions lead to wins over the one an unlucky point gives.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ....geometry import pairwise_mask_iou
from ....masks import Masks
from ....types import Prompt
from .compat import positional_engine
from .errors import GazeError

__all__ = ["calibrated_segment", "candidate_points"]

_GOLDEN = np.pi * (3.0 - np.sqrt(5.0))


def candidate_points(x: float, y: float, radius: float, n: int, image_size: tuple[int, int]) -> np.ndarray:
    """(n, 2) points: (x, y) first, then a sunflower spiral filling the disc of ``radius`` px,
    clipped to the image of ``image_size`` (H, W)."""
    if n < 1:
        raise GazeError(f"n (candidate points) must be >= 1, got {n}")
    if not np.isfinite(radius) or radius < 0:
        raise GazeError(f"accuracy radius must be >= 0 pixels, got {radius!r}")
    k = np.arange(1, n)
    r = radius * np.sqrt(k / max(n - 1, 1))
    a = k * _GOLDEN
    pts = np.concatenate([[[x, y]], np.stack([x + r * np.cos(a), y + r * np.sin(a)], 1)], 0)
    h, w = image_size
    pts[:, 0] = np.clip(pts[:, 0], 0, w - 1)
    pts[:, 1] = np.clip(pts[:, 1], 0, h - 1)
    return pts


def calibrated_segment(
    image: np.ndarray,
    prompt: Prompt,
    *args: Any,
    engine: Any = None,
    accuracy: float | None = None,
    n: int = 9,
    multimask: bool = False,
) -> tuple[Masks, Prompt]:
    """Segment around the first positive point of ``prompt`` within ``accuracy`` pixels.

    ``engine`` (keyword) is a spec or an Engine (:func:`sam_compose.engines.resolve_engine`);
    the old positional ``(image, prompt, engine, accuracy)`` still works with a
    ``DeprecationWarning``.

    Each of ``n`` candidate points (see :func:`candidate_points`) replaces the prompt's
    first positive point (negatives are kept); all candidates go to ``engine.segment`` in
    one call. Returns (the most consistent mask as a one-row :class:`Masks`, the prompt
    that produced it with its low-res logits as ``mask`` when the engine gives them and
    ``data["calibration"]`` = {accuracy_px, n, consistency, point, agreement}).
    ``consistency`` is the chosen mask's mean IoU with the other candidates' masks.
    """
    engine, acc_pos = positional_engine(args, engine, "calibrated_segment", names=("engine", "accuracy"), stacklevel=4)
    if acc_pos is not None:
        if accuracy is not None:
            raise GazeError("calibrated_segment: accuracy given twice (positionally and as accuracy=)")
        accuracy = acc_pos
    if engine is None or accuracy is None:
        raise GazeError("calibrated_segment needs engine=... and accuracy=... (the tracker's accuracy, image px)")
    from ....engines import resolve_engine

    engine = resolve_engine(engine)
    positive = np.zeros(0, np.int64) if prompt.labels is None else np.flatnonzero(prompt.labels == 1)
    if prompt.points is None or not positive.size:
        raise GazeError("calibrated_segment needs a prompt with a positive point (a fixation)")
    h, w = image.shape[:2]
    i_pos = int(positive[0])
    cx, cy = (float(v) for v in prompt.points[i_pos])
    pts = candidate_points(cx, cy, float(accuracy), int(n), (h, w))
    cands = []
    for p in pts:
        q = prompt.points.copy()
        q[i_pos] = p
        cands.append(Prompt(points=q, labels=prompt.labels, box=prompt.box, mask=prompt.mask, data=prompt.data))
    res = engine.segment(image, cands, multimask=multimask)
    if multimask:  # best of the three per candidate, by the engine's score
        rows = [
            int(np.flatnonzero(res.prompt_index == i)[np.argmax(res.scores[res.prompt_index == i])])
            for i in range(len(cands))
        ]
        res = res[np.array(rows)]
    m = res.masks.reshape(len(res), -1)
    iou = pairwise_mask_iou(res.masks, res.masks) if len(res) > 1 else np.ones((1, 1))
    np.fill_diagonal(iou, np.nan)
    with np.errstate(invalid="ignore"):
        cons = np.nan_to_num(np.nanmean(iou, axis=1), nan=1.0) if len(res) > 1 else np.ones(1)
    empty = m.sum(1) == 0
    cons = np.where(empty, -1.0, cons)
    best = int(np.argmax(cons))  # ties -> the earliest, i.e. the fixation itself first
    agree = float(np.mean(np.nan_to_num(iou[best], nan=1.0) >= 0.5)) if len(res) > 1 else 1.0
    info = {
        "accuracy_px": round(float(accuracy), 3),
        "n": int(n),
        "consistency": round(float(cons[best]), 4),
        "agreement": round(agree, 4),
        "point": [round(float(v), 2) for v in pts[best]],
        "candidate": best,
    }
    data = dict(prompt.data)
    data["calibration"] = info
    chosen = cands[best]
    logits = None if res.logits is None else res.logits[best]
    chosen = Prompt(
        points=chosen.points,
        labels=chosen.labels,
        box=chosen.box,
        mask=logits if logits is not None else chosen.mask,
        data=data,
    )
    row = res[best : best + 1]
    out = Masks(
        row.masks,
        scores=row.scores,
        boxes=row.boxes,
        logits=row.logits,
        prompt_index=[0],
        data={**row.data, "prompts": [chosen], "adapter": "gaze", "calibration": info},
    )
    return out, chosen
