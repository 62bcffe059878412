"""Candidate extents from the region tree: what a click can mean, level by level.

For every positive superpixel the tree offers its ancestors, from the superpixel itself
to the whole image. Cutting the tree at a height keeps, for each positive, its highest
ancestor formed at or below that height; the union over positives is one candidate.
Negative points cut the tree: an ancestor holding a negative superpixel is never used,
the positive keeps its highest ancestor without one. A box cuts it too: ancestors mostly
outside the box are not used. Each candidate is ranked by :func:`.quality.objectness` and,
when given, its agreement with a geodesic segmentation of the same prompt.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .quality import objectness, small_labels
from .seeds import RegionPrompt
from .structure import ImageStructure

MAX_LEVELS = 32
GEODESIC_POWER = 0.25


@dataclass
class Candidate:
    """A selection of superpixels with its score and where it came from."""

    sel: np.ndarray   # (n,) bool
    score: float
    kind: str
    area: float       # working pixels
    pixels: np.ndarray | None = None  # (h, w) bool when the candidate is not a union of regions


def _allowed(s: ImageStructure, rp: RegionPrompt) -> np.ndarray:
    """(N,) bool over tree nodes: holds no negative superpixel and lies mostly inside the box."""
    t = s.tree
    N = t.parent.size
    ok = np.ones(N, bool)
    if rp.neg.any():
        where = np.zeros(t.n_leaves + 1, np.int64)
        inv = np.empty(t.n_leaves, np.int64)
        inv[t.order] = np.arange(t.n_leaves)
        marks = np.zeros(t.n_leaves, np.int64)
        marks[inv[np.flatnonzero(rp.neg)]] = 1
        where[1:] = np.cumsum(marks)
        ok &= (where[t.stop] - where[t.start]) == 0
    if rp.inside is not None:
        inside_px = np.zeros(N)
        inside_px[: t.n_leaves] = rp.inside * s.graph.area
        for k in range(t.n_leaves, N):
            a, b = t.children[k]
            inside_px[k] = inside_px[a] + inside_px[b]
        ok &= inside_px >= 0.5 * t.area
    return ok


def tree_candidates(s: ImageStructure, rp: RegionPrompt, geodesic: np.ndarray | None = None) -> list[Candidate]:
    """Candidates for the positive points (empty list without positives), smallest first."""
    t = s.tree
    pos = np.flatnonzero(rp.pos)
    if pos.size == 0:
        return []
    ok = _allowed(s, rp)
    chains = []
    for leaf in pos[:64]:
        chain = [c for c in t.ancestors(int(leaf))]
        usable = []
        for c in chain:
            if not ok[c]:
                break
            usable.append(c)
        chains.append(usable or [int(leaf)])
    heights = np.unique(np.concatenate([t.height[c] for c in chains]))
    if heights.size > MAX_LEVELS:
        heights = np.unique(np.quantile(heights, np.linspace(0, 1, MAX_LEVELS), method="nearest"))
    small = small_labels(s)
    factor = s.labels.shape[1] / small.shape[1]
    area = s.graph.area
    out: list[Candidate] = []
    seen: set[bytes] = set()
    for h in heights:
        sel = np.zeros(s.n, bool)
        for chain in chains:
            hs = t.height[chain]
            k = chain[max(0, int(np.searchsorted(hs, h, side="right")) - 1)]
            sel[t.leaves(k)] = True
        key = np.packbits(sel).tobytes()
        if key in seen:
            continue
        seen.add(key)
        score = objectness(s, sel, small, rp.pos_xy, factor)
        if geodesic is not None and geodesic.any():
            inter = float(area[sel & geodesic].sum())
            union = float(area[sel | geodesic].sum())
            score *= (inter / max(union, 1e-9)) ** GEODESIC_POWER
        out.append(Candidate(sel, score, f"tree{len(out)}", float(area[sel].sum())))
    out.sort(key=lambda c: c.area)
    return out
