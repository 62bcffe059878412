"""Coordinate frames shared by every engine and adapter.

SAM works in three frames, and every conversion between them lives here:

* the **original image**: (H, W) pixels, points (x, y), boxes (x0, y0, x1, y1);
* the **model input frame**: the image resized so its longest side is ``target``
  (1024 for SAM) and padded at the bottom and right to a ``target`` x ``target`` square;
* the **low-res mask frame**: the model input frame divided by 4 (256 x 256 for SAM).
  Low-res logits and ``Prompt.mask`` live here; the image occupies the top-left
  ``lowres_shape(size)`` corner, the rest is padding.

Sizes are always (height, width).
"""

from __future__ import annotations

import cv2
import numpy as np

from .errors import InputError

SAM_INPUT_SIZE = 1024
LOWRES_SIZE = 256
LOGIT_SCALE = 10.0
"""Magnitude of the pseudo-logits made from a binary mask: confident, within SAM's usual range."""

Size = tuple[int, int]
"""(height, width) of an image, a frame or a mask. Sizes are always in this order."""


def resized_shape(size: tuple[int, int], target: int = SAM_INPUT_SIZE) -> tuple[int, int]:
    """(h, w) of an image of ``size`` after scaling its longest side to ``target``.

    Rounds like segment-anything's ``ResizeLongestSide.get_preprocess_shape``.
    """
    h, w = int(size[0]), int(size[1])
    scale = target * 1.0 / max(h, w)
    return int(h * scale + 0.5), int(w * scale + 0.5)


def lowres_shape(size: tuple[int, int]) -> tuple[int, int]:
    """(h, w) of the part of the 256 x 256 low-res frame that the image covers."""
    return resized_shape(size, LOWRES_SIZE)


def scale_points(points: np.ndarray, size: tuple[int, int], target: int = SAM_INPUT_SIZE) -> np.ndarray:
    """Map (..., 2) (x, y) pixel coordinates of an image of ``size`` into the resized frame."""
    nh, nw = resized_shape(size, target)
    out = np.asarray(points, dtype=np.float64).copy()
    out[..., 0] *= nw / size[1]
    out[..., 1] *= nh / size[0]
    return out


def scale_boxes(boxes: np.ndarray, size: tuple[int, int], target: int = SAM_INPUT_SIZE) -> np.ndarray:
    """Map (..., 4) xyxy boxes of an image of ``size`` into the resized frame."""
    b = np.asarray(boxes, dtype=np.float64)
    return scale_points(b.reshape(*b.shape[:-1], 2, 2), size, target).reshape(b.shape)


def to_lowres(full: np.ndarray, size: tuple[int, int], pad_value: float = 0.0) -> np.ndarray:
    """Resize a full-size (H, W) float map into the (256, 256) low-res frame, padding the rest.

    Uses area interpolation, so a binary mask becomes a soft coverage map in [0, 1].
    """
    full = np.asarray(full, dtype=np.float32)
    if full.shape != tuple(size):
        raise ValueError(f"expected a map of shape {tuple(size)}, got {full.shape}")
    lh, lw = lowres_shape(size)
    small = cv2.resize(full, (lw, lh), interpolation=cv2.INTER_AREA)
    out = np.full((LOWRES_SIZE, LOWRES_SIZE), pad_value, dtype=np.float32)
    out[:lh, :lw] = small
    return out


def mask_to_logits(mask: np.ndarray, image_size: Size | None = None, scale: float | None = None) -> np.ndarray:
    """A full-size (H, W) mask, coverage map or logit map -> (256, 256) float32 low-res logits.

    The one conversion from masks to SAM's ``mask_input`` frame:

    * bool, integer (non-zero = inside, e.g. 0/255 or labels) and [0, 1] float maps become
      ``(2 * coverage - 1) * scale`` (area-resized, so soft at the edges);
    * other float maps are logits already and are resized as they are.

    The padding (outside the image) is ``-scale``, so ``logits_to_mask(logits, (H, W))``
    gives the mask back. ``image_size`` (H, W) defaults to the mask's shape and must match it;
    ``scale`` defaults to :data:`LOGIT_SCALE`.
    """
    arr = np.asarray(mask)
    if arr.ndim != 2 or min(arr.shape) < 1:
        raise InputError(f"mask_to_logits expects an (H, W) mask, got shape {arr.shape}")
    size = (int(arr.shape[0]), int(arr.shape[1])) if image_size is None else (int(image_size[0]), int(image_size[1]))
    if arr.shape != size:
        raise InputError(f"mask of shape {arr.shape} does not match the image size {size} (H, W)")
    s = LOGIT_SCALE if scale is None else float(scale)
    if arr.dtype == bool or np.issubdtype(arr.dtype, np.integer):
        cov = (arr != 0).astype(np.float32)
    else:
        cov = arr.astype(np.float32)
        if not (cov.min() >= 0.0 and cov.max() <= 1.0):
            return to_lowres(cov, size, pad_value=-s)
    low = to_lowres(cov, size, pad_value=0.0)
    return ((low * 2.0 - 1.0) * s).astype(np.float32)


def small_mask_to_logits(small: np.ndarray, image_size: Size, scale: float | None = None) -> np.ndarray:
    """Like :func:`mask_to_logits` for a mask of the whole image of ``image_size`` (H, W) stored
    at a reduced size (e.g. a working resolution), without materialising it at full size."""
    s = LOGIT_SCALE if scale is None else float(scale)
    lh, lw = lowres_shape(image_size)
    cov = cv2.resize(np.asarray(small, dtype=np.float32), (lw, lh), interpolation=cv2.INTER_AREA)
    out = np.zeros((LOWRES_SIZE, LOWRES_SIZE), np.float32)
    out[:lh, :lw] = cov
    return ((out * 2.0 - 1.0) * s).astype(np.float32)


def logits_to_mask(logits: np.ndarray, image_size: Size, threshold: float = 0.0) -> np.ndarray:
    """(..., 256, 256) low-res logits -> (..., H, W) bool masks at the original size."""
    return from_lowres(logits, image_size) > threshold


def from_lowres(lowres: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Map (..., 256, 256) low-res maps back to (..., H, W) at the original size.

    Crops the padding and resizes bilinearly (half-pixel centres, like
    ``F.interpolate(..., align_corners=False)``). Threshold the result at 0 for logits.
    """
    arr = np.asarray(lowres, dtype=np.float32)
    lead = arr.shape[:-2]
    flat = arr.reshape(-1, arr.shape[-2], arr.shape[-1])
    lh, lw = lowres_shape(size)
    out = np.empty((flat.shape[0], int(size[0]), int(size[1])), dtype=np.float32)
    for i, m in enumerate(flat):
        out[i] = cv2.resize(m[:lh, :lw], (int(size[1]), int(size[0])), interpolation=cv2.INTER_LINEAR)
    return out.reshape(*lead, int(size[0]), int(size[1]))


def masks_to_boxes(masks: np.ndarray) -> np.ndarray:
    """(N, H, W) bool -> (N, 4) float32 xyxy boxes, pixel-edge convention (x1 = last column + 1).

    Empty masks get an all-zero box.
    """
    masks = np.asarray(masks, dtype=bool)
    n = masks.shape[0]
    boxes = np.zeros((n, 4), dtype=np.float32)
    if n == 0:
        return boxes
    rows = np.asarray(masks.any(axis=2))  # (N, H)
    cols = np.asarray(masks.any(axis=1))  # (N, W)
    for i in range(n):
        ys = np.flatnonzero(rows[i])
        xs = np.flatnonzero(cols[i])
        if ys.size and xs.size:
            boxes[i] = (xs[0], ys[0], xs[-1] + 1, ys[-1] + 1)
    return boxes


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two (H, W) boolean masks; 1.0 when both are empty."""
    a = np.asarray(a, dtype=bool)
    b = np.asarray(b, dtype=bool)
    union = np.logical_or(a, b).sum()
    if union == 0:
        return 1.0
    return float(np.logical_and(a, b).sum() / union)


def pairwise_mask_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, H, W) x (M, H, W) boolean masks -> (N, M) IoU matrix."""
    fa = np.asarray(a, dtype=bool).reshape(len(a), -1).astype(np.float32)
    fb = np.asarray(b, dtype=bool).reshape(len(b), -1).astype(np.float32)
    inter = fa @ fb.T
    union = fa.sum(1)[:, None] + fb.sum(1)[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1), 1.0)
