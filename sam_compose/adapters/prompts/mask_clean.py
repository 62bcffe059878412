"""Cleaning a prior mask before it becomes a prompt: specks and holes out, main parts kept.

Prior masks often come from thresholded heat maps, another model or a brush: scattered
false-positive pixels (specks) and small false-negative holes. A single speck in a far
corner turns the mask's bounding box into the whole image, and SAM (or any engine) then
segments the wrong thing. :func:`clean_mask` keeps the main connected components and fills
the small holes, so the box and interior points describe the object.

Masks are (H, W) bool at the image size.
"""

from __future__ import annotations

import cv2
import numpy as np

from ...engines.opencv.upsample import fill_holes

KEEP_SHARE = 0.05  # components smaller than this share of the largest one are specks
MIN_COMPONENT = 1e-4  # ... and so are components below this share of the image
MAX_HOLE = 0.02  # holes up to this share of the kept area are filled


def clean_mask(
    mask: np.ndarray, keep_share: float = KEEP_SHARE, min_component: float = MIN_COMPONENT, max_hole: float = MAX_HOLE
) -> np.ndarray:
    """The main components of ``mask`` (H, W) bool with their small holes filled.

    A component is kept when its area is at least ``keep_share`` of the largest
    component's and at least ``min_component`` of the image (the largest one is always
    kept). Background components enclosed by the kept mask and no larger than
    ``max_hole`` of its area are filled. An empty mask comes back empty.
    """
    m = np.asarray(mask, bool)
    if not m.any():
        return m.copy()
    _, lab, stats, _ = cv2.connectedComponentsWithStats(m.astype(np.uint8), connectivity=8)
    areas = stats[:, cv2.CC_STAT_AREA].astype(np.float64)
    areas[0] = 0.0
    largest = float(areas.max())
    keep = (areas >= keep_share * largest) & (areas >= min_component * m.size)
    keep[int(np.argmax(areas))] = True
    keep[0] = False
    out = keep[lab]
    return fill_holes(out, max_hole * float(out.sum()))
