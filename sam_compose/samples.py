"""Sample images: the real photographs scikit-image ships, and synthetic scenes with known masks.

``load_image("sample:coffee")`` reads a scikit-image photograph by name; the names are
listed in :data:`SAMPLE_NAMES`. :func:`synthetic_scene` draws objects with exact masks,
for tests, benchmarks and demos.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .errors import ImageError

SAMPLE_NAMES: tuple[str, ...] = (
    "astronaut",
    "chelsea",
    "coffee",
    "rocket",
    "horse",
    "coins",
    "camera",
    "cat",
    "immunohistochemistry",
    "hubble_deep_field",
    "motorcycle_left",
    "motorcycle_right",
)


def sample_image(name: str) -> np.ndarray:
    """An (H, W, 3) uint8 RGB photograph from ``skimage.data`` by name (see SAMPLE_NAMES)."""
    from skimage import data  # a core dependency; imported here because it is slow to import

    key = name.strip().lower()
    if key not in SAMPLE_NAMES:
        raise ImageError(f"unknown sample image {name!r}; choose one of {', '.join(SAMPLE_NAMES)}")
    if key in ("motorcycle_left", "motorcycle_right"):
        left, right, _ = data.stereo_motorcycle()
        arr = left if key == "motorcycle_left" else right
    elif key == "horse":
        arr = (~data.horse()).astype(np.uint8) * 255
    else:
        arr = getattr(data, key)()
    arr = np.asarray(arr)
    if arr.dtype == bool:
        arr = arr.astype(np.uint8) * 255
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    return np.ascontiguousarray(arr[:, :, :3].astype(np.uint8))


@dataclass
class Scene:
    """A synthetic image with the exact mask of each object (``masks``: (N, H, W) bool)."""

    image: np.ndarray
    masks: np.ndarray
    boxes: np.ndarray
    names: list[str]

    def interior_point(self, i: int) -> tuple[float, float]:
        """(x, y) of the pixel deepest inside object ``i`` (largest distance to its edge)."""
        dist = cv2.distanceTransform(self.masks[i].astype(np.uint8), cv2.DIST_L2, 5)
        y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
        return float(x) + 0.5, float(y) + 0.5


def synthetic_scene(
    seed: int = 0,
    size: tuple[int, int] = (480, 640),
    n_objects: int = 3,
    background: np.ndarray | None = None,
    noise: float = 6.0,
) -> Scene:
    """Draw ``n_objects`` non-overlapping shapes (ellipse, rectangle, polygon) in distinct colours.

    The background is a smooth colour gradient with texture, or ``background`` (resized).
    Object masks are exact; the image gets Gaussian noise of std ``noise``.
    """
    rng = np.random.default_rng(seed)
    h, w = size
    if background is None:
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        base = rng.uniform(60, 200, size=3)
        grad = rng.uniform(-40, 40, size=(2, 3))
        img = base[None, None, :] + (xx[..., None] / w) * grad[0] + (yy[..., None] / h) * grad[1]
        texture = cv2.GaussianBlur(rng.normal(0, 18, size=(h, w)).astype(np.float32), (0, 0), 3)
        img = img + texture[..., None]
    else:
        img = cv2.resize(background, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32)
    occupied = np.zeros((h, w), bool)
    masks: list[np.ndarray] = []
    names: list[str] = []
    kinds = ["ellipse", "rectangle", "polygon"]
    tries = 0
    while len(masks) < n_objects and tries < 200:
        tries += 1
        kind = kinds[len(masks) % 3]
        m = np.zeros((h, w), np.uint8)
        cx, cy = rng.uniform(0.2, 0.8) * w, rng.uniform(0.2, 0.8) * h
        rx, ry = rng.uniform(0.07, 0.16) * w, rng.uniform(0.07, 0.16) * h
        if kind == "ellipse":
            cv2.ellipse(m, (int(cx), int(cy)), (int(rx), int(ry)), float(rng.uniform(0, 180)), 0, 360, 1, -1)
        elif kind == "rectangle":
            cv2.rectangle(m, (int(cx - rx), int(cy - ry)), (int(cx + rx), int(cy + ry)), 1, -1)
        else:
            ang = np.sort(rng.uniform(0, 2 * np.pi, 7))
            rad = rng.uniform(0.6, 1.0, 7)
            pts = np.stack([cx + rx * rad * np.cos(ang), cy + ry * rad * np.sin(ang)], 1).astype(np.int32)
            cv2.fillPoly(m, [pts], 1)
        mb = m.astype(bool)
        grown = cv2.dilate(m, np.ones((15, 15), np.uint8)).astype(bool)
        if (grown & occupied).any() or mb.sum() < 400:
            continue
        colour = rng.uniform(0, 255, size=3)
        bg_mean = img[mb].mean(axis=0)
        if np.abs(colour - bg_mean).sum() < 150:  # keep objects visibly distinct from what they cover
            colour = (bg_mean + 128) % 255
        shade = 1.0 + 0.15 * (np.mgrid[0:h, 0:w][0][mb] - cy) / max(ry, 1)
        img[mb] = colour[None, :] * shade[:, None]
        occupied |= mb
        masks.append(mb)
        names.append(kind)
    img = img + rng.normal(0, noise, size=img.shape)
    image = np.clip(img, 0, 255).astype(np.uint8)
    arr = np.stack(masks) if masks else np.zeros((0, h, w), bool)
    from .geometry import masks_to_boxes

    return Scene(image=image, masks=arr, boxes=masks_to_boxes(arr), names=names)
