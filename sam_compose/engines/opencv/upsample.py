"""From a working-resolution mask to the original image: edge-aware upsampling, hole filling.

* :func:`upsample_mask` -- (h, w) bool -> (H, W) bool: the mask is softened, resized
  bilinearly and, when the scale factor is large, passed through a guided filter (He et
  al., TPAMI 2013, built from ``cv2.boxFilter``) in the band around its boundary, so the
  edge follows the photograph instead of the staircase of the small mask. Only the mask's
  bounding window is processed.
* :func:`fill_holes` -- fill enclosed background components up to an area.
"""

from __future__ import annotations

import cv2
import numpy as np


def fill_holes(mask: np.ndarray, max_area: float) -> np.ndarray:
    """Fill background components enclosed by ``mask`` (h, w bool) of at most ``max_area`` px."""
    x0, y0, bw, bh = cv2.boundingRect(mask.astype(np.uint8))
    if bw == 0 or bh == 0 or max_area <= 0:
        return mask
    y1, x1 = y0 + bh, x0 + bw
    sub = np.pad(mask[y0:y1, x0:x1], 1)  # padded so the outside stays one component
    n, lab, stats, _ = cv2.connectedComponentsWithStats((~sub).astype(np.uint8), connectivity=4)
    if n <= 2:
        return mask
    fill = stats[:, cv2.CC_STAT_AREA] <= max_area
    fill[0] = False
    fill[lab[0, 0]] = False
    if not fill.any():
        return mask
    out = mask.copy()
    out[y0:y1, x0:x1] |= fill[lab][1:-1, 1:-1]
    return out


def upsample_mask(small: np.ndarray, guide: np.ndarray, eps: float = 2e-3, edge_aware: bool = True) -> np.ndarray:
    """(h, w) bool -> (H, W) bool at the size of ``guide`` (H, W, 3) uint8, snapped to its edges.

    With ``edge_aware=False`` (or a scale factor below 1.5) the softened mask is only
    resized bilinearly, as SAM does with its low-res logits.
    """
    H, W = guide.shape[:2]
    if small.shape == (H, W):
        return small.astype(bool)
    out = np.zeros((H, W), bool)
    if not small.any():
        return out
    soft = cv2.GaussianBlur(small.astype(np.float32), (3, 3), 0.6)
    factor = max(H / small.shape[0], W / small.shape[1])
    r = int(np.ceil(factor * 1.5))
    up, (Y0, Y1, X0, X1) = _resize_part(soft, H, W, 2 * r)
    win = out[Y0:Y1, X0:X1]
    win[:] = up > 0.5
    if not win.any():  # a mask of a pixel or two vanishes when softened: nearest neighbour
        return cv2.resize(small.astype(np.uint8), (W, H), interpolation=cv2.INTER_NEAREST) > 0
    if factor < 1.5 or not edge_aware:
        return out
    band = (up > 0.02) & (up < 0.98)
    if not band.any():
        return out
    g = cv2.cvtColor(np.ascontiguousarray(guide[Y0:Y1, X0:X1]), cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    q = guided_filter(g, up, r, eps)
    win[band] = q[band] > 0.5
    return out


def guided_filter(guide: np.ndarray, src: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """Grey-guide guided filter of ``src`` (both (h, w) float32) with a (2r+1)^2 window."""
    k = (2 * radius + 1, 2 * radius + 1)

    def box(a: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(a, -1, k, borderType=cv2.BORDER_REFLECT)

    mi, mp = box(guide), box(src)
    cov = box(guide * src) - mi * mp
    var = box(guide * guide) - mi * mi
    a = cov / (var + eps)
    b = mp - a * mi
    return box(a) * guide + box(b)


def _resize_part(small: np.ndarray, H: int, W: int, pad: int) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """Bilinear resize of ``small`` (h, w) to (H, W), computed only over its non-zero part.

    Returns the resized part and its window (Y0, Y1, X0, X1) in the (H, W) frame; pixel
    centres map as in a full ``cv2.resize`` (half-pixel convention).
    """
    h, w = small.shape
    bx, by, bw, bh = cv2.boundingRect((small > 0).astype(np.uint8))
    fy, fx = H / h, W / w
    Y0 = max(int(np.floor((by - 1) * fy)) - pad, 0)
    Y1 = min(int(np.ceil((by + bh + 1) * fy)) + pad, H)
    X0 = max(int(np.floor((bx - 1) * fx)) - pad, 0)
    X1 = min(int(np.ceil((bx + bw + 1) * fx)) + pad, W)
    m = np.array([[1.0 / fx, 0.0, (X0 + 0.5) / fx - 0.5], [0.0, 1.0 / fy, (Y0 + 0.5) / fy - 0.5]])
    part = cv2.warpAffine(
        small, m, (X1 - X0, Y1 - Y0), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE
    )
    return part, (Y0, Y1, X0, X1)
