"""The engine's image embedding: everything about an image that does not depend on a prompt.

:func:`build_structure` runs once per image (the engine caches the result like a SAM
image embedding) and returns an :class:`ImageStructure`:

1. the working image (longest side at most ``work_size``) in RGB and Lab;
2. SLIC superpixels (:mod:`.superpixels`);
3. a boundary-strength map and the colour-word map (:mod:`.regions`);
4. the region adjacency graph with per-region colour histograms and per-pair boundary
   strengths (:mod:`.regions`);
5. the region tree, weakest boundaries merged first (:mod:`.hierarchy`);
6. edge-aware affinities between adjacent regions, used as graph-cut pairwise weights and
   geodesic step costs (:func:`affinities`).

A prompt then costs a graph cut or a walk up the tree on a few thousand regions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.sparse import csr_matrix

from .hierarchy import Hierarchy, build_hierarchy
from .regions import RegionGraph, boundary_map, colour_words, region_graph
from .superpixels import WorkingImage, superpixels, working_image

EDGE_SIGMA = 1.0  # boundary strength at which the affinity of two regions falls to 1/e
COLOUR_SCALE = 10.0  # Lab distance that counts like a boundary of strength 1 in geodesic steps


@dataclass(frozen=True)
class ImageStructure:
    """The prompt-independent structure of one image (see the module docstring).

    Attributes:
        work: the working image (RGB, Lab, scale to the original).
        boundary: (h, w) float32 boundary strength (about 1 on a strong edge).
        words: (h, w) int16 colour word of every working pixel.
        n_words: size of the colour vocabulary.
        graph: the region adjacency graph.
        tree: the region tree (None when built with ``tree=False``, e.g. for video frames
            that are only re-segmented from a prior).
        affinity: (m,) float64 in (0, 1], edge-aware similarity of each adjacent pair.
        step: (m,) float64 > 0, geodesic cost of crossing each adjacent pair's boundary.
        hist: (n, k) sparse CSR float64 colour-word counts per region (rows sum to the area).
        memo: per-image cache of prompt-independent measurements of tree nodes, filled
            lazily by the prompt phase (bounded; see :mod:`.candidates`).
    """

    work: WorkingImage
    boundary: np.ndarray
    words: np.ndarray
    n_words: int
    graph: RegionGraph
    tree: Hierarchy | None
    affinity: np.ndarray
    step: np.ndarray
    hist: csr_matrix
    memo: dict = field(default_factory=dict, compare=False, repr=False)

    def require_tree(self) -> Hierarchy:
        """The region tree; a structure built with ``tree=False`` has none to decode prompts with."""
        if self.tree is None:
            raise RuntimeError(
                "this image structure was built without its region tree (tree=False); "
                "build it with tree=True to decode prompts or make automatic masks"
            )
        return self.tree

    @property
    def labels(self) -> np.ndarray:
        """(h, w) int32 superpixel id of every working pixel."""
        return self.graph.labels

    @property
    def n(self) -> int:
        return self.graph.n

    @property
    def nbytes(self) -> int:
        arrays = (
            self.work.rgb,
            self.work.lab,
            self.boundary,
            self.words,
            self.affinity,
            self.step,
            self.hist.data,
            self.hist.indices,
            self.hist.indptr,
        )
        return int(sum(a.nbytes for a in arrays) + self.graph.nbytes + (self.tree.nbytes if self.tree else 0))


def affinities(g: RegionGraph) -> tuple[np.ndarray, np.ndarray]:
    """(affinity, step) per adjacent pair of regions.

    ``affinity = exp(-strength / EDGE_SIGMA)`` from the mean boundary strength along the
    shared boundary; ``step = strength + |mean Lab difference| / COLOUR_SCALE``, the cost of
    a geodesic path crossing from one region to the other.
    """
    if g.edges.size == 0:
        return np.zeros(0), np.zeros(0)
    a, b = g.edges[:, 0], g.edges[:, 1]
    col = np.linalg.norm(g.mean_lab[a].astype(np.float64) - g.mean_lab[b], axis=1) / COLOUR_SCALE
    return np.exp(-g.edge_strength / EDGE_SIGMA), g.edge_strength + col + 1e-3


def build_structure(
    image: np.ndarray, work_size: int = 512, region_px: float = 100.0, tree: bool = True, fixed_words: bool = False
) -> ImageStructure:
    """The structure of an (H, W, 3) uint8 RGB image (see the module docstring).

    ``tree=False`` skips the region tree (only prior / box / graph-cut prompts then work);
    ``fixed_words=True`` numbers colour words by their Lab bin, the same in every image, so
    colour models carry over from one video frame to the next.
    """
    work = working_image(image, work_size)
    labels = superpixels(work.lab, region_px)
    boundary = boundary_map(work.lab)
    words, k = colour_words(work.lab, compact=not fixed_words)
    g = region_graph(labels, work.lab, boundary, words, k)
    hierarchy = build_hierarchy(g) if tree else None
    affinity, step = affinities(g)
    hist = csr_matrix(g.hist.astype(np.float64))
    return ImageStructure(work, boundary, words.astype(np.int16), k, g, hierarchy, affinity, step, hist)
