"""Inpainting: remove masked objects from an image (or from every frame of a video).

``inpaint(image, masks, method="telea")`` fills the union of the masks from the
surrounding pixels:

* ``telea`` / ``ns``: OpenCV's fast-marching (Telea 2004) and Navier-Stokes (Bertalmio
  2001) methods, ``radius`` pixels of context per step;
* ``diffusers``: a Stable Diffusion inpainting pipeline (optional; needs ``pip install
  diffusers accelerate`` and the weights in the local Hugging Face cache).

The mask is first grown by ``dilate`` pixels (SAM masks hug the object; shadows and
anti-aliased edges sit just outside). With ``feather`` > 0 the filled region is blended
into the original across a ``feather``-pixel band around the dilated mask, so no seam shows. Each connected
region is filled in its own crop (the region's box plus a ``margin``) and pasted back,
so a small object in a large image costs the crop, not the frame.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import Any

import cv2
import numpy as np

from ...engines.hub import download_hint, hub_offline, normalize_device, shared_model
from ...errors import EngineError, InputError, require
from ...image_io import load_image
from ...masks import Masks

METHODS = ("telea", "ns", "diffusers")
DEFAULT_DIFFUSERS_MODEL = "stabilityai/stable-diffusion-2-inpainting"


def _union_mask(masks: Any, size: tuple[int, int]) -> np.ndarray:
    """(H, W) bool union of ``masks`` (Masks, (H, W) or (N, H, W) array)."""
    if isinstance(masks, Masks):
        m = masks.union()
    else:
        arr = np.asarray(masks)
        if arr.ndim == 3:
            arr = np.asarray(arr.any(axis=0)) if arr.shape[0] else np.zeros(arr.shape[1:], bool)
        if arr.ndim != 2:
            raise InputError(f"masks must be a Masks result or an (H, W) / (N, H, W) array, got shape {arr.shape}")
        if arr.dtype != bool and np.issubdtype(arr.dtype, np.floating) and arr.size and arr.max() <= 1.0:
            arr = arr >= 0.5
        m = arr != 0
    if m.shape != tuple(size):
        raise InputError(
            f"masks are {m.shape[1]}x{m.shape[0]} but the image is {size[1]}x{size[0]}; "
            "inpaint with the masks computed on this image"
        )
    return m


def _regions(mask: np.ndarray, margin: int) -> list[tuple[int, int, int, int]]:
    """Boxes (x0, y0, x1, y1) around each connected region plus ``margin``, merged when they overlap."""
    h, w = mask.shape
    m8 = mask.astype(np.uint8)
    # Label a downscaled copy of big masks: labelling is the one full-frame cost, and a
    # box that is a few pixels too large only adds context.
    step = 8 if h * w > 1_000_000 else 1
    if step > 1:
        sw, sh = -(-w // step), -(-h // step)
        m8 = (cv2.resize(m8 * 255, (sw, sh), interpolation=cv2.INTER_AREA) > 0).astype(np.uint8)
        sx, sy = w / sw, h / sh
    else:
        sx = sy = 1.0
    n, _, stats, _ = cv2.connectedComponentsWithStats(m8, connectivity=8)
    boxes: list[list[int]] = []
    for i in range(1, n):
        x, y, bw, bh = (int(v) for v in stats[i, :4])
        bx0, by0 = int(np.floor(x * sx)) - step + 1, int(np.floor(y * sy)) - step + 1
        bx1, by1 = int(np.ceil((x + bw) * sx)) + step - 1, int(np.ceil((y + bh) * sy)) + step - 1
        boxes.append([max(bx0 - margin, 0), max(by0 - margin, 0), min(bx1 + margin, w), min(by1 + margin, h)])
    merged = True
    while merged and len(boxes) > 1:
        merged = False
        out: list[list[int]] = []
        for b in boxes:
            for o in out:
                if b[0] < o[2] and o[0] < b[2] and b[1] < o[3] and o[1] < b[3]:
                    o[:] = [min(o[0], b[0]), min(o[1], b[1]), max(o[2], b[2]), max(o[3], b[3])]
                    merged = True
                    break
            else:
                out.append(list(b))
        boxes = out
    return [(b[0], b[1], b[2], b[3]) for b in boxes]


def inpaint(
    image: Any,
    masks: Any,
    method: str = "telea",
    *,
    radius: int = 5,
    dilate: int = 3,
    feather: int = 0,
    crop: bool = True,
    margin: int | None = None,
    prompt: str = "",
    model: str = DEFAULT_DIFFUSERS_MODEL,
    device: str | None = None,
    seed: int = 0,
    steps: int = 30,
) -> np.ndarray:
    """Remove the masked pixels of ``image`` and fill them from their surroundings.

    Args:
        image: (H, W, 3) uint8 RGB, or anything :func:`~sam_compose.image_io.load_image` reads.
        masks: :class:`~sam_compose.masks.Masks`, or an (H, W) / (N, H, W) boolean array; the
            union of all rows is removed.
        method: ``"telea"`` (default), ``"ns"`` or ``"diffusers"``.
        radius: OpenCV's inpainting neighbourhood in pixels (1..100).
        dilate: grow the mask by this many pixels first (0 = exact mask).
        feather: a band this wide outside the dilated mask is filled too and blended into
            the original linearly, so no seam shows.
        crop: fill each region in its own crop (faster; same result up to rounding).
        margin: context around each region in a crop (default ``max(4 * radius, 16)``; at
            least ``radius + 1``), on top of ``dilate + feather``.
        prompt, model, device, seed, steps: for ``method="diffusers"`` only.

    Returns a new (H, W, 3) uint8 RGB image; the input is not modified. An empty mask
    returns an unchanged copy. Raises :class:`InputError` when the mask covers the whole
    image (there is nothing left to fill from).
    """
    img = load_image(image)
    h, w = img.shape[:2]
    meth = str(method).lower()
    if meth not in METHODS:
        raise InputError(f"unknown inpainting method {method!r}; choose one of {', '.join(METHODS)}")
    for name, val, lo, hi in (("radius", radius, 1, 100), ("dilate", dilate, 0, 500), ("feather", feather, 0, 500)):
        if not isinstance(val, (int, np.integer)) or not lo <= int(val) <= hi:
            raise InputError(f"{name} must be a whole number of pixels in {lo}..{hi}, got {val!r}")
    mask = _union_mask(masks, (h, w))
    if not mask.any():
        return img.copy()
    if mask.all():
        raise InputError("the masks cover the whole image, leaving no pixels to fill from; inpaint a smaller region")
    ctx = max(4 * int(radius), 16) if margin is None else max(int(margin), int(radius) + 1)
    grow = int(dilate) + int(feather)  # the feather band lies outside the dilated mask
    if meth == "diffusers":
        core = _dilate(mask, dilate)
        fill = _dilate(mask, grow)
        if fill.all():
            raise InputError(
                f"after growing by dilate + feather = {grow} pixels the masks cover the whole image; use smaller values"
            )
        filled = _inpaint_diffusers(
            img, fill, prompt=prompt, model=model, device=device, seed=seed, steps=steps, margin=margin
        )
        return _feather(img, filled, core, fill, int(feather)) if feather > 0 else filled
    flag = cv2.INPAINT_TELEA if meth == "telea" else cv2.INPAINT_NS
    filled = img.copy()
    # Regions come from the raw mask; each crop holds its region grown by dilate + feather plus context.
    regions = _regions(mask, ctx + grow) if crop else [(0, 0, w, h)]
    for x0, y0, x1, y1 in regions:
        sub_mask = mask[y0:y1, x0:x1]
        fill = _dilate(sub_mask, grow)
        if fill.all():
            raise InputError(
                f"after growing by dilate + feather = {grow} pixels the masks cover the whole image; use smaller values"
                if grow
                else "the masks cover the whole image, leaving no pixels to fill from"
            )
        sub_img = img[y0:y1, x0:x1]
        sub = cv2.inpaint(sub_img, fill.astype(np.uint8) * 255, float(radius), flag)
        if feather > 0:
            filled[y0:y1, x0:x1] = _feather(sub_img, sub, _dilate(sub_mask, dilate), fill, int(feather))
        else:
            filled[y0:y1, x0:x1][fill] = sub[fill]
    return filled


def _dilate(mask: np.ndarray, pixels: int) -> np.ndarray:
    if pixels <= 0:
        return mask
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * pixels + 1, 2 * pixels + 1))
    return cv2.dilate(mask.astype(np.uint8), k).astype(bool)


def _feather(original: np.ndarray, filled: np.ndarray, core: np.ndarray, fill: np.ndarray, feather: int) -> np.ndarray:
    """Blend ``filled`` into ``original``: fully replaced on ``core`` (the dilated mask), fading
    linearly to the original across the ``feather``-pixel band between ``core`` and the edge of
    ``fill``."""
    dist = cv2.distanceTransform(fill.astype(np.uint8), cv2.DIST_L2, 5)  # px to the nearest kept pixel
    alpha = np.clip(dist / float(feather + 1), 0.0, 1.0)
    alpha[core] = 1.0
    alpha = alpha[:, :, None]
    out = alpha * filled.astype(np.float32) + (1.0 - alpha) * original.astype(np.float32)
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def inpaint_frames(frames: Iterable[Any], masks: Iterable[Any] | None = None, **options: Any) -> Iterator[np.ndarray]:
    """Inpaint a video frame by frame, lazily: one output frame per input frame.

    Pass either an iterable of ``(frame, masks)`` pairs (e.g. ``zip(frames, track(...))``)
    or two iterables ``frames`` and ``masks`` of equal length. ``options`` go to
    :func:`inpaint`. Memory stays flat: nothing is kept between frames.
    """
    pairs: Iterable[Any] = frames if masks is None else _strict_zip(frames, masks)
    for i, item in enumerate(pairs):
        try:
            frame, m = item
        except (TypeError, ValueError) as exc:
            raise InputError(f"item {i} must be a (frame, masks) pair") from exc
        yield inpaint(frame, m, **options)


def _strict_zip(a: Iterable[Any], b: Iterable[Any]) -> Iterator[tuple[Any, Any]]:
    ia, ib = iter(a), iter(b)
    i = 0
    while True:
        x, y = next(ia, _END), next(ib, _END)
        if x is _END and y is _END:
            return
        if x is _END or y is _END:
            raise InputError(f"frames and masks have different lengths (one ran out after {i} items)")
        yield x, y
        i += 1


_END = object()


def _diffusers_pipeline(model: str, device: str | None) -> Any:
    """The diffusers inpainting pipeline for ``model``, loaded once per (model, device)."""
    dev = normalize_device(device)
    return shared_model(("diffusers", model, dev), lambda: _load_pipeline(model, dev))


def _load_pipeline(model: str, device: str) -> Any:
    diffusers = require("diffusers", feature="Stable Diffusion inpainting (method='diffusers')")
    offline = hub_offline()
    local = os.path.isdir(os.path.expanduser(model))
    if offline and not local:
        try:
            from huggingface_hub import try_to_load_from_cache

            cached = isinstance(try_to_load_from_cache(model, "model_index.json"), str)
        except Exception:  # invalid id
            cached = False
        if not cached:
            raise EngineError(
                f"inpainting model {model!r} is not in the local Hugging Face cache and offline mode is on; "
                f"run {download_hint(model)} on a machine with internet, or pass a local folder"
            )
    loader = getattr(diffusers, "AutoPipelineForInpainting", None) or diffusers.StableDiffusionInpaintPipeline
    try:
        pipe = loader.from_pretrained(os.path.expanduser(model) if local else model, local_files_only=offline)
    except (OSError, ValueError) as exc:
        raise EngineError(
            f"could not load inpainting model {model!r} ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__}); "
            f"run {download_hint(model)} on a machine with internet, or pass a local folder"
        ) from exc
    return pipe.to(device)


def _inpaint_diffusers(
    img: np.ndarray,
    mask: np.ndarray,
    *,
    prompt: str,
    model: str,
    device: str | None,
    seed: int,
    steps: int,
    margin: int | None,
) -> np.ndarray:
    """Fill each masked region's crop (resized to 512 px, a multiple of 8) with the pipeline."""
    from PIL import Image

    pipe = _diffusers_pipeline(model, device)
    h, w = mask.shape
    out = img.copy()
    for bx0, by0, bx1, by1 in _regions(mask, 32 if margin is None else int(margin)):
        # a square crop around the region, at least 256 px (or the image) so the model sees context
        side = min(max(bx1 - bx0, by1 - by0, 256), w, h)
        x0 = int(np.clip((bx0 + bx1) // 2 - side // 2, 0, w - side))
        y0 = int(np.clip((by0 + by1) // 2 - side // 2, 0, h - side))
        x1, y1 = x0 + side, y0 + side
        if bx1 - bx0 > side or by1 - by0 > side:  # a region longer than the short side: use its box
            x0, y0, x1, y1 = bx0, by0, bx1, by1
        crop, cmask = img[y0:y1, x0:x1], mask[y0:y1, x0:x1]
        size = 512
        im = Image.fromarray(crop).resize((size, size), Image.Resampling.LANCZOS)
        mk = Image.fromarray(cmask.astype(np.uint8) * 255).resize((size, size), Image.Resampling.NEAREST)
        generator = None
        try:
            import torch

            generator = torch.Generator(device="cpu").manual_seed(int(seed))
        except ImportError:  # pragma: no cover - torch is a dependency
            pass
        result = pipe(
            prompt=prompt or "background",
            image=im,
            mask_image=mk,
            num_inference_steps=int(steps),
            generator=generator,
            height=size,
            width=size,
        ).images[0]
        back = np.asarray(result.convert("RGB").resize((x1 - x0, y1 - y0), Image.Resampling.LANCZOS))
        out[y0:y1, x0:x1][cmask] = back[cmask]
    return out
