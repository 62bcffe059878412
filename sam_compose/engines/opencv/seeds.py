"""A prompt in the region graph's terms: which superpixels the points, box and prior touch.

Points are (x, y) pixels of the original image and land in the superpixel under them at
the working resolution. A superpixel holding both a positive and a negative point counts
as negative (the conservative reading of a contradiction). A box gives every superpixel
its fraction inside the box; a prior mask (SAM low-res logits) gives every superpixel its
mean coverage.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ...geometry import lowres_shape
from ...types import Prompt
from .structure import ImageStructure


@dataclass(frozen=True)
class RegionPrompt:
    """A validated prompt mapped onto an :class:`ImageStructure` (working pixels).

    Attributes:
        pos_xy, neg_xy: (K, 2) continuous working (x, y) of positive / negative points.
        pos, neg: (n,) bool superpixels holding positive / negative points.
        box: working x0, y0, x1, y1, or None.
        inside: (n,) float64 fraction of each superpixel inside the box (None without box).
        box_mask: (h, w) bool working pixels inside the box (None without box).
        prior: (n,) float64 mean prior coverage per superpixel (None without prior).
        prior_map: (h, w) float32 prior coverage in [0, 1] at working size (None without).
    """

    pos_xy: np.ndarray
    neg_xy: np.ndarray
    pos: np.ndarray
    neg: np.ndarray
    box: np.ndarray | None
    inside: np.ndarray | None
    box_mask: np.ndarray | None
    prior: np.ndarray | None
    prior_map: np.ndarray | None

    @property
    def has_points(self) -> bool:
        return bool(self.pos.any() or self.neg.any())


def pixel_index(xy: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Row and column of continuous (x, y) points, clipped into an array of ``size`` (h, w)."""
    p = np.asarray(xy, np.float64).reshape(-1, 2)
    cols = np.clip(np.floor(p[:, 0]), 0, size[1] - 1).astype(np.int64)
    rows = np.clip(np.floor(p[:, 1]), 0, size[0] - 1).astype(np.int64)
    return rows, cols


def lowres_to_work(logits: np.ndarray, image_size: tuple[int, int], work_size: tuple[int, int]) -> np.ndarray:
    """(256, 256) low-res logits of an image of ``image_size`` -> (h, w) float32 logits at ``work_size``."""
    lh, lw = lowres_shape(image_size)
    crop = np.ascontiguousarray(np.asarray(logits, np.float32)[:lh, :lw])
    return cv2.resize(crop, (int(work_size[1]), int(work_size[0])), interpolation=cv2.INTER_LINEAR)


def region_prompt(s: ImageStructure, p: Prompt) -> RegionPrompt:
    """Map a prompt validated for the original image onto the structure's superpixels."""
    size = s.work.size
    labels = s.labels
    n = s.n
    pos = np.zeros(n, bool)
    neg = np.zeros(n, bool)
    pos_xy = neg_xy = np.zeros((0, 2))
    if p.points is not None:
        xy = s.work.to_work(p.points)
        lab = np.asarray(p.labels)
        pos_xy, neg_xy = xy[lab == 1], xy[lab == 0]
        r, c = pixel_index(pos_xy, size)
        pos[labels[r, c]] = True
        r, c = pixel_index(neg_xy, size)
        neg[labels[r, c]] = True
        pos &= ~neg
    box = inside = box_mask = None
    if p.box is not None:
        box = s.work.box_to_work(p.box)
        box_mask = box_pixels(box, size)
        inside = np.bincount(labels.ravel(), weights=box_mask.ravel(), minlength=n) / np.maximum(s.graph.area, 1)
    prior = prior_map = None
    if p.mask is not None:
        prior_map = (lowres_to_work(p.mask, s.work.image_size, size) > 0).astype(np.float32)
        if prior_map.any():
            prior = np.bincount(labels.ravel(), weights=prior_map.ravel(), minlength=n) / np.maximum(s.graph.area, 1)
        else:
            prior_map = None
    return RegionPrompt(pos_xy, neg_xy, pos, neg, box, inside, box_mask, prior, prior_map)


def box_pixels(box: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(h, w) bool: working pixels whose centre lies in the box; at least the pixel under its centre."""
    h, w = size
    x0, y0, x1, y1 = (float(v) for v in box)
    c0, c1 = int(np.clip(np.ceil(x0 - 0.5), 0, w)), int(np.clip(np.ceil(x1 - 0.5), 0, w))
    r0, r1 = int(np.clip(np.ceil(y0 - 0.5), 0, h)), int(np.clip(np.ceil(y1 - 0.5), 0, h))
    out = np.zeros(size, bool)
    if c1 <= c0 or r1 <= r0:  # smaller than a working pixel: the pixel under its centre
        r, c = pixel_index(np.array([[(x0 + x1) / 2, (y0 + y1) / 2]]), size)
        out[r[0], c[0]] = True
        return out
    out[r0:r1, c0:c1] = True
    return out
