"""The working image and its over-segmentation into superpixels.

Everything prompt-independent starts here: the photograph is resized so its longest side
is at most ``work_size`` (bounded time and memory for any input size), converted to Lab,
and over-segmented with SLIC (Achanta et al., TPAMI 2012; ``skimage.segmentation.slic``)
into compact regions that follow colour edges. Later stages work on these regions instead
of pixels, which is what makes a prompt cost milliseconds.

Label maps are (h, w) int32 at the working resolution, ids ``0..n-1`` with every id used
and every region 4-connected.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

MIN_SUPERPIXELS = 1200


@dataclass(frozen=True)
class WorkingImage:
    """The image at the working resolution.

    Attributes:
        rgb: (h, w, 3) uint8, the original resized with area interpolation.
        lab: (h, w, 3) float32 CIE Lab (L in 0..100, a and b about -128..127).
        scale: (sy, sx) working pixels per original pixel along y and x.
        image_size: (H, W) of the original.
    """

    rgb: np.ndarray
    lab: np.ndarray
    scale: tuple[float, float]
    image_size: tuple[int, int]

    @property
    def size(self) -> tuple[int, int]:
        """(h, w) of the working image."""
        return int(self.rgb.shape[0]), int(self.rgb.shape[1])

    def to_work(self, points: np.ndarray) -> np.ndarray:
        """(K, 2) original (x, y) -> continuous working (x, y)."""
        p = np.asarray(points, np.float64).reshape(-1, 2)
        return p * np.array([self.scale[1], self.scale[0]])

    def box_to_work(self, box: np.ndarray) -> np.ndarray:
        """(4,) original xyxy -> working xyxy."""
        return self.to_work(np.asarray(box, np.float64).reshape(2, 2)).reshape(4)


def working_image(image: np.ndarray, work_size: int) -> WorkingImage:
    """``image`` (H, W, 3) uint8 resized so its longest side is at most ``work_size``."""
    H, W = image.shape[:2]
    s = min(1.0, work_size / max(H, W))
    w, h = max(1, round(W * s)), max(1, round(H * s))
    rgb = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA) if (h, w) != (H, W) else np.ascontiguousarray(image)
    lab = cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    return WorkingImage(rgb, lab, (h / H, w / W), (int(H), int(W)))


def superpixels(
    lab: np.ndarray, region_px: float = 200.0, compactness: float = 12.0, iterations: int = 4
) -> np.ndarray:
    """SLIC superpixels of a Lab image (h, w, 3) float32: (h, w) int32 labels ``0..n-1``.

    ``region_px`` is the target area of one superpixel in working pixels; the number of
    superpixels follows the image area, so detail per pixel is the same at any size, but
    small images get at least ``MIN_SUPERPIXELS`` (of at least 16 pixels) so their objects
    are not a handful of regions.
    """
    h, w = lab.shape[:2]
    n_target = max(1, round(h * w / max(region_px, 1.0)), min(MIN_SUPERPIXELS, h * w // 16))
    if n_target < 4 or min(h, w) < 4:
        return np.zeros((h, w), np.int32)
    from skimage.segmentation import slic  # core dependency; imported on first use (slow import)

    # slic rescales its input to [0, 1]; scale the compactness with it so it stays in Lab units
    spread = float(lab.max() - lab.min()) or 1.0
    labels = slic(
        lab,
        n_segments=n_target,
        compactness=compactness / spread,
        max_num_iter=iterations,
        convert2lab=False,
        enforce_connectivity=True,
        start_label=0,
        min_size_factor=0.3,
        max_size_factor=3.0,
    )
    return compact_labels(labels)


def compact_labels(labels: np.ndarray) -> np.ndarray:
    """Renumber a label map so ids are ``0..n-1`` with none unused (order kept)."""
    flat = labels.ravel()
    used = np.zeros(int(flat.max()) + 1, bool)
    used[flat] = True
    remap = np.cumsum(used, dtype=np.int64) - 1
    return remap[labels].astype(np.int32)
