"""How good a set of regions is as an object: cues computed on the region graph.

All functions take a selection of superpixels (bool (n,)). The cues, each in [0, 1]:

* :func:`contour_strength` -- mean boundary strength along the selection's outline inside
  the image (objects are bounded by edges), mapped by ``cs / (cs + STRONG_EDGE)``;
* :func:`border_fraction` -- share of the outline on the image border (objects are
  seldom cut by the frame, backgrounds usually are);
* :func:`size_factor` -- tiny specks and selections covering most of the image are
  unlikely answers;
* :func:`solidity` -- area over convex-hull area (objects are compact; an accidental union
  of two things through a narrow contact is not);
* :func:`point_fit` -- how deep inside the selection the clicked points lie, relative to
  its deepest point (people click in the middle of what they mean), and how close their
  mean is to the selection's centroid.

:func:`shape_score` multiplies the point-independent cues; :func:`objectness` adds the
points. Shape measurements use a quarter-resolution label map (:func:`small_labels`).
"""

from __future__ import annotations

import cv2
import numpy as np

from .structure import ImageStructure

STRONG_EDGE = 0.5  # contour strength at which the edge cue reaches one half
MIN_FRACTION = 0.005  # objects below this share of the image are discounted
LARGE_FRACTION = 0.6  # selections above this share of the image are most likely background
CENTRE_POWER = 0.5
BORDER_POWER = 2.0
SOLIDITY_POWER = 0.5
BALANCE = 1.0  # centroid offset (in units of sqrt(area)) at which the balance cue is 1/e
SMALL_FACTOR = 4  # the shape label map is 1/SMALL_FACTOR of the working resolution


def crossing(s: ImageStructure, sel: np.ndarray) -> np.ndarray:
    """(m,) bool: adjacent pairs with exactly one region selected (the outline)."""
    e = s.graph.edges
    return sel[e[:, 0]] != sel[e[:, 1]]


def contour_strength(s: ImageStructure, sel: np.ndarray) -> float:
    """Mean boundary strength along the outline of ``sel`` inside the image (0 if none)."""
    c = crossing(s, sel)
    ln = s.graph.edge_len[c]
    if ln.sum() <= 0:
        return 0.0
    return float((ln * s.graph.edge_strength[c]).sum() / ln.sum())


def border_fraction(s: ImageStructure, sel: np.ndarray) -> float:
    """Share of the outline of ``sel`` that lies on the image border, in [0, 1]."""
    inner = float(s.graph.edge_len[crossing(s, sel)].sum())
    outer = float(s.graph.border[sel].sum())
    return outer / max(inner + outer, 1e-9)


def small_labels(s: ImageStructure) -> np.ndarray:
    """The label map at 1/``SMALL_FACTOR`` resolution (nearest), for cheap shape measurements."""
    h, w = s.labels.shape
    return cv2.resize(s.labels, (max(1, w // SMALL_FACTOR), max(1, h // SMALL_FACTOR)), interpolation=cv2.INTER_NEAREST)


def size_factor(fraction: float) -> float:
    """Discount for very small and very large selections (fraction of the image area)."""
    f = min(1.0, fraction / MIN_FRACTION) ** 0.5
    return f * (1.0 if fraction < LARGE_FRACTION else 0.2)


def solidity(sel: np.ndarray, small: np.ndarray) -> float:
    """Area over convex-hull area of the selection (on the small label map), in (0, 1]."""
    m = sel[small].astype(np.uint8)
    pts = cv2.findNonZero(m)
    if pts is None or len(pts) < 3:
        return 1.0
    hull = cv2.convexHull(pts)
    return float(min(1.0, m.sum() / max(cv2.contourArea(hull) + 0.5 * cv2.arcLength(hull, True) + 1.0, 1.0)))


def shape_score(s: ImageStructure, sel: np.ndarray, small: np.ndarray) -> float:
    """In [0, 1]: the point-independent cues multiplied (0 for an empty or full selection)."""
    if not sel.any() or sel.all():
        return 0.0
    cs = contour_strength(s, sel)
    frac = float(s.graph.area[sel].sum() / s.graph.area.sum())
    out = cs / (cs + STRONG_EDGE) * (1.0 - border_fraction(s, sel)) ** BORDER_POWER * size_factor(frac)
    if SOLIDITY_POWER > 0:
        out *= solidity(sel, small) ** SOLIDITY_POWER
    return float(out)


class PointFit:
    """Point cues for one selection: depth of points inside it and their balance.

    Built once per selection (one distance transform on the small label map); called for
    any points in working (x, y) pixels.
    """

    def __init__(self, s: ImageStructure, sel: np.ndarray, small: np.ndarray) -> None:
        m = np.pad(sel[small], 1).astype(np.uint8)
        self.depth: np.ndarray = (
            cv2.distanceTransform(m, cv2.DIST_L2, 3)[1:-1, 1:-1] if m.any() else np.zeros(small.shape, np.float32)
        )
        self.top = max(float(self.depth.max()), 1e-9)
        a = s.graph.area[sel]
        self.area = float(a.sum())
        self.centroid = (s.graph.centroid[sel] * a[:, None]).sum(0) / max(self.area, 1e-9)
        self.factor = s.labels.shape[1] / small.shape[1]

    def centrality(self, points_xy: np.ndarray) -> float:
        """Mean over points of (depth at the point) / (deepest depth); points outside count 0."""
        pts = np.asarray(points_xy, np.float64).reshape(-1, 2)
        if len(pts) == 0:
            return 1.0
        h, w = self.depth.shape
        # bilinear: the depth must change smoothly with the point, not in steps of a cell
        x = np.clip(pts[:, 0] / self.factor - 0.5, 0, w - 1)
        y = np.clip(pts[:, 1] / self.factor - 0.5, 0, h - 1)
        x0, y0 = np.floor(x).astype(np.int64), np.floor(y).astype(np.int64)
        x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
        fx, fy = x - x0, y - y0
        d = self.depth
        val = (
            d[y0, x0] * (1 - fx) * (1 - fy)
            + d[y0, x1] * fx * (1 - fy)
            + d[y1, x0] * (1 - fx) * fy
            + d[y1, x1] * fx * fy
        )
        return float(np.mean(val) / self.top)

    def balance(self, points_xy: np.ndarray) -> float:
        """``exp(-(offset / (BALANCE sqrt(area)))^2)`` for the offset of the points' mean from the centroid."""
        pts = np.asarray(points_xy, np.float64).reshape(-1, 2)
        if len(pts) == 0 or BALANCE <= 0:
            return 1.0
        off = float(np.linalg.norm(pts.mean(0) - self.centroid))
        return float(np.exp(-((off / (BALANCE * np.sqrt(max(self.area, 1.0)))) ** 2)))

    def __call__(self, points_xy: np.ndarray) -> float:
        return self.centrality(points_xy) ** CENTRE_POWER * self.balance(points_xy)


def objectness(s: ImageStructure, sel: np.ndarray, small: np.ndarray, points_xy: np.ndarray) -> float:
    """In [0, 1]: edge-bounded, compact, not cut by the frame, points near its middle."""
    base = shape_score(s, sel, small)
    return base * PointFit(s, sel, small)(points_xy) if base > 0 else 0.0
