"""Pre- and post-processing for SAM-family models, in numpy/PIL/torch (no torchvision).

Frames (see :mod:`sam_compose.geometry`): the original image (H, W); SAM's model input
(longest side resized to 1024, padded bottom/right to 1024 x 1024); the low-res mask frame
(256 x 256, the same padding). SAM 2 instead stretches the image to 1024 x 1024 and its
low-res masks cover the whole image; helpers here convert SAM 2 logits to and from the
padded frame so every engine exchanges ``Prompt.mask`` / ``Masks.logits`` the same way.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image

from ...geometry import LOWRES_SIZE, SAM_INPUT_SIZE, lowres_shape, resized_shape

PIXEL_MEAN = np.array([123.675, 116.28, 103.53], dtype=np.float32)
"""SAM's (and SAM 2's) normalisation: ImageNet mean and std in 0..255 units."""
PIXEL_STD = np.array([58.395, 57.12, 57.375], dtype=np.float32)


def resize_uint8(image: np.ndarray, size_hw: tuple[int, int]) -> np.ndarray:
    """Bilinear (antialiased when shrinking) resize of an (H, W, 3) uint8 image, like PIL/reference SAM."""
    h, w = size_hw
    if image.shape[:2] == (h, w):
        return image
    return np.asarray(Image.fromarray(image).resize((w, h), Image.Resampling.BILINEAR))


def sam_pixel_values(image: np.ndarray, target: int = SAM_INPUT_SIZE):
    """(H, W, 3) uint8 -> (1, 3, target, target) float32 tensor: resized, normalised, zero-padded."""
    import torch

    nh, nw = resized_shape(image.shape[:2], target)
    small = resize_uint8(image, (nh, nw)).astype(np.float32)
    out = np.zeros((target, target, 3), dtype=np.float32)
    out[:nh, :nw] = (small - PIXEL_MEAN) / PIXEL_STD
    return torch.from_numpy(out).permute(2, 0, 1).unsqueeze(0).contiguous()


def sam2_pixel_values(image: np.ndarray, target: int = SAM_INPUT_SIZE):
    """(H, W, 3) uint8 -> (1, 3, target, target) float32: stretched to a square, normalised (SAM 2).

    As Meta's ``SAM2Transforms``: scaled to [0, 1], resized as a float tensor (bilinear,
    antialiased when shrinking), then normalised with ImageNet mean and std.
    """
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).unsqueeze(0).float() / 255.0
    if x.shape[-2:] != (target, target):
        x = F.interpolate(x, size=(target, target), mode="bilinear", align_corners=False, antialias=True)
    mean = torch.from_numpy(PIXEL_MEAN / 255.0).view(1, 3, 1, 1)
    std = torch.from_numpy(PIXEL_STD / 255.0).view(1, 3, 1, 1)
    return ((x - mean) / std).contiguous()


def _bilinear_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) matrix of ``F.interpolate(mode="bilinear", align_corners=False)`` along one axis."""
    scale = n_in / n_out
    m = np.zeros((n_out, n_in), dtype=np.float64)
    src = (np.arange(n_out) + 0.5) * scale - 0.5
    src = np.maximum(src, 0.0)
    i0 = np.floor(src).astype(np.int64)
    i0 = np.minimum(i0, n_in - 1)
    lam = src - i0
    i1 = np.minimum(i0 + 1, n_in - 1)
    rows = np.arange(n_out)
    np.add.at(m, (rows, i0), 1.0 - lam)
    np.add.at(m, (rows, i1), lam)
    return m


@lru_cache(maxsize=64)
def _sam_axis(n_orig: int, n_resized: int) -> tuple[np.ndarray, int]:
    """Composite map low-res (256) -> 1024 -> crop to n_resized -> n_orig along one axis.

    Returns the (n_orig, k) matrix restricted to its first k low-res columns (the rest are 0).
    """
    up = _bilinear_matrix(LOWRES_SIZE, SAM_INPUT_SIZE)[:n_resized]
    comp = _bilinear_matrix(n_resized, n_orig) @ up
    nz = np.flatnonzero(np.abs(comp).sum(0) > 0)
    k = int(nz[-1]) + 1 if nz.size else 1
    return np.ascontiguousarray(comp[:, :k].astype(np.float32)), k


@lru_cache(maxsize=64)
def _direct_axis(n_orig: int, n_in: int = LOWRES_SIZE) -> tuple[np.ndarray, int]:
    return _bilinear_matrix(n_in, n_orig).astype(np.float32), n_in


def _row_taps(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dense (n_out, k) interpolation matrix -> (taps, n_out) source rows and weights.

    Every output row of a (composed) bilinear map mixes only a few input rows, so the
    row pass is a handful of row gathers and fused multiply-adds instead of a matmul.
    """
    nz = matrix != 0
    taps = max(1, int(nz.sum(1).max()))
    idx = np.zeros((taps, matrix.shape[0]), dtype=np.int64)
    wts = np.zeros((taps, matrix.shape[0]), dtype=np.float32)
    for r in range(matrix.shape[0]):
        cols = np.flatnonzero(nz[r])
        idx[: cols.size, r] = cols
        wts[: cols.size, r] = matrix[r, cols]
    return idx, wts


_TORCH_CACHE: dict[tuple, object] = {}


def _axis_tensor(key: tuple, make, device, dtype):
    """``make()``'s array as a tensor on ``device`` (cached: built once per size/device/dtype)."""
    import torch

    k = (key, str(device), str(dtype))
    t = _TORCH_CACHE.get(k)
    if t is None:
        if len(_TORCH_CACHE) > 256:
            _TORCH_CACHE.clear()
        t = torch.from_numpy(make()).to(device=device)
        if dtype is not None:
            t = t.to(dtype)
        _TORCH_CACHE[k] = t
    return t


def upsample_chunk(size: tuple[int, int], budget: int = 1 << 25) -> int:
    """How many masks of ``size`` to upsample at once: <= 32, and <= ``budget`` floats in flight."""
    return max(1, min(32, budget // max(1, int(size[0]) * int(size[1]))))


def upsample_logits(lowres, size: tuple[int, int], frame: str = "sam"):
    """Low-res logits (..., 256, 256) tensor -> (..., H, W) logits at the original size.

    ``frame="sam"`` reproduces the reference exactly as one linear map: bilinear to
    1024 x 1024, crop the padding, bilinear to (H, W). ``frame="full"`` (SAM 2, SAM 3)
    resizes the whole map (any size: 256 x 256 for SAM 2, 288 x 288 for SAM 3) to (H, W). Applied separably as two small matmuls over the low-res
    rows that matter and a few fused row gathers, skipping the reference's 1024 x 1024
    intermediate.
    """
    import torch

    from .. import onednn

    h, w = int(size[0]), int(size[1])
    if frame == "sam":
        rh, rw = resized_shape((h, w))
        (ay, ky), (ax, kx) = _sam_axis(h, rh), _sam_axis(w, rw)
        key_y, key_x = ("sam", h, rh), ("sam", w, rw)
    else:
        ny, nx = int(lowres.shape[-2]), int(lowres.shape[-1])
        (ay, ky), (ax, kx) = _direct_axis(h, ny), _direct_axis(w, nx)
        key_y, key_x = ("full", h, ny), ("full", w, nx)
    dev, dt = lowres.device, lowres.dtype
    mxt = _axis_tensor(key_x + ("T",), lambda: np.ascontiguousarray(ax.T), dev, dt)  # (kx, W)
    x = onednn.matmul(lowres[..., :ky, :kx], mxt)  # (..., ky, W) columns done
    idx = _axis_tensor(key_y + ("idx",), lambda: _row_taps(ay)[0], dev, None)  # (taps, H)
    wts = _axis_tensor(key_y + ("w",), lambda: _row_taps(ay)[1], dev, dt)
    out = torch.index_select(x, -2, idx[0]) * wts[0][:, None]
    for t in range(1, idx.shape[0]):
        out.addcmul_(torch.index_select(x, -2, idx[t]), wts[t][:, None])
    return out  # (..., H, W)


def upsample_masks_cv2(lowres: np.ndarray, size: tuple[int, int], frame: str = "sam") -> np.ndarray:
    """Low-res logits (K, h, w) float32 array -> (K, H, W) bool masks (logits > 0), with OpenCV.

    The reference's own steps, one mask at a time (``cv2.INTER_LINEAR`` is the same bilinear
    map as ``F.interpolate(mode="bilinear", align_corners=False)``, no antialiasing):
    ``frame="sam"``: to 1024 x 1024, crop the resized size, to (H, W); ``frame="full"``: to
    (H, W). Same masks as :func:`upsample_logits` up to float rounding (logits within ~1e-4);
    used by the ``onnx:`` engine, whose decoder outputs are numpy arrays already.
    """
    import cv2

    h, w = int(size[0]), int(size[1])
    out = np.empty((lowres.shape[0], h, w), dtype=bool)
    if frame == "sam":
        rh, rw = resized_shape((h, w))
    for i, m in enumerate(np.asarray(lowres, dtype=np.float32)):
        if frame == "sam":
            m = cv2.resize(m, (SAM_INPUT_SIZE, SAM_INPUT_SIZE), interpolation=cv2.INTER_LINEAR)[:rh, :rw]
        np.greater(cv2.resize(m, (w, h), interpolation=cv2.INTER_LINEAR), 0.0, out=out[i])
    return out


def sam2_logits_to_padded(logits, size: tuple[int, int], fill: float = -20.0):
    """Low-res logits covering the whole image (..., S, S) (SAM 2, SAM 3) -> SAM's padded 256 frame."""
    import torch
    import torch.nn.functional as F

    lh, lw = lowres_shape(size)
    lead = logits.shape[:-2]
    side = logits.shape[-1]
    flat = logits.reshape(-1, 1, logits.shape[-2], side)
    small = F.interpolate(flat, size=(lh, lw), mode="bilinear", align_corners=False)
    out = torch.full((flat.shape[0], 1, LOWRES_SIZE, LOWRES_SIZE), fill, dtype=logits.dtype, device=logits.device)
    out[:, :, :lh, :lw] = small
    return out.reshape(*lead, LOWRES_SIZE, LOWRES_SIZE)


def padded_to_sam2_logits(mask, size: tuple[int, int]):
    """A ``Prompt.mask`` in SAM's padded frame (..., 256, 256) -> SAM 2's whole-image frame."""
    import torch.nn.functional as F

    lh, lw = lowres_shape(size)
    lead = mask.shape[:-2]
    flat = mask.reshape(-1, 1, LOWRES_SIZE, LOWRES_SIZE)[:, :, :lh, :lw]
    out = F.interpolate(flat, size=(LOWRES_SIZE, LOWRES_SIZE), mode="bilinear", align_corners=False)
    return out.reshape(*lead, LOWRES_SIZE, LOWRES_SIZE)
