"""Automatic regions for the OpenCV engine (``generate``).

Classical stand-in for SAM's automatic mask generator: seeds on a regular grid grow
colour-homogeneous regions by flood fill on the edge-preserving smoothed Lab image, at
several tolerances (fixed range around the seed colour, and a small floating range that
follows gradual shading). Each tolerance gives a partition of the image; regions from all
of them are cleaned (specks removed, small holes filled), scored with
:func:`~sam_compose.engines.opencv_score.score_mask`, and de-duplicated by greedy mask NMS
in score order. Everything runs at the engine's working resolution.

Masks are (h, w) bool at working resolution; the engine upsamples the survivors.
"""

from __future__ import annotations

import cv2
import numpy as np

from .opencv_regions import fill_holes
from .opencv_score import score_mask
from .opencv_seeds import flood_region

AUTO_TOLERANCES: tuple[tuple[float, bool], ...] = ((2.5, True), (10.0, False), (20.0, False), (32.0, False))


def grid_points(shape: tuple[int, int], per_side: int) -> np.ndarray:
    """(per_side**2, 2) continuous (x, y) cell centres of a regular grid over an (h, w) array."""
    h, w = shape
    t = (np.arange(per_side) + 0.5) / per_side
    gx, gy = np.meshgrid(t * w, t * h)
    return np.stack([gx.ravel(), gy.ravel()], 1)


def nms_masks(masks: list[np.ndarray], scores: list[float], threshold: float) -> list[int]:
    """Indices kept by greedy NMS on mask IoU (highest score first).

    IoU is computed on 128 x 128 thumbnails, and only for pairs whose boxes overlap.
    """
    if not masks:
        return []
    small = [cv2.resize(m.astype(np.uint8), (128, 128), interpolation=cv2.INTER_AREA) > 0 for m in masks]
    areas = [int(np.count_nonzero(s)) for s in small]
    boxes = []
    for s in small:
        ys, xs = np.nonzero(s)
        boxes.append((xs.min(), ys.min(), xs.max(), ys.max()) if xs.size else (0, 0, -1, -1))
    order = np.argsort(-np.asarray(scores), kind="stable")
    kept: list[int] = []
    for i in order:
        bi = boxes[i]
        dup = False
        for j in kept:
            bj = boxes[j]
            if bi[0] > bj[2] or bj[0] > bi[2] or bi[1] > bj[3] or bj[1] > bi[3]:
                continue
            inter = int(np.count_nonzero(small[i] & small[j]))
            union = areas[i] + areas[j] - inter
            if union > 0 and inter / union > threshold:
                dup = True
                break
        if not dup:
            kept.append(int(i))
    return kept


def auto_regions(smooth: np.ndarray, lab: np.ndarray, grad: np.ndarray, grad_ref: float, *,
                 points_per_side: int, min_area: float, max_area_fraction: float,
                 nms_threshold: float, score_threshold: float) -> tuple[list[np.ndarray], list[float]]:
    """Regions of the working image and their scores, sorted by score (highest first).

    ``min_area`` is in working-image pixels; regions smaller than it are dropped and holes
    smaller than it are filled.
    """
    h, w = smooth.shape[:2]
    total = h * w
    pts = grid_points((h, w), max(1, int(points_per_side)))
    regions: list[np.ndarray] = []
    for tol, floating in AUTO_TOLERANCES:
        taken = np.zeros((h, w), bool)
        for p in pts:
            x, y = min(int(p[0]), w - 1), min(int(p[1]), h - 1)
            if taken[y, x]:
                continue
            r = flood_region(smooth, p, tol, floating=floating)
            taken |= r
            a = int(r.sum())
            if a < min_area or a > max_area_fraction * total:
                continue
            r = cv2.morphologyEx(r.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)) > 0
            r = fill_holes(r, max(min_area, 0.02 * a))
            if r.sum() >= min_area:
                regions.append(r)
    scores = [score_mask(r, lab, grad, grad_ref) for r in regions]
    keep = [i for i in nms_masks(regions, scores, nms_threshold) if scores[i] >= score_threshold]
    return [regions[i] for i in keep], [scores[i] for i in keep]
