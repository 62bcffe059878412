"""The region adjacency graph of a superpixel label map: per-region features and boundaries.

* :func:`boundary_map` -- a contrast-normalised boundary strength per pixel (colour
  gradient of the Lab image at two scales);
* :func:`colour_words` -- every pixel's bin in a fixed Lab quantisation (the vocabulary
  of the colour histograms);
* :class:`RegionGraph` -- per region: area, centroid, mean Lab, colour-word histogram,
  bounding box, pixels on the image border; per pair of 4-adjacent regions: shared boundary
  length and mean boundary strength.

Working-resolution pixels throughout; points (x, y), boxes x0, y0, x1, y1 (exclusive).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import cv2
import numpy as np
from scipy import ndimage

L_BINS, AB_BINS, AB_RANGE = 8, 12, 48.0


def boundary_map(lab: np.ndarray) -> np.ndarray:
    """(h, w) float32 boundary strength of a Lab image, about 1 on a typical strong edge.

    The Lab gradient magnitude (Sobel) after Gaussian smoothing at sigma 1 and 2, averaged,
    divided by the image's 90th percentile so that the scale does not depend on contrast.
    """
    out = np.zeros(lab.shape[:2], np.float32)
    for sigma in (1.0, 2.0):
        g = cv2.GaussianBlur(lab, (0, 0), sigma)
        gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3)
        gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)
        out += np.sqrt((gx * gx + gy * gy).sum(axis=2)) * (0.5 * sigma)
    ref = float(np.percentile(out, 90)) if out.size else 1.0
    return out / max(ref, 1.0)


N_WORDS = L_BINS * AB_BINS * AB_BINS


def colour_words(lab: np.ndarray, compact: bool = True) -> tuple[np.ndarray, int]:
    """(h, w) int32 bin of every pixel in an L x a x b grid, and the number of bins.

    L (0..100) in ``L_BINS`` bins; a and b clipped to +-``AB_RANGE`` in ``AB_BINS`` bins
    each. With ``compact`` bins are renumbered so only occupied ones count; otherwise the
    bin index is the same in every image (``N_WORDS`` bins).
    """
    li = np.clip(lab[..., 0] * (L_BINS / 100.0), 0, L_BINS - 1).astype(np.int32)
    ab = np.clip((lab[..., 1:] + AB_RANGE) * (AB_BINS / (2 * AB_RANGE)), 0, AB_BINS - 1).astype(np.int32)
    raw = (li * AB_BINS + ab[..., 0]) * AB_BINS + ab[..., 1]
    if not compact:
        return raw.astype(np.int32), N_WORDS
    used, inv = np.unique(raw.ravel(), return_inverse=True)
    return inv.reshape(raw.shape).astype(np.int32), int(used.size)


def fields_nbytes(obj: Any) -> int:
    """Bytes held by the arrays that are the fields of the dataclass instance ``obj``."""
    return int(sum(getattr(obj, f.name).nbytes for f in fields(obj)))


@dataclass(frozen=True)
class RegionGraph:
    """Superpixels as graph nodes (``n``) and their 4-adjacencies as edges (``m``).

    Attributes:
        labels: (h, w) int32 superpixel id of every working pixel.
        area: (n,) float64 pixels per region.
        centroid: (n, 2) float64 (x, y) centre of mass.
        mean_lab: (n, 3) float32 mean colour.
        hist: (n, k) float32 colour-word counts (rows sum to ``area``).
        bbox: (n, 4) int32 x0, y0, x1, y1 (exclusive).
        border: (n,) float64 pixels on the image's outer border.
        edges: (m, 2) int32 pairs ``a < b`` of adjacent regions.
        edge_len: (m,) float64 shared boundary length (pixel pairs).
        edge_strength: (m,) float64 mean boundary strength along it.
    """

    labels: np.ndarray
    area: np.ndarray
    centroid: np.ndarray
    mean_lab: np.ndarray
    hist: np.ndarray
    bbox: np.ndarray
    border: np.ndarray
    edges: np.ndarray
    edge_len: np.ndarray
    edge_strength: np.ndarray

    @property
    def n(self) -> int:
        return int(self.area.size)

    @property
    def nbytes(self) -> int:
        return fields_nbytes(self)


def region_graph(
    labels: np.ndarray, lab: np.ndarray, boundary: np.ndarray, words: np.ndarray, n_words: int
) -> RegionGraph:
    """Features of every region of ``labels`` and of every pair of adjacent regions."""
    h, w = labels.shape
    n = int(labels.max()) + 1
    flat = labels.ravel()
    area = np.bincount(flat, minlength=n).astype(np.float64)
    ys, xs = np.mgrid[0:h, 0:w]
    cx = np.bincount(flat, weights=xs.ravel() + 0.5, minlength=n) / np.maximum(area, 1)
    cy = np.bincount(flat, weights=ys.ravel() + 0.5, minlength=n) / np.maximum(area, 1)
    mean_lab = np.stack([np.bincount(flat, weights=lab[..., c].ravel(), minlength=n) for c in range(3)], 1)
    mean_lab = (mean_lab / np.maximum(area, 1)[:, None]).astype(np.float32)
    hist = np.bincount(flat * n_words + words.ravel(), minlength=n * n_words).reshape(n, n_words).astype(np.float32)
    bbox = np.zeros((n, 4), np.int32)
    for i, sl in enumerate(ndimage.find_objects(labels + 1)):
        if sl is not None:
            bbox[i] = (sl[1].start, sl[0].start, sl[1].stop, sl[0].stop)
    rim = np.concatenate([labels[0], labels[-1], labels[1:-1, 0], labels[1:-1, -1]]) if h > 1 and w > 1 else flat
    border = np.bincount(rim, minlength=n).astype(np.float64)
    edges, length, strength = _adjacency(labels, boundary, n)
    return RegionGraph(labels, area, np.stack([cx, cy], 1), mean_lab, hist, bbox, border, edges, length, strength)


def _adjacency(labels: np.ndarray, boundary: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs of 4-adjacent regions with their boundary length and mean strength."""
    a_parts, b_parts, s_parts = [], [], []
    for la, lb, ba, bb in (
        (labels[:, :-1], labels[:, 1:], boundary[:, :-1], boundary[:, 1:]),
        (labels[:-1, :], labels[1:, :], boundary[:-1, :], boundary[1:, :]),
    ):
        d = la != lb
        a_parts.append(la[d])
        b_parts.append(lb[d])
        s_parts.append(np.maximum(ba[d], bb[d]))
    a = np.concatenate(a_parts).astype(np.int64)
    b = np.concatenate(b_parts).astype(np.int64)
    s = np.concatenate(s_parts).astype(np.float64)
    if a.size == 0:
        return np.zeros((0, 2), np.int32), np.zeros(0), np.zeros(0)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    keys, inv = np.unique(lo * n + hi, return_inverse=True)
    length = np.bincount(inv, minlength=keys.size).astype(np.float64)
    strength = np.bincount(inv, weights=s, minlength=keys.size) / length
    edges = np.stack([keys // n, keys % n], 1).astype(np.int32)
    return edges, length, strength
