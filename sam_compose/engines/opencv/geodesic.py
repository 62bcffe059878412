"""Geodesic distances over the region graph, and the segmentation they imply.

The cost of a path is the sum of the step costs of the boundaries it crosses (boundary
strength plus colour difference, :func:`.structure.affinities`), so regions reachable
from a click without crossing an edge are close to it. With the image border as an
extra background seed (objects rarely fill the frame), a region belongs to the object when
it is geodesically closer to the positive points than to the negative points and the
border (Bai and Sapiro, IJCV 2009; Zhu et al., CVPR 2014 for the border as background).
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from .structure import ImageStructure

BORDER_STEP = 1e-3  # cost of reaching a border superpixel from the virtual border node


def distances(s: ImageStructure, sources: np.ndarray, border: bool = False) -> np.ndarray:
    """(n,) geodesic distance from the nearest source region (bool (n,)); inf if none.

    With ``border``, superpixels on the image border are sources too (at a tiny cost).
    """
    n = s.n
    src = np.flatnonzero(sources)
    bd = np.flatnonzero(s.graph.border > 0) if border else np.zeros(0, np.int64)
    if src.size == 0 and bd.size == 0:
        return np.full(n, np.inf)
    a, b = s.graph.edges[:, 0], s.graph.edges[:, 1]
    virt = n  # a virtual node joined to every source (cost 0) and border region
    rows = np.concatenate([a, b, np.full(src.size + bd.size, virt)])
    cols = np.concatenate([b, a, src, bd])
    w = np.concatenate([s.step, s.step, np.full(src.size, 1e-9), np.full(bd.size, BORDER_STEP)])
    g = csr_matrix((w, (rows, cols)), shape=(n + 1, n + 1))
    d = dijkstra(g, directed=True, indices=virt)
    return d[:n]


def split(s: ImageStructure, pos: np.ndarray, neg: np.ndarray, border: bool = True, bias: float = 1.0) -> np.ndarray:
    """(n,) bool: regions closer to the positives than ``bias`` x the distance to the background.

    The background is the negative regions plus, with ``border``, the image border.
    """
    dp = distances(s, pos)
    db = distances(s, neg, border=border)
    return dp < bias * db
