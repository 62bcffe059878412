"""Candidate extents from the region tree: what a click can mean, level by level.

For every positive superpixel the tree offers its ancestors, from the superpixel itself
to the whole image. Negative points cut the tree: an ancestor holding a negative
superpixel is never used, the positive keeps its highest ancestor without one. A box cuts
it too: ancestors mostly outside the box are not used.

* One positive point: every usable ancestor is a candidate. A click is only known to a
  few pixels, so it is scored as a small cloud of positions (the click and ``SPREAD``
  working pixels around it): a node's point cues are averaged over the positions it holds.
  Moving the click by a few pixels then changes the scores a little, not the answer.
* Several positive points: cutting the tree at a height keeps, for each positive, its
  highest usable ancestor formed at or below that height; the union is one candidate.

Candidates are ranked by :mod:`.quality` cues and, when given, their agreement with a
geodesic segmentation of the same prompt.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .quality import CENTRE_POWER, PointFit, objectness, shape_score, small_labels
from .seeds import RegionPrompt, pixel_index
from .structure import ImageStructure

MAX_LEVELS = 32
GEODESIC_POWER = 0.25
SPREAD = 6.0  # working pixels: how far around a click its position may be
SPREAD_SAMPLES = 8
SOFT_HOLD = True
TIE = 0.03
MIN_CENTRALITY = 0.25  # below this for every candidate, the click is on an edge: depth is ignored
MEMO_NODES = 512  # tree nodes whose measurements are kept per image


@dataclass
class Candidate:
    """A selection of superpixels with its score and where it came from."""

    sel: np.ndarray  # (n,) bool
    score: float
    kind: str
    area: float  # working pixels
    pixels: np.ndarray | None = None  # (h, w) bool when the candidate is not a union of regions
    shape: float = 0.0  # the point-independent part of the score (:func:`.quality.shape_score`)


def allowed_nodes(s: ImageStructure, rp: RegionPrompt) -> np.ndarray:
    """(N,) bool over tree nodes: holds no negative superpixel and lies mostly inside the box."""
    t = s.require_tree()
    N = t.parent.size
    ok = np.ones(N, bool)
    if rp.neg.any():
        inv = np.empty(t.n_leaves, np.int64)
        inv[t.order] = np.arange(t.n_leaves)
        marks = np.zeros(t.n_leaves, np.int64)
        marks[inv[np.flatnonzero(rp.neg)]] = 1
        where = np.concatenate([[0], np.cumsum(marks)])
        ok &= (where[t.stop] - where[t.start]) == 0
    if rp.inside is not None:
        acc = np.concatenate([[0.0], np.cumsum((rp.inside * s.graph.area)[t.order])])
        ok &= (acc[t.stop] - acc[t.start]) >= 0.5 * t.area
    return ok


def _usable_chain(s: ImageStructure, leaf: int, ok: np.ndarray) -> list[int]:
    chain = []
    for c in s.require_tree().ancestors(int(leaf)):
        if not ok[c]:
            break
        chain.append(c)
    return chain or [int(leaf)]


def _node_measures(s: ImageStructure, node: int, small: np.ndarray) -> tuple[np.ndarray, float, PointFit | None]:
    """(selection, shape score, point fit) of a tree node, memoised on the structure."""
    key = ("node", int(node))
    hit = s.memo.get(key)
    if hit is not None:
        return hit
    sel = s.require_tree().member(int(node))
    base = shape_score(s, sel, small)
    fit = PointFit(s, sel, small) if base > 0 else None
    if len(s.memo) < MEMO_NODES:
        s.memo[key] = (sel, base, fit)
    return sel, base, fit


def _agreement(area: np.ndarray, sel: np.ndarray, geodesic: np.ndarray | None) -> float:
    if geodesic is None or not geodesic.any():
        return 1.0
    inter = float(area[sel & geodesic].sum())
    union = float(area[sel | geodesic].sum())
    return (inter / max(union, 1e-9)) ** GEODESIC_POWER


def click_cloud(xy: np.ndarray) -> np.ndarray:
    """(1 + SPREAD_SAMPLES, 2) working (x, y): the click and positions ``SPREAD`` px around it."""
    ang = np.arange(SPREAD_SAMPLES) * (2 * np.pi / SPREAD_SAMPLES)
    ring = np.asarray(xy, np.float64).reshape(1, 2) + SPREAD * np.stack([np.cos(ang), np.sin(ang)], 1)
    return np.concatenate([np.asarray(xy, np.float64).reshape(1, 2), ring])


def tree_candidates(s: ImageStructure, rp: RegionPrompt, geodesic: np.ndarray | None = None) -> list[Candidate]:
    """Candidates for the positive points (empty list without positives), smallest first."""
    if not rp.pos.any():
        return []
    if len(rp.pos_xy) == 1:
        return _single_click(s, rp, geodesic)
    return _levels(s, rp, geodesic)


def _single_click(s: ImageStructure, rp: RegionPrompt, geodesic: np.ndarray | None) -> list[Candidate]:
    ok = allowed_nodes(s, rp)
    small = small_labels(s)
    cloud = click_cloud(rp.pos_xy[0])
    h, w = s.labels.shape
    inside = (cloud[:, 0] >= 0) & (cloud[:, 0] < w) & (cloud[:, 1] >= 0) & (cloud[:, 1] < h)
    inside[0] = True
    cloud = cloud[inside]
    rows, cols = pixel_index(cloud, (h, w))
    leaves = s.labels[rows, cols]
    leaves[0] = int(np.flatnonzero(rp.pos)[0])  # the click's own superpixel
    leaves = np.where(rp.neg[leaves], leaves[0], leaves)  # positions on a negative point count as the click
    weights = np.ones(len(cloud))
    weights[0] = 2.0
    t = s.require_tree()
    inv = np.empty(t.n_leaves, np.int64)
    inv[t.order] = np.arange(t.n_leaves)
    pos_in_order = inv[leaves]
    nodes: set[int] = set()
    for leaf in np.unique(leaves):
        nodes.update(_usable_chain(s, int(leaf), ok))
    area = s.graph.area
    found = []
    for k in sorted(nodes, key=lambda k: t.area[k]):
        sel, base, fit = _node_measures(s, k, small)
        held = (pos_in_order >= t.start[k]) & (pos_in_order < t.stop[k])
        if not held[0] and float(weights[held].sum()) < 0.5 * float(weights.sum()):
            continue  # a candidate holds the click, or most of the positions it may have been
        cen = bal = np.zeros(len(cloud))
        if base > 0 and fit is not None:
            cen = (
                np.array([fit.centrality(p) for p in cloud])
                if SOFT_HOLD
                else np.array([fit.centrality(p) if hd else 0.0 for p, hd in zip(cloud, held)])
            )
            bal = np.array([fit.balance(p) if (hd or SOFT_HOLD) else 0.0 for p, hd in zip(cloud, held)])
        found.append((k, sel, base, cen, bal, held))
    # a click on an edge is near no candidate's middle: its depth says nothing, the regions must
    informative = any(float(c[0]) >= MIN_CENTRALITY for _, _, _, c, _, _ in found)
    out: list[Candidate] = []
    for k, sel, base, cen, bal, held in found:
        if informative:
            per = cen**CENTRE_POWER * bal
        else:
            per = held.astype(np.float64)
        score = base * float((weights * per).sum() / weights.sum()) * _agreement(area, sel, geodesic)
        out.append(Candidate(sel, score, f"tree{len(out)}", float(t.area[k]), shape=base))
    return out


def pick(cands: list[Candidate]) -> Candidate:
    """The best candidate; among those within ``TIE`` of the best score, the one whose own
    shape scores best (that part does not move with the click, so near-ties do not flip
    with a click moved by a pixel or two)."""
    top = max(c.score for c in cands)
    near = [c for c in cands if c.score >= (1.0 - TIE) * top]
    return max(near, key=lambda c: (c.shape, c.score))


def _levels(s: ImageStructure, rp: RegionPrompt, geodesic: np.ndarray | None) -> list[Candidate]:
    t = s.require_tree()
    ok = allowed_nodes(s, rp)
    chains = [_usable_chain(s, int(leaf), ok) for leaf in np.flatnonzero(rp.pos)[:64]]
    heights = np.unique(np.concatenate([t.height[c] for c in chains]))
    if heights.size > MAX_LEVELS:
        heights = np.unique(np.quantile(heights, np.linspace(0, 1, MAX_LEVELS), method="nearest"))
    small = small_labels(s)
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
        score = objectness(s, sel, small, rp.pos_xy) * _agreement(area, sel, geodesic)
        out.append(Candidate(sel, score, f"tree{len(out)}", float(area[sel].sum())))
    out.sort(key=lambda c: c.area)
    return out
