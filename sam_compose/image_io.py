"""Reading images: the one place that converts to the project's image convention.

Images are ``np.ndarray`` of shape (H, W, 3), dtype ``uint8``, RGB. :func:`load_image`
accepts a path, a PIL image or an array and converts grayscale, RGBA, 16-bit and float
images; anything else gets an :class:`~sam_compose.errors.ImageError` saying what to do.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ImageError, ImageLimitError
from .security import limits
from .security.paths import check_regular_file

ImageLike = str | os.PathLike | np.ndarray | Any  # Any: a PIL.Image.Image

MIN_SIDE = 8
"""Smaller images carry no object worth segmenting; they are refused."""

DEFAULT_MAX_PIXELS = limits.LIMITS["pixels"].default
"""Largest image accepted (64 megapixels, e.g. 8000 x 8000). Override with
``SAM_COMPOSE_MAX_PIXELS`` or the ``max_pixels`` argument (see :mod:`sam_compose.security.limits`)."""


def max_pixels() -> int:
    """The pixel limit in force: ``SAM_COMPOSE_MAX_PIXELS`` or :data:`DEFAULT_MAX_PIXELS`."""
    return limits.get("pixels")


def check_image_size(
    height: int, width: int, limit: int | None = None, what: str = "image", limit_name: str = "pixels"
) -> None:
    """Refuse images too small to segment, too large to hold, or too thin (aspect ratio).

    Called with the header's size before any pixel is decoded. ``limit_name`` is the
    pixel limit to apply (``"pixels"`` for images and frames, ``"mask_pixels"`` for masks).
    """
    if height < MIN_SIDE or width < MIN_SIDE:
        raise ImageError(f"{what} is {width}x{height} pixels; sam-compose needs at least {MIN_SIDE}x{MIN_SIDE}")
    name = f"{what} ({width}x{height})"
    bound = limits.get(limit_name) if limit is None else int(limit)
    if height * width > bound:
        raise ImageLimitError(
            f"{name} is {height * width / 1e6:.0f} MP, over the limit of {bound / 1e6:.0f} MP; downscale it "
            f"first or raise {limits.env_name(limit_name)}",
            limit_name,
            limits.env_name(limit_name),
        )
    ratio = max(height, width) / min(height, width)
    aspect = limits.get("aspect")
    if ratio > aspect:
        raise ImageLimitError(
            f"{name} is {ratio:.0f}:1, thinner than the limit of {aspect}:1; crop it into pieces "
            f"or raise SAM_COMPOSE_MAX_ASPECT",
            "aspect",
            limits.env_name("aspect"),
        )


def allow_pillow(pixels: int) -> None:
    """Let Pillow open images up to ``pixels`` (its own bomb check stays for anything larger).

    Raised once, never lowered or restored (a process-wide setting: no thread may see it
    change under it).
    """
    from PIL import Image

    global _PILLOW_CONFIGURED
    if not _PILLOW_CONFIGURED:
        # sam_compose checks every header against its own, stricter limit first; Pillow's
        # warning (between its limit and twice it) would only repeat that as a second line.
        warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
        _PILLOW_CONFIGURED = True
    current = Image.MAX_IMAGE_PIXELS
    if current is not None and current < pixels:
        Image.MAX_IMAGE_PIXELS = int(pixels)


_PILLOW_CONFIGURED = False


def bomb_error(exc: Exception, what: str, limit_name: str = "pixels") -> ImageLimitError:
    """Our limit error for Pillow's ``DecompressionBombError`` (raised from the header, before decoding)."""
    import re

    m = re.search(r"\((\d+) pixels\)", str(exc))
    pixels = int(m.group(1)) if m else 0
    bound = limits.get(limit_name)
    return ImageLimitError(
        f"{what} is {pixels / 1e6:.0f} MP, over the limit of {bound / 1e6:.0f} MP; "
        f"downscale it first or raise {limits.env_name(limit_name)}",
        limit_name,
        limits.env_name(limit_name),
    )


def load_image(source: ImageLike, *, max_pixels: int | None = None) -> np.ndarray:
    """Load ``source`` as an (H, W, 3) uint8 RGB array.

    ``source`` may be a path (anything Pillow reads), ``"sample:NAME"`` for a photograph
    that scikit-image ships (see :mod:`sam_compose.samples`), a ``PIL.Image.Image`` or an array:
    (H, W) grayscale, (H, W, 1), (H, W, 3) RGB or (H, W, 4) RGBA; uint8, uint16 (scaled by
    1/257), bool, or float in [0, 1]. RGBA is composited onto white. Arrays are not copied
    when they already follow the convention.

    Raises :class:`ImageError` for a missing or unreadable file, a truncated image, an
    image under 8x8 pixels or over the pixel limit (see :func:`max_pixels`).
    """
    if isinstance(source, str) and source.startswith("sample:"):
        from .samples import sample_image

        return _normalise_array(sample_image(source[len("sample:") :]), source, max_pixels)
    if isinstance(source, (str, os.PathLike)):
        return _load_path(Path(source), max_pixels)
    if isinstance(source, np.ndarray):
        return _normalise_array(source, "image array", max_pixels)
    from PIL import Image

    if isinstance(source, Image.Image):
        check_image_size(source.height, source.width, max_pixels)
        return _from_pil(source, "PIL image", max_pixels)
    raise ImageError(
        f"cannot read an image from a {type(source).__name__}; pass a file path, a PIL image "
        "or an (H, W, 3) uint8 array"
    )


def _load_path(path: Path, limit: int | None) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    if not path.exists():
        raise ImageError(f"image file not found: {path}")
    if path.is_dir():
        raise ImageError(f"{path} is a folder, not an image file")
    check_regular_file(path, "image")  # a FIFO or device would block the reader forever
    allow_pillow(max(limit or 0, max_pixels()))
    try:
        # Image.open reads the header only: check_image_size refuses a bomb before a
        # single pixel is decoded.
        with Image.open(path) as im:
            check_image_size(im.height, im.width, limit, what=f"image {path.name}")
            im.load()
            return _from_pil(im, f"image {path.name}", limit)
    except Image.DecompressionBombError as exc:
        raise bomb_error(exc, f"image {path.name}", "pixels") from None
    except UnidentifiedImageError as exc:
        raise ImageError(f"{path} is not an image Pillow can read (PNG, JPEG, TIFF, BMP, WebP, ...)") from exc
    except ImageError:
        raise
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"could not decode {path}: {exc} (is the file truncated or corrupt?)") from exc


def _from_pil(im: Any, what: str, limit: int | None) -> np.ndarray:
    mode = im.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(im)
        if arr.dtype != np.uint16:
            arr = np.clip(arr, 0, 65535).astype(np.uint16)
        return _normalise_array(arr, what, limit)
    if mode == "F":
        return _normalise_array(np.asarray(im, dtype=np.float32), what, limit)
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in im.info):
        return _normalise_array(np.asarray(im.convert("RGBA")), what, limit)
    if mode != "RGB":
        im = im.convert("RGB")
    return _normalise_array(np.asarray(im), what, limit)


def _normalise_array(arr: np.ndarray, what: str, limit: int | None) -> np.ndarray:
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
        raise ImageError(f"{what} has shape {arr.shape}; expected (H, W), (H, W, 3) or (H, W, 4)")
    check_image_size(arr.shape[0], arr.shape[1], limit, what=what)
    arr = _to_uint8(arr, what)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    elif arr.shape[2] == 4:
        alpha = arr[:, :, 3:4].astype(np.float32) / 255.0
        rgb = arr[:, :, :3].astype(np.float32)
        arr = np.round(rgb * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)
    return np.ascontiguousarray(arr)


def _to_uint8(arr: np.ndarray, what: str) -> np.ndarray:
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == bool:
        return arr.astype(np.uint8) * 255
    if arr.dtype == np.uint16:
        return (arr.astype(np.uint32) // 257).astype(np.uint8)
    if np.issubdtype(arr.dtype, np.floating):
        if not np.isfinite(arr).all():
            raise ImageError(f"{what} contains NaN or infinite values")
        lo, hi = float(arr.min()), float(arr.max())
        if lo < 0.0 or hi > 1.0:
            raise ImageError(
                f"{what} is float with values in [{lo:.3g}, {hi:.3g}]; float images must be in [0, 1] "
                "(or pass uint8 in [0, 255])"
            )
        return np.round(arr * 255.0).astype(np.uint8)
    if np.issubdtype(arr.dtype, np.integer):
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi > 255:
            raise ImageError(f"{what} has integer dtype {arr.dtype} with values in [{lo}, {hi}]; expected 0..255")
        return arr.astype(np.uint8)
    raise ImageError(f"{what} has unsupported dtype {arr.dtype}; use uint8, uint16 or float in [0, 1]")


def save_png(path: str | os.PathLike, array: np.ndarray) -> Path:
    """Write an (H, W) or (H, W, 3) uint8 array as PNG (RGB order), creating parent folders."""
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.ascontiguousarray(array)).save(path)
    return path
