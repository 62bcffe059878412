"""Quality scores for candidate masks: the OpenCV engine's stand-in for SAM's IoU prediction.

A good segment (1) has its boundary on strong image edges, (2) differs in colour and
texture from a band just outside it, and (3) agrees with the prompt: positive points
inside, negative points outside, and for a box prompt it fills the box tightly (touches
its four sides and stays inside). :func:`score_mask` combines the three into [0, 1];
an empty mask or one covering the whole window scores 0.

Inputs are in one window's pixels: ``lab`` (h, w, 3) uint8 Lab image, ``grad`` (h, w)
float32 gradient magnitude, mask (h, w) bool, points continuous (x, y), box xyxy.
"""

from __future__ import annotations

import cv2
import numpy as np

from .opencv_regions import pixel_of

HIST_BINS = (8, 8, 8)


def gradient_magnitude(lab: np.ndarray) -> np.ndarray:
    """(h, w) float32: the largest Sobel gradient magnitude over the three Lab channels."""
    out = np.zeros(lab.shape[:2], np.float32)
    for c in range(3):
        ch = lab[:, :, c].astype(np.float32)
        gx = cv2.Sobel(ch, cv2.CV_32F, 1, 0, ksize=3)
        gy = cv2.Sobel(ch, cv2.CV_32F, 0, 1, ksize=3)
        np.maximum(out, cv2.magnitude(gx, gy) * 0.25, out=out)
    return out


def edge_support(mask: np.ndarray, grad: np.ndarray, grad_ref: float) -> float:
    """Mean of min(grad / grad_ref, 1) over the mask's boundary pixels, in [0, 1]."""
    m = mask.astype(np.uint8)
    edge = cv2.morphologyEx(m, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0
    # the window's own border is not an object edge
    edge[0, :] = edge[-1, :] = False
    edge[:, 0] = edge[:, -1] = False
    if not edge.any():
        return 0.0
    return float(np.minimum(grad[edge] / max(grad_ref, 1e-6), 1.0).mean())


def colour_separation(mask: np.ndarray, lab: np.ndarray) -> float:
    """Bhattacharyya distance between Lab histograms inside the mask and in a ring around it."""
    area = int(mask.sum())
    width = int(np.clip(0.15 * np.sqrt(area), 3, 25))
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * width + 1, 2 * width + 1))
    ring = cv2.dilate(mask.astype(np.uint8), k).astype(bool) & ~mask
    if ring.sum() < 8:
        return 0.0
    hi = cv2.calcHist([lab], [0, 1, 2], mask.astype(np.uint8), list(HIST_BINS), [0, 256] * 3)
    ho = cv2.calcHist([lab], [0, 1, 2], ring.astype(np.uint8), list(HIST_BINS), [0, 256] * 3)
    return float(np.clip(cv2.compareHist(hi, ho, cv2.HISTCMP_BHATTACHARYYA), 0.0, 1.0))


def prompt_agreement(mask: np.ndarray, pos: np.ndarray, neg: np.ndarray,
                     box: np.ndarray | None) -> float:
    """In [0, 1]: positive points inside, negative points outside, tight fit to the box."""
    shape = mask.shape
    factor = 1.0
    for p in np.asarray(pos).reshape(-1, 2):
        x, y = pixel_of(p, shape)
        if not mask[y, x]:
            factor *= 0.3
    for p in np.asarray(neg).reshape(-1, 2):
        x, y = pixel_of(p, shape)
        if mask[y, x]:
            factor *= 0.3
    if box is not None:
        factor *= box_tightness(mask, box)
    return factor


def box_tightness(mask: np.ndarray, box: np.ndarray) -> float:
    """IoU between the mask's bounding box and ``box``, times the fraction of the mask inside it."""
    ys, xs = np.nonzero(mask)
    if xs.size == 0:
        return 0.0
    mb = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float64)
    b = np.asarray(box, np.float64)
    ix = max(0.0, min(mb[2], b[2]) - max(mb[0], b[0]))
    iy = max(0.0, min(mb[3], b[3]) - max(mb[1], b[1]))
    inter = ix * iy
    union = (mb[2] - mb[0]) * (mb[3] - mb[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    x0, y0 = int(np.floor(max(b[0], 0))), int(np.floor(max(b[1], 0)))
    inside = mask[y0:int(np.ceil(b[3])), x0:int(np.ceil(b[2]))].sum() / xs.size
    return float(inter / max(union, 1e-9)) * float(inside)


def score_mask(mask: np.ndarray, lab: np.ndarray, grad: np.ndarray, grad_ref: float,
               pos: np.ndarray | None = None, neg: np.ndarray | None = None,
               box: np.ndarray | None = None,
               open_sides: tuple[bool, bool, bool, bool] = (False, False, False, False)) -> float:
    """Predicted quality of ``mask`` in [0, 1] (see the module docstring).

    ``open_sides`` marks window sides inside the image; masks cut off there are penalised.
    """
    area = int(mask.sum())
    if area == 0 or area == mask.size:
        return 0.0
    pos = np.zeros((0, 2)) if pos is None else pos
    neg = np.zeros((0, 2)) if neg is None else neg
    e = edge_support(mask, grad, grad_ref)
    s = colour_separation(mask, lab)
    a = prompt_agreement(mask, pos, neg, box)
    t = truncation(mask, open_sides)
    return float(np.clip((0.5 * e + 0.5 * s) * a * (1.0 - t) ** 2, 0.0, 1.0))


def reference_gradient(grad: np.ndarray) -> float:
    """A contrast-invariant normaliser for :func:`edge_support`: the 95th gradient percentile."""
    if grad.size == 0:
        return 1.0
    return max(float(np.percentile(grad, 95)), 10.0)


def truncation(mask: np.ndarray, open_sides: tuple[bool, bool, bool, bool]) -> float:
    """Fraction of the mask's boundary lying on window sides that cut through the image.

    ``open_sides`` = (left, top, right, bottom): True where the window's side is inside the
    image (not the image border). A mask running along such a side was cut off by the
    window, which means it leaked into the background.
    """
    m = mask.astype(np.uint8)
    perim = int((cv2.morphologyEx(m, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0).sum())
    if perim == 0:
        return 0.0
    n = 0
    left, top, right, bottom = open_sides
    if left:
        n += int(mask[:, 0].sum())
    if top:
        n += int(mask[0, :].sum())
    if right:
        n += int(mask[:, -1].sum())
    if bottom:
        n += int(mask[-1, :].sum())
    return float(min(1.0, 2.0 * n / perim))
