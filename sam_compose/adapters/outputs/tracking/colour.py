"""Colour models for the flow tracker: hue-saturation histograms of an object, the colour
snap of the flow-only path, and the search for a lost object in a new frame.

Histograms are (30, 32) float32 over OpenCV's HSV hue (0..180) and saturation (0..256),
normalised to sum 1. Frames are (H, W, 3) uint8 HSV (``cv2.COLOR_RGB2HSV``); masks are
(H, W) bool.
"""

from __future__ import annotations

import cv2
import numpy as np

from ....geometry import mask_iou

HIST_BINS = (30, 32)
HIST_RANGES = [0, 180, 0, 256]


def hs_hist(hsv: np.ndarray, mask: np.ndarray) -> np.ndarray | None:
    """Normalised hue-saturation histogram of the pixels under ``mask`` (None under 4 pixels)."""
    if mask.sum() < 4:
        return None
    hist = cv2.calcHist([hsv], [0, 1], mask.astype(np.uint8), list(HIST_BINS), HIST_RANGES)
    total = float(hist.sum())
    return (hist / total).astype(np.float32) if total > 0 else None


def lookup(hsv: np.ndarray, hist: np.ndarray) -> np.ndarray:
    """(H, W) probability of each pixel's (hue, saturation) bin under ``hist``."""
    hi = (hsv[..., 0].astype(np.int32) * HIST_BINS[0]) // 180
    si = (hsv[..., 1].astype(np.int32) * HIST_BINS[1]) // 256
    return hist[np.minimum(hi, HIST_BINS[0] - 1), np.minimum(si, HIST_BINS[1] - 1)]


def backproject(hsv: np.ndarray, hist: np.ndarray) -> np.ndarray:
    """(H, W) uint8 back-projection of ``hist`` scaled so its most frequent bin gives 255."""
    scaled = (hist * (255.0 / max(float(hist.max()), 1e-9))).astype(np.float32)
    return cv2.calcBackProject([hsv], [0, 1], scaled, HIST_RANGES, 1)


def snap(hsv: np.ndarray, hist: np.ndarray | None, carried: np.ndarray, accept_iou: float) -> tuple[np.ndarray, float]:
    """Refine a carried mask's boundary by colour; returns (mask, agreement IoU with ``carried``).

    In a 2-pixel band either side of the edge, a pixel joins the object when its colour is
    twice as likely under the object's histogram as under the surrounding background's
    (a ring around the object), leaves it in the opposite case, and keeps its carried label
    when the colours do not decide. The carried mask stands when the two disagree (IoU
    below ``accept_iou``).
    """
    if hist is None:
        return carried, 1.0
    c8 = carried.astype(np.uint8)
    k2 = np.ones((5, 5), np.uint8)
    grown, core = cv2.dilate(c8, k2) > 0, cv2.erode(c8, k2) > 0
    ring = (cv2.dilate(c8, np.ones((13, 13), np.uint8)) > 0) & ~grown
    bg = hs_hist(hsv, ring)
    if bg is None:
        return carried, 1.0
    zone = grown & ~core
    p_o, p_b = lookup(hsv, hist), lookup(hsv, bg)
    snapped = core | (zone & ((p_o > 2 * p_b) | (carried & ~(p_b > 2 * p_o))))
    agreement = mask_iou(snapped, carried)
    return (snapped, agreement) if agreement >= accept_iou else (carried, agreement)


def find(
    hsv: np.ndarray, hist: np.ndarray | None, taken: np.ndarray, ref_area: float, min_area: int, max_distance: float
) -> np.ndarray | None:
    """The region of the frame that best matches ``hist``, or None.

    Candidates are connected regions of the back-projection (outside ``taken``) with an area
    between 0.3 and 4 times ``ref_area``; the best has the smallest Bhattacharyya distance
    between its histogram and ``hist``, which must be at most ``max_distance``.
    """
    if hist is None:
        return None
    cand = (backproject(hsv, hist) >= 32) & ~taken
    cand = cv2.morphologyEx(cand.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(cand, connectivity=8)
    best, best_d = None, max_distance
    for k in range(1, n):
        area = stats[k, cv2.CC_STAT_AREA]
        if area < max(min_area, 0.3 * ref_area) or area > 4.0 * ref_area:
            continue
        region = labels == k
        h = hs_hist(hsv, region)
        if h is None:
            continue
        d = float(cv2.compareHist(hist, h, cv2.HISTCMP_BHATTACHARYYA))
        if d <= best_d:
            best, best_d = region, d
    return best
