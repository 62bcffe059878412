"""From prompts to GrabCut label maps: seed regions and colour models.

Point prompts do not say how large the object is, so :func:`point_regions` proposes
several extents around the positive points: colour-similar regions grown by flood fill on
an edge-preserving smoothed Lab image at increasing tolerances (a colour model centred on
the clicked colour), and square windows of a few sizes for textured objects that flood fill
cannot grow through. Each proposal becomes a GrabCut label map (:func:`labels_from_region`,
:func:`labels_from_box`, :func:`labels_from_prior`) in which the prompt's points are hard
seeds; GrabCut then fits colour mixtures and cuts along edges.

Regions are (h, w) bool in the coordinates of the array they were computed on; points
are continuous (x, y) pixels of that array.
"""

from __future__ import annotations

from typing import Callable

import cv2
import numpy as np

from ..geometry import mask_iou
from .opencv_regions import pixel_of, seed_disks, split_by_negatives

FLOOD_TOLERANCES = (6, 12, 20, 32)
WINDOW_FRACTIONS = (0.08, 0.16, 0.3)


def flood_region(smooth: np.ndarray, point: np.ndarray, tol: float, floating: bool = False) -> np.ndarray:
    """(h, w) bool region 8-connected to ``point`` whose colour is within ``tol`` of the seed's.

    ``smooth`` is an (h, w, 3) uint8 image (edge-preserving smoothed Lab). With ``floating``
    the tolerance is between neighbours instead (follows gradual shading).
    """
    h, w = smooth.shape[:2]
    ff = np.zeros((h + 2, w + 2), np.uint8)
    flags = 8 | cv2.FLOODFILL_MASK_ONLY | (1 << 8)
    if not floating:
        flags |= cv2.FLOODFILL_FIXED_RANGE
    t = (float(tol),) * 3
    cv2.floodFill(smooth, ff, pixel_of(point, (h, w)), (0, 0, 0), t, t, flags)
    return ff[1:-1, 1:-1] > 0


def point_regions(smooth: np.ndarray, pos: np.ndarray, neg: np.ndarray, max_fraction: float = 0.6,
                  rank: Callable[[np.ndarray], float] | None = None, max_flood: int = 2,
                  max_windows: int = 3) -> list[np.ndarray]:
    """Candidate object extents around positive points (see the module docstring).

    Returns (h, w) bool regions, each containing every positive point and none of the
    negative points' pixels (a colour region that swallows a negative point is split
    between the seeds by a marker watershed; such windows are dropped), without
    near-duplicates, smallest first. With ``rank`` (region -> quality), only the
    ``max_flood`` best colour regions are kept, plus one window. Empty list when there is
    no positive point.
    """
    h, w = smooth.shape[:2]
    pos = np.asarray(pos, np.float64).reshape(-1, 2)
    neg = np.asarray(neg, np.float64).reshape(-1, 2)
    if len(pos) == 0:
        return []
    neg_px = [pixel_of(p, (h, w)) for p in neg]
    out: list[np.ndarray] = []
    proposals: list[np.ndarray] = []
    for tol in FLOOD_TOLERANCES:
        r = np.zeros((h, w), bool)
        for p in pos:
            r |= flood_region(smooth, p, tol)
        proposals.append(r)
    for tol in (2.0, 3.5):
        r = np.zeros((h, w), bool)
        for p in pos:
            r |= flood_region(smooth, p, tol, floating=True)
        proposals.append(r)
    side = max(h, w)
    n_flood = len(proposals)
    for frac in WINDOW_FRACTIONS:
        r = np.zeros((h, w), np.uint8)
        half = max(2, int(round(frac * side / 2)))
        x0, y0 = pos.min(0)
        x1, y1 = pos.max(0)
        cv2.rectangle(r, (int(x0) - half, int(y0) - half), (int(x1) + half, int(y1) + half), 1, -1)
        proposals.append(r.astype(bool))
    flood: list[np.ndarray] = []
    windows: list[np.ndarray] = []
    for k, r in enumerate(proposals):
        a = r.sum()
        if a < 4 or a > max_fraction * h * w:
            continue
        if any(r[y, x] for x, y in neg_px):
            if k >= n_flood:
                continue
            r = split_by_negatives(r, smooth, pos, neg)  # keep the positive side only
            if r.sum() < 4:
                continue
        if any(mask_iou(r, o) > 0.9 for o in flood + windows):
            continue
        (flood if k < n_flood else windows).append(r)
    if rank is not None:
        flood = sorted(flood, key=rank, reverse=True)[:max_flood]
        windows = windows[:max_windows]
    out = flood + windows
    out.sort(key=lambda m: int(m.sum()))
    return out


def add_point_seeds(labels: np.ndarray, pos: np.ndarray, neg: np.ndarray, radius: int) -> np.ndarray:
    """Mark disks around positive points GC_FGD and around negative points GC_BGD (in place)."""
    if len(pos):
        labels[seed_disks(labels.shape, pos, radius)] = cv2.GC_FGD
    if len(neg):
        labels[seed_disks(labels.shape, neg, radius)] = cv2.GC_BGD
    return labels


def labels_from_region(region: np.ndarray, band: int, core: bool = True) -> np.ndarray:
    """Label map from a proposed region: region probable FG, a ring of ``band`` px probable BG,
    the rest definite BG. With ``core``, nothing is definite foreground (flood fill may leak)."""
    lab = np.full(region.shape, cv2.GC_BGD, np.uint8)
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * band + 1, 2 * band + 1))
    grown = cv2.dilate(region.astype(np.uint8), k).astype(bool)
    lab[grown] = cv2.GC_PR_BGD
    lab[region] = cv2.GC_PR_FGD
    return lab


def labels_from_box(shape: tuple[int, int], box: np.ndarray, corners: bool = True,
                    corner_label: int = cv2.GC_PR_BGD, corner_size: float = 0.22) -> np.ndarray:
    """Label map from a box (crop coordinates): outside BG, inside probable FG.

    With ``corners``, triangles in the box's corners (legs ``corner_size`` x the shorter
    side) become ``corner_label`` (probable background by default): a tight box around most
    objects leaves its corners empty, so the background model sees the in-box background
    colours from the start (and, with ``GC_BGD``, keeps them).
    """
    h, w = shape
    lab = np.full(shape, cv2.GC_BGD, np.uint8)
    x0, y0 = int(np.clip(np.floor(box[0]), 0, w - 1)), int(np.clip(np.floor(box[1]), 0, h - 1))
    x1, y1 = int(np.clip(np.ceil(box[2]), x0 + 1, w)), int(np.clip(np.ceil(box[3]), y0 + 1, h))
    lab[y0:y1, x0:x1] = cv2.GC_PR_FGD
    if corners:
        bw, bh = x1 - x0, y1 - y0
        leg = corner_size * min(bw, bh)
        if leg >= 3:
            tri = np.zeros(shape, np.uint8)
            for cx, cy, dx, dy in ((x0, y0, 1, 1), (x1 - 1, y0, -1, 1), (x0, y1 - 1, 1, -1), (x1 - 1, y1 - 1, -1, -1)):
                pts = np.array([[cx, cy], [cx + dx * leg, cy], [cx, cy + dy * leg]], np.int32)
                cv2.fillConvexPoly(tri, pts, 1)
            lab[(tri > 0) & (lab == cv2.GC_PR_FGD)] = corner_label
    return lab


def labels_from_prior(prior: np.ndarray, band: int, box: np.ndarray | None = None) -> np.ndarray:
    """Label map from a prior mask: its deep interior probable FG, a ring probable BG.

    Inside a box, outside-the-box pixels are definite background.
    """
    lab = labels_from_region(prior, band)
    if box is not None:
        h, w = prior.shape
        outside = np.ones((h, w), bool)
        x0, y0 = int(max(np.floor(box[0]), 0)), int(max(np.floor(box[1]), 0))
        outside[y0:int(np.ceil(box[3])), x0:int(np.ceil(box[2]))] = False
        lab[outside] = cv2.GC_BGD
    return lab


def region_bbox(region: np.ndarray) -> np.ndarray | None:
    """xyxy (x1, y1 exclusive) of a bool region, or None when empty."""
    ys, xs = np.nonzero(region)
    if xs.size == 0:
        return None
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float64)
