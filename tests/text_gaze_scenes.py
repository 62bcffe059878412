"""Synthetic scenes for the text x gaze fusion tests, with a deterministic colour scorer.

Each scene is an image with objects of known kind and exact masks; the scorer plays CLIP:
a phrase's similarity to a crop grows with the share of the crop's pixels that have the
colour of the phrase's kind (neutral phrases score a constant), so which candidate matches
which words is known in advance.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

KIND_COLOURS = {
    "mug": (220, 40, 40),
    "cup": (220, 40, 40),
    "box": (40, 60, 220),
    "person": (40, 170, 60),
    "shirt": (235, 215, 40),
}
PHRASE_COLOURS = {k: [v] for k, v in KIND_COLOURS.items()}
PHRASE_COLOURS["person"] = [KIND_COLOURS["person"], KIND_COLOURS["shirt"]]  # a person includes the shirt
NEUTRAL = 0.2
GREY = (124, 116, 104)  # sam_compose.adapters.prompts.text.GREY: the fill outside a region's mask


@dataclass
class FusionScene:
    image: np.ndarray
    masks: dict[str, np.ndarray] = field(default_factory=dict)  # name -> (H, W) bool
    kinds: dict[str, str] = field(default_factory=dict)  # name -> kind

    def centre(self, name: str) -> tuple[float, float]:
        m = self.masks[name].astype(np.uint8)
        d = cv2.distanceTransform(np.pad(m, 1), cv2.DIST_L2, 5)[1:-1, 1:-1]
        y, x = np.unravel_index(int(np.argmax(d)), d.shape)
        return float(x), float(y)


def _canvas(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([120 + 30 * xx / w, 125 + 20 * yy / h, 118 + 10 * (xx + yy) / (w + h)], -1)
    img += cv2.GaussianBlur(rng.normal(0, 10, (h, w)).astype(np.float32), (0, 0), 2)[..., None]
    return img


def _finish(img: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed + 1)
    return np.clip(img + rng.normal(0, 3, img.shape), 0, 255).astype(np.uint8)


def _disc(img: np.ndarray, centre: tuple[int, int], r: int, colour: tuple[int, int, int]) -> np.ndarray:
    m = np.zeros(img.shape[:2], np.uint8)
    cv2.circle(m, centre, r, 1, -1)
    img[m > 0] = colour
    return m > 0


def _rect(img: np.ndarray, x0: int, y0: int, x1: int, y1: int, colour: tuple[int, int, int]) -> np.ndarray:
    m = np.zeros(img.shape[:2], bool)
    m[y0:y1, x0:x1] = True
    img[m] = colour
    return m


def two_mugs_and_a_box(seed: int = 0) -> FusionScene:
    """Two mugs (red discs) and a box (blue square)."""
    img = _canvas(240, 320, seed)
    s = FusionScene(img)
    s.masks["mug_left"] = _disc(img, (70, 120), 34, KIND_COLOURS["mug"])
    s.masks["mug_right"] = _disc(img, (250, 80), 30, KIND_COLOURS["mug"])
    s.masks["box"] = _rect(img, 190, 150, 270, 220, KIND_COLOURS["box"])
    s.kinds = {"mug_left": "mug", "mug_right": "mug", "box": "box"}
    s.image = _finish(img, seed)
    return s


def person_with_shirt(seed: int = 0) -> FusionScene:
    """A person (green body) wearing a shirt (yellow, inside the body), and a box."""
    img = _canvas(240, 320, seed)
    s = FusionScene(img)
    body = _rect(img, 100, 30, 200, 220, KIND_COLOURS["person"])
    shirt = _rect(img, 120, 80, 180, 150, KIND_COLOURS["shirt"])
    s.masks["person"] = body  # the whole, shirt included
    s.masks["shirt"] = shirt
    s.masks["box"] = _rect(img, 240, 60, 300, 120, KIND_COLOURS["box"])
    s.kinds = {"person": "person", "shirt": "shirt", "box": "box"}
    s.image = _finish(img, seed)
    return s


def fixation_trace(
    targets: list[tuple[float, float, float]], rate: float = 200.0, noise: float = 1.0, seed: int = 0
) -> np.ndarray:
    """(N, 3) ``[t, x, y]`` samples (seconds, image px) resting ``d`` s on each (x, y, d) target."""
    rng = np.random.default_rng(seed)
    rows, t = [], 0.0
    prev = None
    for x, y, d in targets:
        if prev is not None:
            for k in range(1, 9):  # 40 ms saccade
                a = k / 9
                rows.append((t, prev[0] + a * (x - prev[0]), prev[1] + a * (y - prev[1])))
                t += 1 / rate
        for _ in range(round(d * rate)):
            rows.append((t, x + rng.normal(0, noise), y + rng.normal(0, noise)))
            t += 1 / rate
        prev = (x, y)
    return np.asarray(rows)


class ColourKindScorer:
    """``scorer(crops, phrases) -> (N, P)``: 0.15 + 0.25 x (share of the crop's coloured pixels whose hue is
    the phrase's kind: grey fill, grey canvas and blurred greys are left out, so it works with every
    ``background``); neutral phrases score 0.2, unknown words 0.1. ``logit_scale`` 100 as CLIP."""

    logit_scale = 100.0

    def __init__(self) -> None:
        self.calls: list[tuple[int, list[str]]] = []

    @staticmethod
    def _hue(rgb) -> float:
        hsv = cv2.cvtColor(np.uint8([[list(rgb)]]), cv2.COLOR_RGB2HSV)[0, 0]
        return float(hsv[0])

    @classmethod
    def share(cls, crop: np.ndarray, colours: list[tuple[int, int, int]]) -> float:
        hsv = cv2.cvtColor(crop, cv2.COLOR_RGB2HSV).astype(np.int16)
        coloured = hsv[..., 1] > 90
        if not coloured.any():
            return 0.0
        hit = np.zeros(coloured.shape, bool)
        for colour in colours:
            dh = np.abs(hsv[..., 0] - cls._hue(colour))
            hit |= np.minimum(dh, 180 - dh) <= 12
        return float(np.mean(hit[coloured]))

    def __call__(self, crops, phrases):
        self.calls.append((len(crops), list(phrases)))
        out = np.zeros((len(crops), len(phrases)))
        for j, p in enumerate(phrases):
            key = p.lower().replace("the ", "").replace("a ", "").strip()
            if p in ("an object", "a thing", "the background"):
                out[:, j] = NEUTRAL
            elif key in PHRASE_COLOURS:
                out[:, j] = [0.15 + 0.25 * self.share(c, PHRASE_COLOURS[key]) for c in crops]
            else:
                out[:, j] = 0.1
        return out
