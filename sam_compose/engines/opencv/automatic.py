"""Automatic masks from the region tree: a partition of the image at a few nested levels.

SAM's automatic generator prompts a grid of points and de-duplicates hundreds of
overlapping masks. The region tree already is a nested family of partitions, so
automatic masks are read off it: the state of the merging when ``K`` regions were left,
for ``K`` growing geometrically from a coarse level (a handful of large regions) to a fine
one. Regions of one level never overlap; each region of a finer level lies inside one
region of the coarser level (its ``parent`` row). Nothing is computed per pixel except the
final masks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .quality import border_fraction, contour_strength
from .structure import ImageStructure

COARSEST = 6     # regions at level 0
GROWTH = 3.0     # each finer level has about this many times more regions
NESTED_MAX = 0.8  # a region must be at most this share of its parent to be listed again


@dataclass
class AutoRegion:
    """One automatic region: (h, w) bool working mask, score in [0, 1], level, parent row."""

    mask: np.ndarray
    score: float
    level: int
    parent: int
    node: int


def level_nodes(s: ImageStructure, k: int) -> np.ndarray:
    """Tree nodes forming the partition into ``k`` regions (the merging when k were left)."""
    t = s.tree
    n = t.n_leaves
    k = int(np.clip(k, 1, n))
    j = n - k  # merges done
    ids = np.arange(t.parent.size)
    created = ids < n + j
    parent_later = (t.parent < 0) | (t.parent >= n + j)
    return np.flatnonzero(created & parent_later)


def region_score(s: ImageStructure, sel: np.ndarray) -> float:
    """In [0, 1]: edge-bounded regions not cut by the frame score high."""
    cs = contour_strength(s, sel)
    return float(cs / (cs + 0.5) * (1.0 - 0.5 * border_fraction(s, sel)))


def automatic_regions(s: ImageStructure, levels: int, min_area: float, max_area_fraction: float,
                      score_threshold: float) -> list[AutoRegion]:
    """Regions of ``levels`` nested partitions, best first; ``parent`` is the row of the
    region one level up that holds it (-1 at level 0).

    ``min_area`` is in working pixels. A region covering more than ``NESTED_MAX`` of its
    parent is not listed again (it would be the same mask).
    """
    t = s.tree
    total = float(s.graph.area.sum())
    out: list[AutoRegion] = []
    node_row: dict[int, int] = {}
    for lvl in range(levels):
        k = round(COARSEST * GROWTH ** lvl)
        nodes = level_nodes(s, k)
        rows: list[AutoRegion] = []
        for node in nodes:
            node = int(node)
            a = float(t.area[node])
            if a < min_area or a > max_area_fraction * total:
                continue
            parent = -1
            if lvl > 0:
                anc = node
                while anc >= 0 and anc not in node_row:
                    anc = int(t.parent[anc])
                if anc == node:
                    continue  # same region as a level above
                parent = node_row.get(anc, -1)
                if parent >= 0 and a > NESTED_MAX * t.area[out[parent].node]:
                    continue  # hardly smaller than its parent: nothing new
            sel = t.member(node)
            sc = region_score(s, sel)
            if sc < score_threshold:
                continue
            rows.append(AutoRegion(sel[s.labels], sc, lvl, parent, node))
        for r in rows:
            node_row[r.node] = len(out)
            out.append(r)
    # best first, parents remapped to the new row order
    order = sorted(range(len(out)), key=lambda i: (-out[i].score, out[i].level))
    new_index = {old: new for new, old in enumerate(order)}
    ranked = [out[i] for i in order]
    for r in ranked:
        r.parent = new_index.get(r.parent, -1) if r.parent >= 0 else -1
    return ranked
