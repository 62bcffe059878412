"""Region geometry and clean-up for the OpenCV engine.

* :class:`Roi` -- a crop of the original image processed at a reduced resolution, with
  the coordinate maps between original pixels and crop pixels.
* :func:`clean_mask` -- SAM-style post-processing: keep the components connected to the
  seeds, drop specks, fill small holes, smooth.
* :func:`split_by_negatives` -- carve the region of each negative point out of a mask
  (marker watershed between positive and negative seeds, restricted to the mask).
* :func:`upsample_mask` -- edge-aware upsampling of a low-resolution mask with a guided
  filter (He et al., built from ``cv2.boxFilter``; ``cv2.ximgproc`` is not part of
  opencv-python-headless).

Conventions: masks are (h, w) bool; points are continuous (x, y) pixel coordinates where
pixel ``i`` spans ``[i, i + 1)``; boxes are x0, y0, x1, y1 with x1, y1 exclusive.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Roi:
    """A window ``[x0, x1) x [y0, y1)`` of the original image, processed at ``(h, w)`` pixels."""

    x0: int
    y0: int
    x1: int
    y1: int
    h: int
    w: int

    @classmethod
    def around(cls, box: np.ndarray, size: tuple[int, int], margin: float, min_margin: int,
               max_side: int) -> "Roi":
        """The window around ``box`` (original xyxy) grown by ``margin`` x its longest side.

        The window is clipped to the image of ``size`` (H, W) and scaled so its longest
        side is at most ``max_side`` (never enlarged).
        """
        H, W = int(size[0]), int(size[1])
        bx0, by0, bx1, by1 = (float(v) for v in box)
        m = max(min_margin, margin * max(bx1 - bx0, by1 - by0))
        x0 = int(np.clip(np.floor(bx0 - m), 0, W - 1))
        y0 = int(np.clip(np.floor(by0 - m), 0, H - 1))
        x1 = int(np.clip(np.ceil(bx1 + m), x0 + 1, W))
        y1 = int(np.clip(np.ceil(by1 + m), y0 + 1, H))
        s = min(1.0, max_side / max(x1 - x0, y1 - y0))
        return cls(x0, y0, x1, y1, max(1, int(round((y1 - y0) * s))), max(1, int(round((x1 - x0) * s))))

    @property
    def sx(self) -> float:
        """Crop pixels per original pixel along x."""
        return self.w / (self.x1 - self.x0)

    @property
    def sy(self) -> float:
        return self.h / (self.y1 - self.y0)

    @property
    def downscaled(self) -> bool:
        return self.w < (self.x1 - self.x0) or self.h < (self.y1 - self.y0)

    def crop(self, image: np.ndarray) -> np.ndarray:
        """The window of a full-size array, resized to (h, w) (area interpolation)."""
        win = image[self.y0:self.y1, self.x0:self.x1]
        if not self.downscaled:
            return np.ascontiguousarray(win)
        return cv2.resize(win, (self.w, self.h), interpolation=cv2.INTER_AREA)

    def points_to_crop(self, points: np.ndarray) -> np.ndarray:
        """(K, 2) original (x, y) -> continuous crop coordinates."""
        p = np.asarray(points, np.float64).reshape(-1, 2)
        return np.stack([(p[:, 0] - self.x0) * self.sx, (p[:, 1] - self.y0) * self.sy], 1)

    def box_to_crop(self, box: np.ndarray) -> np.ndarray:
        b = np.asarray(box, np.float64).reshape(2, 2)
        return self.points_to_crop(b).reshape(4)

    def from_scaled(self, src: np.ndarray, scale_x: float, scale_y: float,
                    interpolation: int = cv2.INTER_NEAREST) -> np.ndarray:
        """Resample a map of the whole image at ``scale`` (src px per original px) into the crop."""
        fx, fy = scale_x / self.sx, scale_y / self.sy
        m = np.array([[fx, 0.0, scale_x * self.x0 + 0.5 * fx - 0.5],
                      [0.0, fy, scale_y * self.y0 + 0.5 * fy - 0.5]], np.float64)
        return cv2.warpAffine(src, m, (self.w, self.h), flags=interpolation | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_REPLICATE)


def pixel_of(xy: np.ndarray, shape: tuple[int, int]) -> tuple[int, int]:
    """Integer (col, row) of a continuous (x, y) coordinate, clipped into an array of ``shape``."""
    return (int(np.clip(np.floor(xy[0]), 0, shape[1] - 1)), int(np.clip(np.floor(xy[1]), 0, shape[0] - 1)))


def seed_disks(shape: tuple[int, int], points: np.ndarray, radius: int) -> np.ndarray:
    """(h, w) bool: disks of ``radius`` px around continuous (x, y) points."""
    out = np.zeros(shape, np.uint8)
    for p in np.asarray(points).reshape(-1, 2):
        cv2.circle(out, pixel_of(p, shape), int(radius), 1, -1)
    return out.astype(bool)


def fill_holes(mask: np.ndarray, max_area: float) -> np.ndarray:
    """Fill background components enclosed by ``mask`` whose area is at most ``max_area`` px."""
    ys, xs = np.nonzero(mask)
    if xs.size == 0:
        return mask
    # holes lie inside the bounding box: work on it, padded so the outside stays connected
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    sub = np.pad(mask[y0:y1, x0:x1], 1)
    n, lab, stats, _ = cv2.connectedComponentsWithStats((~sub).astype(np.uint8), connectivity=4)
    if n <= 2:
        return mask
    fill = stats[:, cv2.CC_STAT_AREA] <= max_area
    fill[0] = False
    fill[lab[0, 0]] = False  # the outside
    if not fill.any():
        return mask
    out = mask.copy()
    out[y0:y1, x0:x1] |= fill[lab][1:-1, 1:-1]
    return out


def clean_mask(mask: np.ndarray, keep: np.ndarray | None = None, forbid: np.ndarray | None = None,
               min_island: float = 0.02, max_hole: float = 0.1, smooth: int = 1) -> np.ndarray:
    """Post-process a raw segmentation.

    Args:
        mask: (h, w) bool raw mask.
        keep: (h, w) bool seeds; components touching them are kept. Without seeds (or when
            none is touched) the largest component is kept.
        forbid: (h, w) bool; components touching it are dropped (negative seeds).
        min_island: other components are kept only if larger than this fraction of the kept area.
        max_hole: holes up to this fraction of the mask area are filled.
        smooth: radius of a morphological open/close that removes one-pixel spurs (0: none).
    """
    m = mask.astype(bool)
    if smooth > 0 and m.sum() > 64:
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * smooth + 1, 2 * smooth + 1))
        sm = cv2.morphologyEx(cv2.morphologyEx(m.astype(np.uint8), cv2.MORPH_OPEN, k), cv2.MORPH_CLOSE, k) > 0
        if sm.any():
            m = sm
    n, lab, stats, _ = cv2.connectedComponentsWithStats(m.astype(np.uint8), connectivity=8)
    if n <= 1:
        return m
    areas = stats[:, cv2.CC_STAT_AREA].astype(np.float64)
    areas[0] = 0
    chosen = np.zeros(n, bool)
    if keep is not None and keep.any():
        chosen[np.unique(lab[keep & m])] = True
        chosen[0] = False
    if forbid is not None and forbid.any():
        bad = np.zeros(n, bool)
        bad[np.unique(lab[forbid & m])] = True
        bad[0] = False
    else:
        bad = np.zeros(n, bool)
    if not chosen.any():
        order = np.argsort(-areas)
        for i in order:
            if i != 0 and not bad[i]:
                chosen[i] = True
                break
    if not chosen.any():
        return np.zeros_like(m)
    kept = areas[chosen].sum()
    chosen |= (areas > min_island * kept) & ~bad
    chosen &= ~bad
    chosen[0] = False
    out = chosen[lab]
    if max_hole > 0 and out.any():
        out = fill_holes(out, max_hole * out.sum())
    return out


def split_by_negatives(mask: np.ndarray, image: np.ndarray, pos: np.ndarray, neg: np.ndarray,
                       radius: int = 2) -> np.ndarray:
    """Remove from ``mask`` the part that belongs to negative points.

    Runs a marker watershed on ``image`` (h, w, 3 uint8) where positive seeds (continuous
    (x, y) points ``pos``; when empty, the mask's most interior pixel) grow against negative
    seeds ``neg``, inside the mask only; pixels won by a negative seed are dropped.
    """
    if len(neg) == 0 or not mask.any():
        return mask
    shape = mask.shape
    neg_in = [p for p in np.asarray(neg).reshape(-1, 2) if mask[pixel_of(p, shape)[1], pixel_of(p, shape)[0]]]
    if not neg_in:
        return mask
    markers = np.full(shape, 3, np.int32)  # outside the mask: fixed
    markers[mask] = 0
    neg_seeds = seed_disks(shape, np.array(neg_in), radius) & mask
    pos_pts = np.asarray(pos).reshape(-1, 2)
    pos_seeds = seed_disks(shape, pos_pts, radius) & mask if len(pos_pts) else np.zeros(shape, bool)
    pos_seeds &= ~neg_seeds
    if not pos_seeds.any():
        away = mask & ~cv2.dilate(neg_seeds.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        if not away.any():
            return np.zeros_like(mask)
        dist = cv2.distanceTransform(away.astype(np.uint8), cv2.DIST_L2, 3)
        # far from the mask edge and far from the negative seeds
        nd = cv2.distanceTransform((~neg_seeds).astype(np.uint8), cv2.DIST_L2, 3)
        y, x = np.unravel_index(int(np.argmax(np.minimum(dist, nd) * away)), shape)
        pos_seeds[y, x] = True
    markers[pos_seeds] = 1
    markers[neg_seeds] = 2
    cv2.watershed(np.ascontiguousarray(image), markers)
    keep = (markers == 1) | ((markers == -1) & mask)
    out = mask & keep
    return clean_mask(out, keep=pos_seeds, forbid=neg_seeds, max_hole=0.0, smooth=0)


def _guided(guide: np.ndarray, src: np.ndarray, radius: int, eps: float) -> np.ndarray:
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

    Returns the resized part and its window (Y0, Y1, X0, X1) in the (H, W) frame. Pixel
    centres map exactly as in a full ``cv2.resize`` (half-pixel convention).
    """
    h, w = small.shape
    ys, xs = np.nonzero(small > 0)
    fy, fx = H / h, W / w
    Y0 = max(int(np.floor((ys.min() - 1) * fy)) - pad, 0)
    Y1 = min(int(np.ceil((ys.max() + 2) * fy)) + pad, H)
    X0 = max(int(np.floor((xs.min() - 1) * fx)) - pad, 0)
    X1 = min(int(np.ceil((xs.max() + 2) * fx)) + pad, W)
    m = np.array([[1.0 / fx, 0.0, (X0 + 0.5) / fx - 0.5], [0.0, 1.0 / fy, (Y0 + 0.5) / fy - 0.5]])
    part = cv2.warpAffine(small, m, (X1 - X0, Y1 - Y0), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)
    return part, (Y0, Y1, X0, X1)


def upsample_mask(small: np.ndarray, guide: np.ndarray, eps: float = 2e-3, edge_aware: bool = True) -> np.ndarray:
    """Edge-aware upsampling: (h, w) bool -> (H, W) bool snapped to the edges of ``guide``.

    ``guide`` is the (H, W, 3) uint8 full-resolution window. The mask is softened, resized
    bilinearly and passed through a guided filter whose radius matches the scale factor, so
    the boundary follows the image's edges instead of the staircase of the small mask.
    With ``edge_aware=False`` the softened mask is only resized bilinearly (cheaper; what
    SAM does with its low-res logits). Only the mask's bounding window is processed.
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
    if factor < 1.5 or not edge_aware:
        return out
    band = (up > 0.02) & (up < 0.98)
    if not band.any():
        return out
    g = cv2.cvtColor(np.ascontiguousarray(guide[Y0:Y1, X0:X1]), cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    q = _guided(g, up, r, eps)
    win[band] = q[band] > 0.5
    return out
