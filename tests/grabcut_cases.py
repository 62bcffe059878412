"""Evaluation cases for the OpenCV engine: objects with known masks on real photographs.

Each case pastes one object onto a photograph that scikit-image ships (astronaut,
chelsea, coffee, rocket). Object shapes are the horse silhouette from ``skimage.data``,
ellipses, star-like polygons and smooth blobs; each is filled with texture cut from a
*different* photograph, composited with an anti-aliased edge and light noise, so both the
object and its surroundings are real image texture. The ground-truth mask is exact.

Used by tests/test_opencv_engine.py (ours must beat plain ``cv2.grabCut`` from the same
box) and by benchmarks/bench_opencv.py. Needs scikit-image (a test dependency).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from sam_compose.errors import require
from sam_compose.geometry import masks_to_boxes
from sam_compose.samples import sample_image

BACKGROUNDS = ("astronaut", "chelsea", "coffee", "rocket")
TEXTURES = ("chelsea", "coffee", "astronaut", "rocket", "coins", "immunohistochemistry")
SHAPES = ("horse", "ellipse", "star", "blob")


@dataclass
class PastedCase:
    """One test image: ``image`` (H, W, 3) uint8, exact ``mask`` (H, W) bool, user ``box`` xyxy."""

    name: str
    image: np.ndarray
    mask: np.ndarray
    box: np.ndarray


def _shape_mask(kind: str, h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """A (h, w) bool object shape filling most of its box."""
    m = np.zeros((h, w), np.uint8)
    if kind == "horse":
        data = require("skimage.data", "scikit-image", "the OpenCV evaluation cases")
        horse = (~data.horse()).astype(np.uint8)
        ys, xs = np.nonzero(horse)
        horse = horse[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
        if rng.random() < 0.5:
            horse = horse[:, ::-1]
        return cv2.resize(horse * 255, (w, h), interpolation=cv2.INTER_LINEAR) > 127
    if kind == "ellipse":
        cv2.ellipse(m, (w // 2, h // 2), (int(w * 0.48), int(h * 0.48)), 0, 0, 360, 1, -1)
    elif kind == "star":
        n = 7
        ang = np.linspace(0, 2 * np.pi, 2 * n, endpoint=False) + rng.uniform(0, np.pi)
        rad = np.where(np.arange(2 * n) % 2 == 0, 0.48, rng.uniform(0.22, 0.32))
        pts = np.stack([w / 2 + rad * w * np.cos(ang), h / 2 + rad * h * np.sin(ang)], 1)
        cv2.fillPoly(m, [pts.astype(np.int32)], 1)
    else:  # blob
        noise = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), min(h, w) / 8)
        yy, xx = np.mgrid[0:h, 0:w]
        bowl = ((xx - w / 2) / (w / 2)) ** 2 + ((yy - h / 2) / (h / 2)) ** 2
        field = noise / (np.abs(noise).max() + 1e-6) * 0.6 - bowl + 0.55
        m = (field > 0).astype(np.uint8)
        n, lab, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=4)
        if n > 1:
            m = (lab == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))).astype(np.uint8)
    return m.astype(bool)


def _texture(name: str, h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    src = sample_image(name)
    if name == "coins":  # grayscale: tint it so it is a plausible coloured object
        tint = rng.uniform(0.6, 1.2, size=3)
        src = np.clip(src.astype(np.float32) * tint, 0, 255).astype(np.uint8)
    sh, sw = src.shape[:2]
    if sh < h or sw < w:
        f = max(h / sh, w / sw) * 1.05
        src = cv2.resize(src, (int(sw * f) + 1, int(sh * f) + 1))
        sh, sw = src.shape[:2]
    y = int(rng.integers(0, sh - h + 1))
    x = int(rng.integers(0, sw - w + 1))
    return src[y : y + h, x : x + w]


def pasted_cases(n_per_background: int = 3, seed: int = 0, box_jitter: float = 0.04) -> list[PastedCase]:
    """``n_per_background`` cases on each photograph in :data:`BACKGROUNDS`, deterministic in ``seed``.

    The box is the object's bounding box grown by a random 0..``box_jitter`` of its size on
    each side, like a box a person would draw.
    """
    rng = np.random.default_rng(seed)
    out: list[PastedCase] = []
    k = 0
    for bg_name in BACKGROUNDS:
        bg = sample_image(bg_name)
        H, W = bg.shape[:2]
        for j in range(n_per_background):
            kind = SHAPES[k % len(SHAPES)]
            tex_name = [t for t in TEXTURES if t != bg_name][(k * 2 + j) % (len(TEXTURES) - 1)]
            k += 1
            side = rng.uniform(0.3, 0.5) * min(H, W)
            aspect = rng.uniform(0.7, 1.4)
            oh, ow = int(side / np.sqrt(aspect)), int(side * np.sqrt(aspect))
            shape = _shape_mask(kind, oh, ow, rng)
            y0 = int(rng.integers(4, H - oh - 4))
            x0 = int(rng.integers(4, W - ow - 4))
            mask = np.zeros((H, W), bool)
            mask[y0 : y0 + oh, x0 : x0 + ow] = shape
            alpha = cv2.GaussianBlur(mask.astype(np.float32), (3, 3), 0.7)[..., None]
            tex = np.zeros((H, W, 3), np.float32)
            tex[y0 : y0 + oh, x0 : x0 + ow] = _texture(tex_name, oh, ow, rng)
            img = bg.astype(np.float32) * (1 - alpha) + tex * alpha + rng.normal(0, 2.0, size=bg.shape)
            image = np.clip(img, 0, 255).astype(np.uint8)
            box = masks_to_boxes(mask[None])[0].astype(np.float64)
            bw, bh = box[2] - box[0], box[3] - box[1]
            grow = rng.uniform(0, box_jitter, size=4) * np.array([bw, bh, bw, bh])
            box = box + np.array([-1, -1, 1, 1]) * grow
            box = np.clip(box, 0, [W, H, W, H]).round()
            out.append(PastedCase(f"{kind}-{tex_name}-on-{bg_name}", image, mask, box))
    return out


def plain_grabcut(image: np.ndarray, box: np.ndarray, iterations: int = 5) -> np.ndarray:
    """The baseline: ``cv2.grabCut`` in rect mode on the whole image, (H, W) bool."""
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    gc = np.zeros(image.shape[:2], np.uint8)
    bgd = np.zeros((1, 65), np.float64)
    fgd = np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(0)
    try:
        cv2.grabCut(
            np.ascontiguousarray(image),
            gc,
            (x0, y0, x1 - x0, y1 - y0),
            bgd,
            fgd,
            int(iterations),
            cv2.GC_INIT_WITH_RECT,
        )
    except cv2.error:
        return np.zeros(image.shape[:2], bool)
    return (gc == cv2.GC_FGD) | (gc == cv2.GC_PR_FGD)
