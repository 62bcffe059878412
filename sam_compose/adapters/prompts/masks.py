"""Prior masks as SAM prompts: ``read_mask``, ``mask_to_prompt``, ``refine_with_mask``.

SAM's ``mask_input`` is not a mask at the image size. It is a (256, 256) array of
**logits** in SAM's **padded low-res frame**: the image is resized so its longest side
is 256 (keeping the aspect ratio), placed in the top-left corner, and the rest is
padding. Positive values mean "object", negative "background", 0 is the decision
boundary. Passing a 0/1 mask, a mask stretched to 256x256, or a full-size mask are the
mistakes behind segment-anything issues #169, #242, #694 and sam2 #147.

:func:`mask_to_prompt` does the conversion once, correctly:

* a full-size (H, W) binary mask: area-resized into the frame (coverage in [0, 1]),
  mapped to logits ``(2 * coverage - 1) * logit_scale`` (so +scale inside, -scale
  outside, 0 on the boundary), padding set to -scale;
* a full-size soft mask (floats in [0, 1]) is treated as a probability map, the same way;
* full-size float maps with values outside [0, 1] are logits: resized into the frame as is;
* (256, 256) logits from an earlier result (``Masks.logits[i]``, or a ``Masks`` row)
  pass through unchanged.

By default the prompt also carries the mask's bounding box and one positive point deep
inside it, because SAM was trained with ``mask_input`` together with points or a box:
a mask alone gives weak results. Pass ``box=False, points=0`` for mask logits only.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ...errors import ImageError, ImageLimitError, PromptError
from ...geometry import LOGIT_SCALE, LOWRES_SIZE, from_lowres, mask_iou
from ...geometry import mask_to_logits as geometry_mask_to_logits
from ...masks import Masks
from ...security import limits
from ...security.paths import check_regular_file
from ...types import Prompt
from .mask_clean import clean_mask

__all__ = [
    "DEFAULT_LOGIT_SCALE",
    "interior_points",
    "mask_to_logits",
    "mask_to_prompt",
    "read_mask",
    "refine_with_mask",
]

DEFAULT_LOGIT_SCALE = LOGIT_SCALE
"""Deprecated alias of :data:`sam_compose.geometry.LOGIT_SCALE`."""


def read_mask(path: str | os.PathLike) -> np.ndarray:
    """Read a mask file as an (H, W) bool array.

    PNG/JPEG/TIFF/BMP, grayscale, RGB or RGBA (the brightest channel counts; an RGBA
    image whose colour is constant, such as a brush layer, uses its alpha). Two-level
    images (0 and any one value) are foreground where non-zero; others (e.g. a JPEG's
    soft edges) where at least half the type's maximum. ``.npy``: non-zero = foreground.
    """
    p = Path(os.fspath(path)).expanduser()
    if not p.exists():
        raise ImageError(f"mask file not found: {p}")
    if p.is_dir():
        raise ImageError(f"mask path {p} is a folder; give a mask image such as mask.png")
    check_regular_file(p, "mask")
    if p.suffix.lower() == ".npy":
        _check_mask_size(_npy_shape(p), p)
        try:
            arr = np.load(p, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise ImageError(f"could not read mask {p} as a .npy array: {exc}") from exc
        arr = np.squeeze(arr)
        if arr.ndim != 2:
            raise ImageError(f"mask {p} must be a 2-D (H, W) array, got shape {arr.shape}")
        return arr != 0
    _check_mask_size(_image_header_shape(p), p)
    raw = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise ImageError(f"could not read mask {p}: not an image OpenCV can decode (PNG, JPEG, TIFF, BMP, .npy)")
    if raw.ndim == 3:
        if raw.shape[2] == 4:
            colour, alpha = raw[..., :3], raw[..., 3]
            raw = alpha if np.ptp(colour) == 0 else colour.max(axis=2)
        else:
            raw = raw.max(axis=2)
    top = raw.max() if raw.size else 0
    if top <= 1 or np.isin(raw, (0, top)).all():  # 0/1, 0/255, 0/65535, or any two-level 0/v mask
        return raw > 0
    half = (np.iinfo(raw.dtype).max + 1) // 2 if np.issubdtype(raw.dtype, np.integer) else 0.5
    return raw >= half


def _npy_shape(p: Path) -> tuple[int, ...]:
    """The shape in a .npy header (nothing else is read)."""
    try:
        shape = np.load(p, mmap_mode="r", allow_pickle=False).shape  # mapped, not read
    except (ValueError, OSError, SyntaxError) as exc:
        raise ImageError(f"could not read mask {p} as a .npy array: {exc}") from exc
    return tuple(int(v) for v in shape)


def _image_header_shape(p: Path) -> tuple[int, int]:
    """(H, W) from an image file's header, read by Pillow without decoding any pixel."""
    from PIL import Image, UnidentifiedImageError

    from ...image_io import allow_pillow, bomb_error

    allow_pillow(limits.get("mask_pixels"))
    try:
        with Image.open(p) as im:
            return int(im.height), int(im.width)
    except Image.DecompressionBombError as exc:
        raise bomb_error(exc, f"mask {p.name}", "mask_pixels") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"could not read mask {p}: not an image file (PNG, JPEG, TIFF, BMP) or .npy ({exc})") from None


def _check_mask_size(shape: tuple[int, ...], p: Path) -> None:
    dims = [d for d in shape if d != 1] or [1]
    pixels = int(np.prod(np.asarray(shape, dtype=np.float64)))
    if pixels > limits.get("mask_pixels"):
        raise ImageLimitError(
            f"mask {p.name} ({'x'.join(str(d) for d in shape)}) is {pixels / 1e6:.0f} MP, over the limit of "
            f"{limits.get('mask_pixels') / 1e6:.0f} MP; downscale it or raise SAM_COMPOSE_MAX_MASK_PIXELS",
            "mask_pixels",
            limits.env_name("mask_pixels"),
        )
    if len(dims) == 2 and max(dims) / max(min(dims), 1) > limits.get("aspect"):
        raise ImageLimitError(
            f"mask {p.name} is {dims[1]}x{dims[0]}, thinner than the limit of "
            f"{limits.get('aspect')}:1; raise SAM_COMPOSE_MAX_ASPECT",
            "aspect",
            limits.env_name("aspect"),
        )


def _as_array(mask: Any) -> np.ndarray:
    if hasattr(mask, "detach"):  # torch tensor
        mask = mask.detach().cpu().numpy()
    try:
        arr = np.asarray(mask)
    except (TypeError, ValueError) as exc:
        raise PromptError(f"a prior mask must be an array, a path or Masks, got {type(mask).__name__}") from exc
    if arr.dtype == object or not (arr.dtype == bool or np.issubdtype(arr.dtype, np.number)):
        raise PromptError(f"a prior mask must hold numbers or booleans, got dtype {arr.dtype}")
    while arr.ndim > 2 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 2:
        hint = (
            " (an RGB image? save the mask as a single-channel PNG or pass mask[..., 0])"
            if arr.ndim == 3 and arr.shape[-1] in (3, 4)
            else ""
        )
        raise PromptError(f"a prior mask must be 2-D (H, W), got shape {arr.shape}{hint}")
    if not np.isfinite(arr.astype(np.float64)).all():
        raise PromptError("the prior mask contains NaN or infinite values")
    return arr


def mask_to_logits(mask: np.ndarray, image_size: tuple[int, int], logit_scale: float = LOGIT_SCALE) -> np.ndarray:
    """Deprecated: use :func:`sam_compose.geometry.mask_to_logits` (``scale=`` instead of ``logit_scale=``)."""
    warnings.warn(
        "sam_compose.adapters.prompts.masks.mask_to_logits is deprecated; use "
        "sam_compose.geometry.mask_to_logits(mask, image_size, scale=...)",
        DeprecationWarning,
        stacklevel=2,
    )
    return geometry_mask_to_logits(mask, image_size, scale=logit_scale)


def interior_points(mask: np.ndarray, n: int) -> np.ndarray:
    """Up to ``n`` (x, y) points deep inside ``mask`` (largest distance to the edge first)."""
    m = np.pad(mask.astype(np.uint8), 1)  # the image border counts as an edge
    dist = cv2.distanceTransform(m, cv2.DIST_L2, 5)[1:-1, 1:-1]
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return np.zeros((0, 2), np.float32)
    # among equally deep pixels prefer the one nearest the centroid (the middle of a rectangle)
    tie = 1e-3 * np.hypot(xs - xs.mean(), ys - ys.mean()) / max(mask.shape)
    pts = []
    for _ in range(n):
        j = int(np.argmax(dist[ys, xs] - tie))
        y, x = int(ys[j]), int(xs[j])
        if dist[y, x] <= 0:
            break
        pts.append((x + 0.5, y + 0.5))
        r = max(2.0, float(dist[y, x]))
        cv2.circle(dist, (int(x), int(y)), int(np.ceil(r)), 0.0, -1)  # next point elsewhere
    return np.asarray(pts, dtype=np.float32).reshape(-1, 2)


def mask_to_prompt(
    mask: Any,
    image_size: tuple[int, int] | None = None,
    *,
    box: bool = True,
    points: int = 1,
    logit_scale: float = LOGIT_SCALE,
    threshold: float | None = None,
    clean: bool = True,
) -> Prompt:
    """A prior mask -> :class:`Prompt` with SAM ``mask_input`` logits (and a box and points).

    Args:
        mask: one of
            * a full-size (H, W) mask: bool, 0/1 or 0/255 integers, floats in [0, 1]
              (probabilities) or float logits; (1, H, W) is accepted;
            * (256, 256) float logits in SAM's padded low-res frame (e.g. ``res.logits[i]``),
              passed through unchanged (when ``image_size`` is not itself 256x256);
            * a :class:`~sam_compose.masks.Masks` with one row (its logits pass through
              when present, else its mask is converted);
            * a path to a mask image or ``.npy`` (:func:`read_mask`).
        image_size: (H, W) of the image the prompt is for. Required for full-size masks;
            a mask of another size raises :class:`PromptError`.
        box: include the mask's bounding box (x0, y0, x1, y1 pixels).
        points: number of positive points deep inside the mask (0 for none).
        logit_scale: logit magnitude for binary masks (``+scale`` inside, ``-scale`` outside).
        threshold: foreground threshold used to derive the box and points from a float
            map (default 0.5 for [0, 1] maps, 0 for logits).
        clean: remove specks (components under 5% of the largest one or 0.01% of the
            image) and fill small holes (:func:`~.mask_clean.clean_mask`) before taking the
            box and points; a full-size mask's logits are made from the cleaned mask.
            (256, 256) logits always pass through unchanged; only their box and points
            come from the cleaned mask.

    Returns:
        ``Prompt(mask=(256, 256) logits, box=..., points=..., data={"adapter": "mask", ...})``.
    """
    source = "array"
    if isinstance(mask, (str, os.PathLike)):
        source = str(mask)
        mask = read_mask(mask)
    if isinstance(mask, Masks):
        if len(mask) != 1:
            raise PromptError(
                f"mask_to_prompt takes one mask; this Masks has {len(mask)} rows: pick one, e.g. res.best()[0] or res[i]"
            )
        if image_size is not None and tuple(image_size) != mask.image_size:
            raise PromptError(f"these Masks are for a {mask.image_size} image, not {tuple(image_size)} (H, W)")
        image_size = mask.image_size
        mask = mask.logits[0] if mask.logits is not None else mask.masks[0]
        source = "masks"
    arr = _as_array(mask)
    size = None if image_size is None else (int(image_size[0]), int(image_size[1]))
    if size is not None and (len(size) != 2 or min(size) <= 0):
        raise PromptError(f"image_size must be (H, W) with positive sides, got {image_size}")
    lowres_input = arr.shape == (LOWRES_SIZE, LOWRES_SIZE) and size != (LOWRES_SIZE, LOWRES_SIZE)
    if lowres_input:
        logits = _lowres_logits(arr, logit_scale)
        fg_low = logits > 0
        full = None
        if size is not None:
            full = from_lowres(logits, size) > 0
            if clean and full.any():
                full = clean_mask(full)
        kind = "lowres_logits"
    else:
        if size is None:
            raise PromptError(
                f"a full-size prior mask of shape {arr.shape} needs image_size=(H, W) of its image "
                f"(or pass {LOWRES_SIZE}x{LOWRES_SIZE} low-res logits)"
            )
        if arr.shape != size:
            raise PromptError(
                f"prior mask is {arr.shape[1]}x{arr.shape[0]} (W x H) but the image is {size[1]}x{size[0]}; "
                f"resize the mask to the image (nearest neighbour) or pass {LOWRES_SIZE}x{LOWRES_SIZE} low-res logits"
            )
        full = _foreground(arr, threshold)
        kind = (
            "binary"
            if (arr.dtype == bool or np.isin(arr, (0, 1)).all() or np.issubdtype(arr.dtype, np.integer))
            else "soft"
        )
        if clean and full.any():
            cleaned = clean_mask(full)
            if not np.array_equal(cleaned, full):
                arr = _apply_cleaning(arr, full, cleaned, kind, logit_scale)
                full = cleaned
        logits = geometry_mask_to_logits(arr, size, scale=logit_scale)
        fg_low = logits > 0
    if full is not None and not full.any():
        raise PromptError("the prior mask is empty (no foreground pixel); nothing to prompt with")
    if full is None and not fg_low.any():
        raise PromptError("the prior mask logits have no positive value (no foreground); nothing to prompt with")
    bx = pts = None
    if full is not None:
        if box:
            ys, xs = np.nonzero(full)
            bx = [float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)]
        if points > 0:
            pts = interior_points(full, int(points))
            if len(pts) == 0:
                pts = None
    data = {"adapter": "mask", "source": source, "kind": kind, "logit_scale": float(logit_scale)}
    if full is not None:
        data["area"] = int(full.sum())
    return Prompt(points=pts, box=bx, mask=logits, data=data)


def _apply_cleaning(
    arr: np.ndarray, full: np.ndarray, cleaned: np.ndarray, kind: str, logit_scale: float
) -> np.ndarray:
    """The mask ``arr`` with removed specks set to background and filled holes to foreground."""
    if kind == "binary":
        return cleaned
    out = arr.astype(np.float32).copy()
    soft = out.min() >= 0.0 and out.max() <= 1.0
    out[full & ~cleaned] = 0.0 if soft else -logit_scale
    out[cleaned & ~full] = 1.0 if soft else logit_scale
    return out


def _foreground(arr: np.ndarray, threshold: float | None) -> np.ndarray:
    if arr.dtype == bool:
        return arr
    if np.issubdtype(arr.dtype, np.integer):
        return arr != 0 if threshold is None else arr > threshold
    f = arr.astype(np.float32)
    if threshold is None:
        threshold = 0.5 if (f.min() >= 0.0 and f.max() <= 1.0) else 0.0
    return f > threshold


def _lowres_logits(arr: np.ndarray, logit_scale: float) -> np.ndarray:
    """(256, 256) input: float logits pass through; bool/0-1 masks in the frame get scaled."""
    if arr.dtype == bool or np.issubdtype(arr.dtype, np.integer) or np.isin(arr, (0.0, 1.0)).all():
        return np.where(arr != 0, logit_scale, -logit_scale).astype(np.float32)
    return arr.astype(np.float32)


def refine_with_mask(
    image: Any,
    prompt: Prompt | Any,
    *legacy: Any,
    engine: Any = None,
    iterations: int = 3,
    stop_iou: float = 0.99,
    multimask_first: bool = True,
) -> Masks:
    """Iterative refinement: segment, feed the best result's low-res logits back, repeat.

    Args:
        image: the image (anything ``load_image`` takes).
        prompt: a :class:`Prompt`, or a prior mask (converted with :func:`mask_to_prompt`).
        engine: a spec or an :class:`~sam_compose.engines.base.Engine` (keyword; the old
            order ``refine_with_mask(engine, image, prompt)`` still works, with a warning).
        iterations: the most engine calls (>= 1).
        stop_iou: stop early when two successive masks agree at least this much (IoU).
        multimask_first: the first call asks for three candidates and keeps the best (SAM's
            recipe for ambiguous prompts); later calls ask for one.

    Returns:
        The last result (one row), with ``data["refinement"] = {"iterations", "ious"}``:
        the IoU between each result and the one before.
    """
    from ...engines import resolve_engine
    from ...image_io import load_image

    if legacy:
        if len(legacy) != 1 or engine is not None:
            raise TypeError("refine_with_mask(image, prompt, *, engine=...) takes two positional arguments")
        warnings.warn(
            "refine_with_mask(engine, image, prompt) is deprecated; use refine_with_mask(image, prompt, engine=engine)",
            DeprecationWarning,
            stacklevel=2,
        )
        engine, image, prompt = image, prompt, legacy[0]
    if engine is None:
        raise PromptError("refine_with_mask needs engine=: a spec such as 'opencv' or an Engine")
    engine = resolve_engine(engine)
    img = load_image(image)
    size = img.shape[:2]
    if int(iterations) < 1:
        raise PromptError(f"iterations must be at least 1, got {iterations}")
    if not isinstance(prompt, Prompt):
        prompt = mask_to_prompt(prompt, image_size=size)
    current = prompt
    previous: np.ndarray | None = None
    ious: list[float] = []
    res: Masks | None = None
    for i in range(int(iterations)):
        out = engine.segment(img, current, multimask=bool(multimask_first and i == 0))
        res = out.best()
        if res.logits is None:
            raise PromptError(f"engine {getattr(engine, 'spec', engine)!r} returns no low-res logits; it cannot refine")
        m = res.masks[0]
        if previous is not None:
            ious.append(mask_iou(previous, m))
            if ious[-1] >= stop_iou:
                break
        previous = m
        current = current.replace(mask=res.logits[0])
    assert res is not None  # iterations >= 1 was checked above
    res.data["refinement"] = {"iterations": len(ious) + 1, "ious": ious}
    return res
