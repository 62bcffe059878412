"""GrabCut on regions: iterated colour models and minimum cuts over the superpixel graph.

Rother et al.'s GrabCut (SIGGRAPH 2004) alternates between fitting foreground and
background colour models to the current labelling and solving a graph cut; Li et al.'s
Lazy Snapping (SIGGRAPH 2004) runs the same energy on pre-segmented regions so that it
answers interactively. :func:`region_grabcut` does the latter on the engine's superpixels:

* unary cost of a region = negative log-likelihood of its pixels' colour words under the
  foreground / background histograms (:mod:`.colour_model`), plus optional extra costs
  (a prior mask's coverage, the image border as likely background);
* pairwise cost = ``PAIRWISE`` x shared boundary length x edge-aware affinity;
* hard constraints: positive points' regions are foreground, negative points' and
  regions outside a box are background.

Selections are (n,) bool over superpixels.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from . import colour_model
from .graphcut import min_cut
from .structure import ImageStructure

PAIRWISE = 16.0
ITERATIONS = 4


def region_grabcut(
    s: ImageStructure,
    init: np.ndarray,
    fg_hard: np.ndarray,
    bg_hard: np.ndarray,
    extra_fg: np.ndarray | None = None,
    extra_bg: np.ndarray | None = None,
    iterations: int = ITERATIONS,
    pairwise: float | None = None,
    bg_model_from: np.ndarray | None = None,
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Iterate colour models and minimum cuts from the labelling ``init``.

    Args:
        init: (n,) bool initial foreground.
        fg_hard, bg_hard: (n,) bool regions fixed to foreground / background.
        extra_fg, extra_bg: (n,) additional costs of labelling each region fg / bg.
        bg_model_from: (n,) bool; when given, the background model is fitted to these
            regions only (e.g. a ring around a box) instead of every background region.

    Returns the final foreground and the (foreground, background) colour models (log p).
    """
    g = s.graph
    cur = (init | fg_hard) & ~bg_hard
    weights = (PAIRWISE if pairwise is None else pairwise) * g.edge_len * s.affinity
    fg_model = bg_model = np.zeros(s.n_words)
    for _ in range(max(1, int(iterations))):
        if not cur.any():
            break
        bg_sel = ~cur if bg_model_from is None else (bg_model_from & ~cur)
        if not bg_sel.any():
            bg_sel = ~cur
        fg_model = colour_model.fit(s.hist, cur.astype(np.float64))
        bg_model = colour_model.fit(s.hist, bg_sel.astype(np.float64))
        cf = colour_model.costs(s.hist, fg_model)
        cb = colour_model.costs(s.hist, bg_model)
        if extra_fg is not None:
            cf = cf + extra_fg
        if extra_bg is not None:
            cb = cb + extra_bg
        nxt = min_cut(cf, cb, g.edges, weights, fg_hard, bg_hard)
        if np.array_equal(nxt, cur):
            break
        cur = nxt
    return cur, (fg_model, bg_model)


def components(s: ImageStructure, sel: np.ndarray) -> np.ndarray:
    """(n,) int component id of every selected region (4-adjacency), -1 elsewhere."""
    e = s.graph.edges
    keep = sel[e[:, 0]] & sel[e[:, 1]]
    a, b = e[keep, 0], e[keep, 1]
    m = csr_matrix((np.ones(a.size, np.int8), (a, b)), shape=(s.n, s.n))
    _, cc = connected_components(m, directed=False)
    return np.where(sel, cc, -1)


def keep_components(s: ImageStructure, sel: np.ndarray, seeds: np.ndarray, min_share: float = 0.1) -> np.ndarray:
    """The components of ``sel`` holding a seed region; without seeds, the largest and any
    other holding at least ``min_share`` of its area."""
    if not sel.any():
        return sel
    cc = components(s, sel)
    ids = np.unique(cc[sel & seeds])
    if ids.size:
        return np.isin(cc, ids) & sel
    area = np.bincount(cc[sel], weights=s.graph.area[sel])
    big = np.flatnonzero(area >= min_share * area.max())
    return np.isin(cc, big) & sel
