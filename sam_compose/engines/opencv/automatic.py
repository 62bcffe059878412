"""Automatic masks from the region tree: the persistent regions, as a few nested levels.

SAM's automatic generator prompts a grid of points and de-duplicates hundreds of
overlapping masks. The region tree already is a nested family of partitions: a node that
formed at height ``h`` (the dissimilarity of its last merge) and was absorbed at its
parent's height ``H`` is separated from its surroundings by boundaries much stronger than
those inside it when ``H / h`` is large -- the tree's version of a stable region (like
maximally stable extremal regions, or the strong contours of an ultrametric contour map).

Regions are the nodes with the highest persistence-weighted score; a region's ``parent``
is the nearest selected ancestor and its ``level`` the number of selected ancestors, so
regions of one level never overlap and each lies inside its parent. Nothing is computed
per pixel except the final masks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .quality import border_fraction, contour_strength
from .structure import ImageStructure

COARSEST = 4  # regions (of at least MAP_AREA) in the coarsest partition
GROWTH = 3  # each finer partition has this many times more
MAP_AREA = 0.005  # share of the image a region needs to count in a partition
MIN_PERSISTENCE = 2.0  # parent height / node height below which a node is not a region of its own
MAX_REGIONS = 16  # regions considered before the level limit
RANK_AREA = 0.01  # regions under this share of the image rank lower (by the square root)
NESTED_MAX = 0.8  # a region must be at most this share of its parent to be listed as well


@dataclass
class AutoRegion:
    """One automatic region: (h, w) bool working mask, score in [0, 1], level, parent row."""

    mask: np.ndarray
    score: float
    level: int
    parent: int
    node: int


def persistence(s: ImageStructure) -> np.ndarray:
    """(N,) parent height / own height for every tree node (inf at the root)."""
    t = s.require_tree()
    eps = 1e-3 * max(float(t.height.max()), 1e-6)
    par = np.where(t.parent >= 0, t.height[np.maximum(t.parent, 0)], np.inf)
    return (par + eps) / (t.height + eps)


def region_score(s: ImageStructure, sel: np.ndarray, rho: float) -> float:
    """In [0, 1]: edge-bounded, persistent regions not cut by the frame score high."""
    cs = contour_strength(s, sel)
    return float(cs / (cs + 0.5) * (1.0 - 0.5 * border_fraction(s, sel)) * (1.0 - 1.0 / max(rho, 1.0)))


def partitions(s: ImageStructure, counts: tuple[int, ...], min_area: float) -> list[np.ndarray]:
    """For each count ``K`` (increasing), the tree nodes of the coarsest cut with ``K`` regions
    of at least ``min_area`` working pixels (smaller regions are left out of the count).

    The tree is undone from the root down, the last merge first, so each partition refines
    the one before it.
    """
    t = s.require_tree()
    n = t.n_leaves
    active = {t.root}
    big = int(t.area[t.root] >= min_area)
    out: list[np.ndarray] = []
    want = list(counts)
    for k in range(t.parent.size - 1, n - 1, -1):  # undo merges, last one first
        while want and big >= want[0]:
            out.append(np.fromiter(active, np.int64))
            want.pop(0)
        if not want:
            break
        if k not in active:
            continue
        a, b = (int(c) for c in t.children[k])
        active.discard(k)
        active.update((a, b))
        big += int(t.area[a] >= min_area) + int(t.area[b] >= min_area) - int(t.area[k] >= min_area)
    while want:
        out.append(np.fromiter(active, np.int64))
        want.pop(0)
    return out


def automatic_regions(
    s: ImageStructure, levels: int, min_area: float, max_area_fraction: float, score_threshold: float
) -> list[AutoRegion]:
    """Regions of at most ``levels`` nested levels, best first; ``parent`` is the row of the
    region that holds it (-1 at level 0).

    ``min_area`` is in working pixels. A region covering more than ``NESTED_MAX`` of its
    parent is not listed again (it would be the same mask).
    """
    t = s.require_tree()
    total = float(s.graph.area.sum())
    rho = persistence(s)
    ok = (t.area >= min_area) & (t.area <= max_area_fraction * total) & (rho >= MIN_PERSISTENCE)
    persistent = np.flatnonzero(ok)
    levels_nodes = partitions(s, tuple(COARSEST * GROWTH**i for i in range(levels)), max(min_area, MAP_AREA * total))
    cover = np.unique(np.concatenate(levels_nodes)) if levels_nodes else np.zeros(0, np.int64)
    cover = cover[(t.area[cover] >= min_area) & (t.area[cover] <= max_area_fraction * total)]
    cand = np.union1d(persistent, cover)
    in_cover = set(cover.tolist())
    scored = []
    for k in cand:
        sel = t.member(int(k))
        sc = region_score(s, sel, float(rho[k]))
        if sc >= score_threshold and (sc > 0 or int(k) in in_cover):
            scored.append((sc, int(k), sel))
    # rank: persistent, edge-bounded and not tiny (a readable map shows the large regions first)
    scored.sort(key=lambda x: -x[0] * min(1.0, t.area[x[1]] / (RANK_AREA * total)) ** 0.5)
    chosen = {k: (sc, sel) for sc, k, sel in scored[:MAX_REGIONS]}
    for sc, k, sel in scored:  # the partitions' regions always (they make the map cover the image)
        if k in in_cover:
            chosen[k] = (sc, sel)
    # nesting: the nearest chosen ancestor is the parent; too-similar children are dropped
    parent_of: dict[int, int] = {}
    for k in sorted(chosen, key=lambda k: -t.area[k]):  # ancestors before descendants
        a = int(t.parent[k])
        while a >= 0 and a not in chosen:
            a = int(t.parent[a])
        if a >= 0 and t.area[k] > NESTED_MAX * t.area[a]:
            if chosen[k][0] > chosen[a][0]:  # keep the better of the two near-identical regions
                chosen[a] = chosen[k]
            del chosen[k]
            continue
        parent_of[k] = a
    level_of: dict[int, int] = {}
    for k in sorted(parent_of, key=lambda k: -t.area[k]):
        p = parent_of[k]
        level_of[k] = 0 if p < 0 else level_of[p] + 1
    keep = [k for k in parent_of if level_of[k] < levels]
    keep.sort(key=lambda k: (-chosen[k][0], level_of[k]))
    row = {k: i for i, k in enumerate(keep)}
    return [AutoRegion(chosen[k][1][s.labels], chosen[k][0], level_of[k], row.get(parent_of[k], -1), k) for k in keep]
