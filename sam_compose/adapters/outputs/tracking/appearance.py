"""What a tracked object looks like, learnt on its first frame and updated when confident.

An :class:`Appearance` holds colour-word histograms (the fixed Lab vocabulary of
:func:`sam_compose.engines.opencv.regions.colour_words`) of the object and of its
surroundings. The first frame's histograms are an **anchor** that never changes; running
histograms follow slow changes (lighting, pose) and are updated only on frames the tracker
trusts, so one bad frame cannot teach the model the background. The models used for a
frame mix the two.

:func:`redetect` looks for a lost object in a whole frame: a minimum cut with the
appearance models alone (no prior), then the connected piece whose colours match the
object best, of plausible size and not far from where the object was heading.

Selections are (n,) bool over a frame's superpixels (``ImageStructure``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ....engines.opencv.cut import components
from ....engines.opencv.graphcut import min_cut
from ....engines.opencv.propagate import colour_costs
from ....engines.opencv.structure import ImageStructure

SMOOTHING = 0.5  # pseudo-count per colour word
ANCHOR_SHARE = 0.5  # weight of the first frame's models in the models used
LEARNING_RATE = 0.15  # how fast running models follow a trusted frame


def _hist(s: ImageStructure, sel: np.ndarray) -> np.ndarray:
    return np.asarray(s.hist.T @ sel.astype(np.float64)).ravel()


def _normalise(counts: np.ndarray) -> np.ndarray:
    c = counts + SMOOTHING
    return c / c.sum()


def bhattacharyya(p: np.ndarray, q: np.ndarray) -> float:
    """Similarity in [0, 1] of two normalised histograms (1 = identical)."""
    return float(np.sqrt(p * q).sum())


@dataclass
class Appearance:
    """Object / background colour models of one tracked object (normalised histograms)."""

    anchor_fg: np.ndarray
    anchor_bg: np.ndarray
    fg: np.ndarray
    bg: np.ndarray

    @classmethod
    def learn(cls, s: ImageStructure, sel: np.ndarray, around: np.ndarray | None = None) -> Appearance:
        """Models from a frame: the object ``sel``, the background ``around`` (default: the rest)."""
        bg_sel = ~sel if around is None else (around & ~sel)
        if not bg_sel.any():
            bg_sel = ~sel
        fg, bg = _normalise(_hist(s, sel)), _normalise(_hist(s, bg_sel))
        return cls(fg, bg, fg.copy(), bg.copy())

    def models(
        self, s: ImageStructure | None = None, background: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(fg, bg) log-probabilities for a frame; ``background`` (n,) bool regions of that
        frame known to be background refresh the background model (camera motion changes it)."""
        fg = ANCHOR_SHARE * self.anchor_fg + (1 - ANCHOR_SHARE) * self.fg
        bg = ANCHOR_SHARE * self.anchor_bg + (1 - ANCHOR_SHARE) * self.bg
        if s is not None and background is not None and background.any():
            bg = 0.5 * bg + 0.5 * _normalise(_hist(s, background))
        return np.log(fg), np.log(bg)

    def similarity(self, s: ImageStructure, sel: np.ndarray) -> float:
        """How much a selection looks like the object, in [0, 1] (Bhattacharyya coefficient)."""
        if not sel.any():
            return 0.0
        fg = ANCHOR_SHARE * self.anchor_fg + (1 - ANCHOR_SHARE) * self.fg
        return bhattacharyya(fg, _normalise(_hist(s, sel)))

    def update(self, s: ImageStructure, sel: np.ndarray, around: np.ndarray | None = None) -> None:
        """Follow a trusted frame: blend its object and background histograms in."""
        if not sel.any():
            return
        bg_sel = ~sel if around is None else (around & ~sel)
        self.fg = (1 - LEARNING_RATE) * self.fg + LEARNING_RATE * _normalise(_hist(s, sel))
        if bg_sel.any():
            self.bg = (1 - LEARNING_RATE) * self.bg + LEARNING_RATE * _normalise(_hist(s, bg_sel))


def redetect(
    s: ImageStructure,
    app: Appearance,
    taken: np.ndarray,
    ref_area: float,
    expected: np.ndarray | None,
    min_similarity: float,
    pairwise: float = 16.0,
) -> tuple[np.ndarray, float] | None:
    """The piece of a frame that looks most like the object, or None.

    Args:
        taken: (n,) bool superpixels held by other objects (never candidates).
        ref_area: the object's usual area in working pixels; pieces between 0.25 and 4 times
            it are considered.
        expected: (2,) working (x, y) where the object should be (None: anywhere); pieces
            are preferred near it.
        min_similarity: the lowest colour similarity (Bhattacharyya coefficient) accepted.

    Returns the selection and its similarity.
    """
    fg, bg = app.models()
    cf, cb = colour_costs(s, fg, bg)
    sel = min_cut(cf, cb, s.graph.edges, pairwise * s.graph.edge_len * s.affinity, None, taken)
    if not sel.any():
        return None
    cc = components(s, sel)
    area = s.graph.area
    h, w = s.labels.shape
    diag = float(np.hypot(h, w))
    best: tuple[float, np.ndarray, float] | None = None
    for c in np.unique(cc[sel]):
        piece = cc == c
        a = float(area[piece].sum())
        if a < 0.25 * ref_area or a > 4.0 * ref_area:
            continue
        sim = app.similarity(s, piece)
        if sim < min_similarity:
            continue
        rank = sim * (min(a, ref_area) / max(a, ref_area)) ** 0.5
        if expected is not None:
            centre = (s.graph.centroid[piece] * area[piece, None]).sum(0) / a
            rank *= float(np.exp(-np.linalg.norm(centre - expected) / (0.5 * diag)))
        if best is None or rank > best[0]:
            best = (rank, piece, sim)
    return None if best is None else (best[1], best[2])
