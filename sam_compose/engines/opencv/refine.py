"""Pixel-level refinement of a region mask in a narrow band around its boundary.

Superpixels follow most edges but not all; where one straddles the object's outline the
region mask is off by up to a superpixel. Inside a band of ``BAND`` working pixels around
the outline each pixel is decided again from

* its colour word's log-likelihood ratio under foreground / background colour models
  fitted to the region mask (clipped to +-``MAX_EVIDENCE`` nats), and
* its signed distance to the region mask's outline (``SPATIAL`` nats at the band's edge),

and the resulting probability is smoothed by a guided filter on the working image's grey
levels, so the decision follows the photograph's edges. Outside the band the region mask
is kept. Everything is computed on the band's bounding window only.
"""

from __future__ import annotations

import cv2
import numpy as np

from . import colour_model
from .structure import ImageStructure
from .upsample import guided_filter

BAND = 5.0
SPATIAL = 2.0
MAX_EVIDENCE = 4.0
GUIDE_RADIUS = 2
GUIDE_EPS = 0.01


def refine_boundary(s: ImageStructure, mask: np.ndarray, sel: np.ndarray | None = None) -> np.ndarray:
    """``mask`` (h, w) bool at the working resolution, re-decided near its boundary.

    ``sel`` (n,) bool is the superpixel selection the colour models are fitted to
    (default: superpixels mostly inside ``mask``).
    """
    if not mask.any() or mask.all():
        return mask
    if sel is None:
        cover = np.bincount(s.labels.ravel(), weights=mask.ravel(), minlength=s.n)
        sel = cover > 0.5 * s.graph.area
    if not sel.any() or sel.all():
        return mask
    fg = colour_model.fit(s.hist, sel.astype(np.float64))
    bg = colour_model.fit(s.hist, (~sel).astype(np.float64))
    h, w = mask.shape
    x, y, bw, bh = cv2.boundingRect(mask.astype(np.uint8))
    pad = int(np.ceil(BAND)) + GUIDE_RADIUS + 1
    x0, y0, x1, y1 = max(x - pad, 0), max(y - pad, 0), min(x + bw + pad, w), min(y + bh + pad, h)
    m = mask[y0:y1, x0:x1]
    u = m.astype(np.uint8)
    inside = cv2.distanceTransform(np.pad(u, 1), cv2.DIST_L2, 3)[1:-1, 1:-1]
    outside = cv2.distanceTransform(np.pad(1 - u, 1, constant_values=1), cv2.DIST_L2, 3)[1:-1, 1:-1]
    signed = np.where(m, inside, -outside)
    band = np.abs(signed) <= BAND
    if not band.any():
        return mask
    evidence = np.clip((fg - bg)[s.words[y0:y1, x0:x1].astype(np.int64)], -MAX_EVIDENCE, MAX_EVIDENCE)
    z = evidence + SPATIAL * signed / BAND
    prob = (1.0 / (1.0 + np.exp(-z))).astype(np.float32)
    grey = cv2.cvtColor(np.ascontiguousarray(s.work.rgb[y0:y1, x0:x1]), cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    q = guided_filter(grey, prob, GUIDE_RADIUS, GUIDE_EPS)
    out = mask.copy()
    win = out[y0:y1, x0:x1]
    win[band] = q[band] > 0.5
    return out
