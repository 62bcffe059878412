"""Re-segmenting a carried mask in a new video frame, on the frame's region graph.

A tracker carries each object's mask into the next frame with optical flow; the carried
mask is soft (flow interpolation), too blurry at fast motion and blind to what the flow
got wrong. :func:`cut_with_prior` re-segments it on the frame's superpixels with one
minimum cut (:mod:`.graphcut`) whose costs combine

* the object's and the background's **appearance models** (colour-word histograms
  carried over from earlier frames, :func:`colour_costs`), in nats per pixel;
* the **prior**: the carried mask's coverage of each superpixel, ``PRIOR`` nats per pixel
  for disagreeing with it (weaker where the flow was unreliable);
* **edge-aware smoothness** between adjacent superpixels (:func:`.structure.affinities`);
* a **search window**: superpixels outside it are background.

Frames use :func:`frame_structure`: superpixels and the region graph without the region
tree, and colour words fixed across frames so the models carry over. Selections are (n,)
bool over a frame's superpixels; masks (h, w) bool at its working resolution.
"""

from __future__ import annotations

import cv2
import numpy as np

from . import colour_model
from .cut import components, keep_components
from .graphcut import min_cut
from .structure import ImageStructure, build_structure

PRIOR = 1.0
PAIRWISE = 16.0


def frame_structure(frame: np.ndarray, work_size: int = 512, region_px: float = 100.0) -> ImageStructure:
    """The region structure of a video frame: no region tree, colour words fixed across frames."""
    return build_structure(frame, work_size=work_size, region_px=region_px, tree=False, fixed_words=True)


def coverage(s: ImageStructure, soft: np.ndarray) -> np.ndarray:
    """(n,) mean of a working-resolution (h, w) float map over each superpixel."""
    return np.bincount(s.labels.ravel(), weights=np.asarray(soft, np.float64).ravel(), minlength=s.n) / np.maximum(
        s.graph.area, 1.0
    )


def colour_costs(s: ImageStructure, fg_logp: np.ndarray, bg_logp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(cost_fg, cost_bg) per superpixel: negative log-likelihood of its pixels' colour words."""
    return colour_model.costs(s.hist, fg_logp), colour_model.costs(s.hist, bg_logp)


def window_regions(s: ImageStructure, box: np.ndarray | None) -> np.ndarray:
    """(n,) bool: superpixels whose centroid lies in the working-pixel box (all without a box)."""
    if box is None:
        return np.ones(s.n, bool)
    cx, cy = s.graph.centroid[:, 0], s.graph.centroid[:, 1]
    x0, y0, x1, y1 = box
    return (cx >= x0) & (cx < x1) & (cy >= y0) & (cy < y1)


def cut_with_prior(
    s: ImageStructure,
    prior: np.ndarray,
    free: np.ndarray,
    fg_logp: np.ndarray,
    bg_logp: np.ndarray,
    prior_weight: np.ndarray | float = PRIOR,
    pairwise: float = PAIRWISE,
    fg_hard: np.ndarray | None = None,
    bg_hard: np.ndarray | None = None,
    expected: np.ndarray | None = None,
    extra_fg: np.ndarray | None = None,
    min_piece: float = 0.0,
    gap: float = 0.0,
) -> np.ndarray:
    """(n,) bool: the object in this frame (see the module docstring).

    Args:
        prior: (n,) carried coverage in [0, 1] per superpixel.
        free: (n,) bool superpixels that may be foreground (the search window).
        fg_logp, bg_logp: (k,) log-probabilities of colour words (fixed vocabulary).
        prior_weight: nats per pixel for disagreeing with the prior (scalar or (n,)).
        fg_hard, bg_hard: optional (n,) bool hard constraints.
        expected: (n,) bool regions where the whole object should be (its predicted box);
            pieces of the cut inside it are kept even where nothing was carried (a part
            coming out from behind an occluder), others only when they touch the prior.
        extra_fg: (n,) additional cost of labelling each superpixel foreground.
        min_piece: connected pieces smaller than this share of the largest are dropped
            (expected pieces excepted) unless within ``gap`` working pixels of the largest;
            with ``gap``, pieces of the cut that touch no prior but lie that close to the
            object are kept too (the far side of a thin occluder).
    """
    area = s.graph.area
    cf, cb = colour_costs(s, fg_logp, bg_logp)
    w = np.asarray(prior_weight, np.float64) * area
    cf = cf + w * (1.0 - prior)
    cb = cb + w * prior
    if extra_fg is not None:
        cf = cf + extra_fg
    hard_bg = ~free if bg_hard is None else (~free | bg_hard)
    sel = min_cut(cf, cb, s.graph.edges, pairwise * s.graph.edge_len * s.affinity, fg_hard, hard_bg)
    seeds = prior >= 0.5
    if fg_hard is not None:
        seeds = seeds | fg_hard
    if not (seeds & sel).any():
        return keep_components(s, sel, seeds)
    kept = keep_components(s, sel, seeds & sel)
    near = _near(s, kept, gap) if gap > 0 else np.zeros(s.n, bool)
    if min_piece > 0 and kept.any():  # small pieces away from the body are clutter the prior dragged along
        cc = components(s, kept)
        sizes = np.bincount(cc[kept], weights=s.graph.area[kept])
        body = cc == int(np.argmax(sizes))
        near = _near(s, body, gap) if gap > 0 else body
        big = np.isin(cc, np.flatnonzero(sizes >= min_piece * sizes.max()))
        close = np.zeros(s.n, bool)
        for c in np.unique(cc[kept & ~big]):
            piece = cc == c
            if (piece & near).any():
                close |= piece
        kept &= big | close
    if (sel & ~kept).any() and (expected is not None or gap > 0):
        cc = components(s, sel & ~kept)
        area = s.graph.area
        for c in np.unique(cc[cc >= 0]):
            piece = cc == c
            inside = expected is not None and float(area[piece & expected].sum()) >= 0.8 * float(area[piece].sum())
            if inside or (gap > 0 and (piece & near).any()):
                kept |= piece  # a part seen again past a thin occluder, or predicted there
    return kept


def _near(s: ImageStructure, sel: np.ndarray, gap: float) -> np.ndarray:
    """(n,) bool: superpixels within ``gap`` working pixels of the selection (itself included)."""
    if not sel.any():
        return sel.copy()
    m = sel[s.labels].astype(np.uint8)
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * int(gap) + 1, 2 * int(gap) + 1))
    grown = cv2.dilate(m, k)
    return np.bincount(s.labels.ravel(), weights=grown.ravel(), minlength=s.n) > 0


def selection_iou(s: ImageStructure, a: np.ndarray, b: np.ndarray | float) -> float:
    """Area-weighted IoU of two selections (``b`` may be a soft (n,) coverage)."""
    area = s.graph.area
    bb = np.asarray(b, np.float64)
    inter = float((area * np.minimum(a, bb)).sum())
    union = float((area * np.maximum(a, bb)).sum())
    return inter / union if union > 0 else 1.0
