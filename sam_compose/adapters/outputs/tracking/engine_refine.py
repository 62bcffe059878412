"""Re-segmenting carried masks with any engine's prompts (SAM and friends).

The flow tracker's path for engines other than the weight-free one (which re-segments on
its region graph, :mod:`sam_compose.engines.opencv.propagate`): each carried mask becomes a
prompt -- its box (grown by 10%, or the predicted whole box while partly hidden), its
deepest interior point, negative points on other objects inside the box and the carried
mask as prior logits -- and all objects are segmented in one engine call. The engine's
mask is kept near the carried one and accepted when the two agree.

Masks here are at the tracker's working resolution (h, w); prompts are scaled to the
frame's (H, W) pixels and the engine's masks resized back.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from ....geometry import mask_iou, mask_to_logits
from ....types import Prompt


def interior_point(mask: np.ndarray) -> tuple[float, float]:
    """(x, y) pixel centre of the mask's deepest pixel."""
    dist = cv2.distanceTransform(np.pad(mask.astype(np.uint8), 1), cv2.DIST_L2, 3)[1:-1, 1:-1]
    y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
    return float(x) + 0.5, float(y) + 0.5


def mask_box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """x0, y0, x1, y1 (exclusive) of a mask, None when empty."""
    ys = np.flatnonzero(mask.any(axis=1))
    xs = np.flatnonzero(mask.any(axis=0))
    if not ys.size:
        return None
    return int(xs[0]), int(ys[0]), int(xs[-1]) + 1, int(ys[-1]) + 1


def refine_prompt(
    soft: np.ndarray,
    carried: np.ndarray,
    others: list[np.ndarray],
    scale: tuple[float, float],
    predicted: np.ndarray | None = None,
    use_box: bool = True,
) -> Prompt:
    """The prompt that re-segments one carried mask; ``scale`` = (sy, sx) frame px per working px."""
    h, w = carried.shape
    x0, y0, x1, y1 = mask_box(carried)  # type: ignore[misc]
    if predicted is not None:
        x0, y0 = min(x0, int(predicted[0])), min(y0, int(predicted[1]))
        x1, y1 = max(x1, int(np.ceil(predicted[2]))), max(y1, int(np.ceil(predicted[3])))
    mx, my = max(2, int(0.1 * (x1 - x0))), max(2, int(0.1 * (y1 - y0)))
    sy, sx = scale
    box = [max(0, x0 - mx) * sx, max(0, y0 - my) * sy, min(w, x1 + mx) * sx, min(h, y1 + my) * sy]
    px, py = interior_point(carried)
    pts, labels = [(px * sx, py * sy)], [1]
    for o in others:
        if not o.any():
            continue
        qx, qy = interior_point(o)
        if box[0] <= qx * sx < box[2] and box[1] <= qy * sy < box[3] and not carried[int(qy), int(qx)]:
            pts.append((qx * sx, qy * sy))
            labels.append(0)
    return Prompt(
        points=pts, labels=labels, box=box if use_box else None, mask=mask_to_logits(soft), data={"adapter": "track"}
    )


def segment_all(engine: Any, frame: np.ndarray, prompts: list[Prompt], work_size: tuple[int, int]) -> list[np.ndarray]:
    """One engine call for every prompt; the best row of each, resized to ``work_size`` (h, w)."""
    if not prompts:
        return []
    res = engine.segment(frame, prompts)
    h, w = work_size
    out = []
    for i in range(len(prompts)):
        rows = np.flatnonzero(res.prompt_index == i)
        if rows.size == 0:
            out.append(np.zeros((h, w), bool))
            continue
        m = res.masks[rows[int(np.argmax(res.scores[rows]))]]
        if m.shape != (h, w):
            m = (
                cv2.resize(
                    m.astype(np.uint8), (w, h), interpolation=cv2.INTER_AREA if m.shape[0] > h else cv2.INTER_NEAREST
                )
                > 0
            )
        out.append(m)
    return out


def fuse(
    seg: np.ndarray,
    carried: np.ndarray,
    accept_iou: float,
    max_growth: float,
    predicted: np.ndarray | None = None,
    ref_area: float | None = None,
) -> tuple[np.ndarray, float]:
    """Keep the engine's mask near the carried one (or inside the predicted box while partly
    hidden); the carried mask stands when they disagree or the area jumps (a leak)."""
    area = float(carried.sum())
    r = max(2, int(round(0.1 * np.sqrt(area))))
    gate = (
        cv2.dilate(carried.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))) > 0
    )
    if predicted is not None:
        h, w = carried.shape
        x0, y0 = max(0, int(predicted[0]) - r), max(0, int(predicted[1]) - r)
        x1, y1 = min(w, int(np.ceil(predicted[2])) + r), min(h, int(np.ceil(predicted[3])) + r)
        gate[y0:y1, x0:x1] = True
    refined = seg & gate
    agreement = mask_iou(refined, carried)
    if predicted is not None:
        agreement = max(agreement, float((refined & carried).sum()) / max(area, 1.0))
        if ref_area is not None and refined.sum() > max_growth * ref_area:
            return carried, min(agreement, 0.5)
    else:
        ratio = float(refined.sum()) / max(area, 1.0)
        if not (1.0 / max_growth <= ratio <= max_growth):
            return carried, min(agreement, 0.5)
    if agreement >= accept_iou:
        return refined, agreement
    return carried, agreement
