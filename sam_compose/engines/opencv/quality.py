"""How good a set of regions is as an object: cues computed on the region graph.

All functions take a selection of superpixels (bool (n,)) and return numbers in [0, 1]
or small positive reals; nothing here touches pixels except :func:`centrality`, which uses
a quarter-resolution label map.

* :func:`contour_strength` -- mean boundary strength along the selection's outline inside
  the image (objects are bounded by edges);
* :func:`border_fraction` -- share of the outline on the image border (objects are
  seldom cut by the frame, backgrounds usually are);
* :func:`centrality` -- how deep inside the selection the points lie, relative to its
  deepest point (people click in the middle of what they mean);
* :func:`objectness` -- the product used to rank candidates, in [0, 1].
"""

from __future__ import annotations

import cv2
import numpy as np

from .structure import ImageStructure

STRONG_EDGE = 0.5      # contour strength at which the edge cue reaches one half
MIN_FRACTION = 0.005   # objects below this share of the image are discounted
LARGE_FRACTION = 0.6   # selections above this share of the image are most likely background
CENTRE_POWER = 0.5
BORDER_POWER = 2.0
SOLIDITY_POWER = 0.5
BALANCE = 1.0          # centroid offset (in units of sqrt(area)) at which the balance cue is 1/e


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


def small_labels(s: ImageStructure, factor: int = 4) -> np.ndarray:
    """The label map at 1/``factor`` resolution (nearest), for cheap shape measurements."""
    h, w = s.labels.shape
    return cv2.resize(s.labels, (max(1, w // factor), max(1, h // factor)), interpolation=cv2.INTER_NEAREST)


def centrality(sel: np.ndarray, small: np.ndarray, points_xy: np.ndarray, factor: float) -> float:
    """Mean over points of (distance to the outline at the point) / (largest such distance), in [0, 1].

    ``small`` is the label map at 1/``factor`` resolution; ``points_xy`` working (x, y).
    Points outside the selection count 0. 1.0 when there is no point.
    """
    if len(points_xy) == 0:
        return 1.0
    m = np.pad(sel[small], 1).astype(np.uint8)
    if not m.any():
        return 0.0
    d = cv2.distanceTransform(m, cv2.DIST_L2, 3)[1:-1, 1:-1]
    top = float(d.max())
    h, w = small.shape
    vals = []
    for x, y in np.asarray(points_xy).reshape(-1, 2):
        c = int(np.clip(x / factor, 0, w - 1))
        r = int(np.clip(y / factor, 0, h - 1))
        vals.append(float(d[r, c]) / max(top, 1e-9))
    return float(np.mean(vals))


def size_factor(fraction: float) -> float:
    """Discount for very small and very large selections (fraction of the image area)."""
    f = min(1.0, fraction / MIN_FRACTION) ** 0.5
    return f * (1.0 if fraction < LARGE_FRACTION else 0.2)


def objectness(s: ImageStructure, sel: np.ndarray, small: np.ndarray, points_xy: np.ndarray,
               factor: float) -> float:
    """In [0, 1]: edge-bounded, not cut by the frame, points near its middle, plausible size."""
    if not sel.any() or sel.all():
        return 0.0
    cs = contour_strength(s, sel)
    edge = cs / (cs + STRONG_EDGE)
    bf = border_fraction(s, sel)
    cen = centrality(sel, small, points_xy, factor)
    frac = float(s.graph.area[sel].sum() / s.graph.area.sum())
    out = edge * (1.0 - bf) ** BORDER_POWER * cen ** CENTRE_POWER * size_factor(frac) * balance(s, sel, points_xy)
    if SOLIDITY_POWER > 0:
        out *= solidity(sel, small) ** SOLIDITY_POWER
    return float(out)


def solidity(sel: np.ndarray, small: np.ndarray) -> float:
    """Area over convex-hull area of the selection (on the small label map), in (0, 1]."""
    m = sel[small].astype(np.uint8)
    pts = cv2.findNonZero(m)
    if pts is None or len(pts) < 3:
        return 1.0
    hull = cv2.convexHull(pts)
    return float(min(1.0, (m.sum()) / max(cv2.contourArea(hull) + 0.5 * cv2.arcLength(hull, True) + 1.0, 1.0)))


def balance(s: ImageStructure, sel: np.ndarray, points_xy: np.ndarray) -> float:
    """In (0, 1]: 1 when the points' mean lies at the selection's centroid, falling with the
    offset relative to the selection's size (``exp(-(offset / (BALANCE x sqrt(area)))^2)``)."""
    if len(points_xy) == 0 or BALANCE <= 0:
        return 1.0
    a = s.graph.area[sel]
    c = (s.graph.centroid[sel] * a[:, None]).sum(0) / max(a.sum(), 1e-9)
    off = float(np.linalg.norm(np.asarray(points_xy, np.float64).reshape(-1, 2).mean(0) - c))
    return float(np.exp(-(off / (BALANCE * np.sqrt(max(a.sum(), 1.0)))) ** 2))
