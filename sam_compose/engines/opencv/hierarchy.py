"""A region tree over the superpixels: greedy merging of the weakest boundary first.

Starting from the superpixels (the leaves), the pair of adjacent regions with the lowest
dissimilarity is merged, again and again, until one region is left (agglomerative
clustering on the region adjacency graph, in the spirit of the oriented-watershed
ultrametric contour map of Arbelaez et al., TPAMI 2011). The dissimilarity of two adjacent
regions is the mean boundary strength along their shared boundary plus a colour distance
(Hellinger distance between their colour-word histograms), with small regions merged
first so that texture specks do not survive into the upper levels.

Cutting the tree at a height gives a partition of the image; the nodes containing a
pixel, from its superpixel up to the root, are the nested extents a click can mean (part,
object, whole). Node ids: leaves ``0..n-1``, merges ``n..2n-2`` in merge order.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from math import sqrt

import numpy as np

from .regions import RegionGraph, fields_nbytes

COLOUR_WEIGHT = 2.0
NECK_WEIGHT = 3.0
NECK_RATIO = 0.1
SMALL_REGION = 8.0  # regions below this many superpixels' area merge first


@dataclass(frozen=True)
class Hierarchy:
    """A binary merge tree over ``n`` superpixels (``2n - 1`` nodes, root last).

    Attributes:
        parent: (N,) int32 parent node, -1 at the root.
        children: (N, 2) int32 the two merged nodes, -1 for leaves.
        height: (N,) float64 dissimilarity at which the node was formed (0 for leaves),
            non-decreasing from a node to its parent.
        area: (N,) float64 pixels.
        border: (N,) float64 pixels on the image border.
        contour_len: (N,) float64 outline length inside the image (pixel pairs).
        contour_strength: (N,) float64 mean boundary strength along that outline.
        order: (n,) int32 leaves in depth-first order; node ``k`` holds the leaves
            ``order[start[k]:stop[k]]``.
        start, stop: (N,) int32.
    """

    parent: np.ndarray
    children: np.ndarray
    height: np.ndarray
    area: np.ndarray
    border: np.ndarray
    contour_len: np.ndarray
    contour_strength: np.ndarray
    order: np.ndarray
    start: np.ndarray
    stop: np.ndarray

    @property
    def n_leaves(self) -> int:
        return int(self.order.size)

    @property
    def root(self) -> int:
        return int(self.parent.size - 1)

    @property
    def nbytes(self) -> int:
        return fields_nbytes(self)

    def leaves(self, node: int) -> np.ndarray:
        """Superpixel ids under ``node``."""
        return self.order[self.start[node] : self.stop[node]]

    def member(self, node: int) -> np.ndarray:
        """(n,) bool: which superpixels ``node`` holds."""
        sel = np.zeros(self.n_leaves, bool)
        sel[self.leaves(node)] = True
        return sel

    def ancestors(self, leaf: int) -> list[int]:
        """Nodes from ``leaf`` up to the root, inclusive."""
        out = [int(leaf)]
        while self.parent[out[-1]] >= 0:
            out.append(int(self.parent[out[-1]]))
        return out

    def cut(self, height: float) -> np.ndarray:
        """(n,) int32: for every superpixel, the highest ancestor formed at or below ``height``."""
        below = self.height <= height
        node_top = np.arange(self.parent.size, dtype=np.int32)
        for k in range(self.parent.size - 1, -1, -1):  # parents before children
            p = self.parent[k]
            if p >= 0 and below[p]:
                node_top[k] = node_top[p]
        return node_top[: self.n_leaves]


def build_hierarchy(g: RegionGraph) -> Hierarchy:
    """Merge ``g``'s regions pairwise, weakest boundary first, into one tree."""
    n = g.n
    N = 2 * n - 1
    parent = [-1] * N
    children = [(-1, -1)] * N
    height = [0.0] * N
    area = g.area.tolist() + [0.0] * (N - n)
    border = g.border.tolist() + [0.0] * (N - n)
    clen = [0.0] * N
    cstr = [0.0] * N  # summed strength along the outline
    hist = np.zeros((N, g.hist.shape[1]), np.float32)
    hist[:n] = g.hist
    sq = np.zeros_like(hist)  # sqrt of the normalised histogram, for Hellinger distances
    sq[:n] = np.sqrt(g.hist / np.maximum(g.area, 1)[:, None])
    small = SMALL_REGION * float(np.median(g.area)) if n else 1.0
    nbrs: list[dict[int, list[float]]] = [{} for _ in range(N)]
    for (a, b), ln, st in zip(g.edges.tolist(), g.edge_len.tolist(), g.edge_strength.tolist()):
        nbrs[a][b] = [ln, ln * st]
        nbrs[b][a] = [ln, ln * st]
        clen[a] += ln
        clen[b] += ln
        cstr[a] += ln * st
        cstr[b] += ln * st

    def cost(x: int, ys: list[int]) -> list[float]:
        nb = nbrs[x]
        dots = (sq[ys] @ sq[x]).tolist()
        ax = area[x]
        out = []
        for y, dot in zip(ys, dots):
            ln, ss = nb[y]
            d = ss / max(ln, 1e-9) + COLOUR_WEIGHT * sqrt(max(0.0, 1.0 - dot))
            touch = ln / max(min(clen[x], clen[y]), 1e-9)
            if touch < NECK_RATIO:
                d *= 1.0 + NECK_WEIGHT * (NECK_RATIO - touch) / NECK_RATIO
            smaller = min(area[y], ax)
            out.append(d * sqrt(smaller / small) if smaller < small else d)
        return out

    # initial costs for every adjacent pair at once
    e = g.edges.astype(np.int64)
    heap: list[tuple[float, int, int]] = []
    if e.size:
        dots = np.einsum("ij,ij->i", sq[e[:, 0]], sq[e[:, 1]])
        d0 = g.edge_strength + COLOUR_WEIGHT * np.sqrt(np.clip(1.0 - dots, 0.0, 1.0))
        cl = np.asarray(clen)
        touch = g.edge_len / np.maximum(np.minimum(cl[e[:, 0]], cl[e[:, 1]]), 1e-9)
        d0 = d0 * (1.0 + NECK_WEIGHT * np.clip(NECK_RATIO - touch, 0.0, None) / NECK_RATIO)
        smaller = np.minimum(g.area[e[:, 0]], g.area[e[:, 1]])
        d0 = d0 * np.sqrt(np.minimum(1.0, smaller / small))
        heap = list(zip(d0.tolist(), e[:, 0].tolist(), e[:, 1].tolist()))
        heapq.heapify(heap)
    alive = [True] * n + [False] * (N - n)
    nxt = n
    while nxt < N:
        if heap:
            d, a, b = heapq.heappop(heap)
            if not (alive[a] and alive[b]):
                continue
        else:  # disconnected pieces: join them above everything else
            live = [k for k in range(nxt) if alive[k]]
            a, b = live[0], live[1]
            d = max(height) + 1.0
        c = nxt
        nxt += 1
        alive[a] = alive[b] = False
        alive[c] = True
        parent[a] = parent[b] = c
        children[c] = (a, b)
        height[c] = max(d, height[a], height[b])
        area[c] = area[a] + area[b]
        border[c] = border[a] + border[b]
        shared = nbrs[a].get(b, [0.0, 0.0])
        clen[c] = clen[a] + clen[b] - 2 * shared[0]
        cstr[c] = cstr[a] + cstr[b] - 2 * shared[1]
        hist[c] = hist[a] + hist[b]
        sq[c] = np.sqrt(hist[c] * (1.0 / max(area[c], 1.0)))
        merged: dict[int, list[float]] = {}
        for src, other in ((a, b), (b, a)):
            for y, v in nbrs[src].items():
                if y == other:
                    continue
                if y in merged:
                    merged[y][0] += v[0]
                    merged[y][1] += v[1]
                else:
                    merged[y] = [v[0], v[1]]
                del nbrs[y][src]
        for y, v in merged.items():
            nbrs[y][c] = v
        nbrs[c] = merged
        nbrs[a] = nbrs[b] = {}
        if merged:
            ys = list(merged)
            for y, dd in zip(ys, cost(c, ys)):
                heapq.heappush(heap, (dd, c, y))
    ch = np.array(children, np.int32).reshape(N, 2)
    order, start, stop = _dfs_order(ch, n)
    cl, cs = np.array(clen), np.array(cstr)
    return Hierarchy(
        np.array(parent, np.int32),
        ch,
        np.array(height),
        np.array(area),
        np.array(border),
        cl,
        cs / np.maximum(cl, 1e-9),
        order,
        start,
        stop,
    )


def _dfs_order(children: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Leaves in depth-first order and each node's [start, stop) range in it."""
    N = children.shape[0]
    start = np.zeros(N, np.int32)
    stop = np.zeros(N, np.int32)
    order = np.zeros(n, np.int32)
    if n == 0:
        return order, start, stop
    pos = 0
    stack: list[tuple[int, bool]] = [(N - 1, False)]
    while stack:
        k, done = stack.pop()
        if done:
            a, b = children[k]
            start[k] = min(start[a], start[b])
            stop[k] = max(stop[a], stop[b])
            continue
        if k < n:
            order[pos] = k
            start[k], stop[k] = pos, pos + 1
            pos += 1
            continue
        stack.append((k, True))
        a, b = children[k]
        stack.append((int(b), False))
        stack.append((int(a), False))
    return order, start, stop
