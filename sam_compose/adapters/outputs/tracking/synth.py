"""Synthetic videos with exact per-frame masks, for tracking tests, benchmarks and demos.

:func:`synthetic_video` draws coloured shapes moving over a textured background and
returns every frame with the exact *visible* mask of every object (occluded pixels are
not part of an object). Scenarios:

* ``"motion"``: an ellipse moving right, a rectangle growing and shrinking, a polygon
  moving diagonally, and a static grey bar in front that partly hides them;
* ``"cross"``: two discs whose paths cross (the first passes in front of the second);
* ``"exit"``: a disc that leaves the frame on the right and comes back;
* ``"late"``: one disc from the start and a second that appears half-way through;
* ``"photo"``: real textures: an elliptical patch of scikit-image's cat photograph
  moving and growing over the coffee photograph while the camera pans;
* ``"post"``: a disc growing to twice its size while it passes behind a thin grey post.

Coordinates: pixels of the (H, W) frame; masks are (T, N, H, W) bool. Objects are
numbered 1..N (``ids``), matching the ids the tracker is initialised with.
:func:`synthetic_stream` yields an endless-style lazy stream for memory tests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import cv2
import numpy as np

from ....errors import InputError
from ....masks import Masks

SCENARIOS = ("motion", "cross", "exit", "late", "photo", "post")


@dataclass
class _Obj:
    kind: str  # "ellipse" | "rect" | "poly" | "disc"
    colour: tuple[int, int, int]
    centre: Callable[[float], tuple[float, float]]  # u in [0, 1] -> (x, y)
    radius: Callable[[float], tuple[float, float]]  # u -> (rx, ry)
    visible: Callable[[float], bool] = lambda u: True
    poly: np.ndarray | None = None  # unit polygon for kind "poly"


@dataclass
class SyntheticVideo:
    """Frames (T, H, W, 3) uint8 RGB and exact visible masks (T, N, H, W) bool."""

    frames: np.ndarray
    masks: np.ndarray
    names: list[str]
    ids: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.frames.shape[0])

    @property
    def size(self) -> tuple[int, int]:
        return int(self.frames.shape[1]), int(self.frames.shape[2])

    def masks_at(self, t: int, objects: list[int] | None = None) -> Masks:
        """Ground truth of frame ``t`` as :class:`Masks` with ``ids`` (objects: 0-based rows)."""
        rows = list(range(self.masks.shape[1])) if objects is None else list(objects)
        return Masks(self.masks[t, rows], ids=[self.ids[r] for r in rows], data={"adapter": "synthetic_video"})

    def first_visible(self, obj: int) -> int:
        """Index of the first frame where object row ``obj`` has pixels."""
        nz = np.flatnonzero(self.masks[:, obj].reshape(len(self), -1).any(axis=1))
        return int(nz[0]) if nz.size else -1


def _background(size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = rng.uniform(90, 150, size=3)
    img = (
        base[None, None, :]
        + (xx[..., None] / w) * rng.uniform(-30, 30, 3)
        + (yy[..., None] / h) * rng.uniform(-30, 30, 3)
    )
    tex = cv2.GaussianBlur(rng.normal(0, 30, size=(h, w, 3)).astype(np.float32), (0, 0), 1.5)
    return np.clip(img + tex, 0, 255).astype(np.float32)


def _draw(obj: _Obj, u: float, size: tuple[int, int]) -> np.ndarray:
    h, w = size
    m = np.zeros((h, w), np.uint8)
    if not obj.visible(u):
        return m.astype(bool)
    cx, cy = obj.centre(u)
    rx, ry = obj.radius(u)
    if obj.kind in ("ellipse", "disc"):
        cv2.ellipse(
            m, (int(round(cx)), int(round(cy))), (max(1, int(round(rx))), max(1, int(round(ry)))), 0, 0, 360, 1, -1
        )
    elif obj.kind == "rect":
        cv2.rectangle(m, (int(round(cx - rx)), int(round(cy - ry))), (int(round(cx + rx)), int(round(cy + ry))), 1, -1)
    else:
        if obj.poly is None:
            raise ValueError(f"a {obj.kind!r} object needs its unit polygon")
        pts = np.stack([cx + rx * obj.poly[:, 0], cy + ry * obj.poly[:, 1]], 1)
        cv2.fillPoly(m, [np.round(pts).astype(np.int32)], 1)
    return m.astype(bool)


def _scenario(
    kind: str, size: tuple[int, int], rng: np.random.Generator
) -> tuple[list[_Obj], list[str], np.ndarray | None]:
    h, w = size
    s = min(h, w)
    occluder = None
    if kind == "motion":
        ang = np.linspace(0, 2 * np.pi, 7, endpoint=False)
        poly = np.stack([np.cos(ang), np.sin(ang)], 1) * rng.uniform(0.75, 1.0, (7, 1))
        objs = [
            _Obj("ellipse", (220, 40, 40), lambda u: (w * (0.18 + 0.55 * u), h * 0.3), lambda u: (s * 0.13, s * 0.09)),
            _Obj(
                "rect",
                (40, 60, 220),
                lambda u: (w * 0.28, h * 0.72),
                lambda u: (s * (0.08 + 0.06 * np.sin(np.pi * u)), s * (0.07 + 0.05 * np.sin(np.pi * u))),
            ),
            _Obj(
                "poly",
                (240, 220, 40),
                lambda u: (w * (0.8 - 0.25 * u), h * (0.78 - 0.3 * u)),
                lambda u: (s * 0.11, s * 0.11),
                poly=poly,
            ),
        ]
        occluder = np.zeros((h, w), bool)
        occluder[:, int(w * 0.5) : int(w * 0.56)] = True
        return objs, ["ellipse", "rectangle", "polygon"], occluder
    if kind == "cross":
        objs = [
            _Obj(
                "disc",
                (230, 50, 50),
                lambda u: (w * (0.15 + 0.7 * u), h * (0.41 + 0.03 * u)),
                lambda u: (s * 0.12, s * 0.12),
            ),
            _Obj(
                "disc",
                (40, 80, 230),
                lambda u: (w * (0.85 - 0.7 * u), h * (0.59 - 0.03 * u)),
                lambda u: (s * 0.12, s * 0.12),
            ),
        ]
        return objs, ["front", "back"], None
    if kind == "exit":
        # out to the right for u in [0.3, 0.6], then back
        def cx(u: float) -> float:
            return w * (0.55 + 1.4 * (0.5 - abs(u - 0.5)) * 1.0)

        objs = [_Obj("disc", (230, 60, 200), lambda u: (cx(u), h * 0.5), lambda u: (s * 0.14, s * 0.14))]
        return objs, ["leaver"], None
    if kind == "late":
        objs = [
            _Obj("disc", (230, 60, 60), lambda u: (w * (0.2 + 0.3 * u), h * 0.35), lambda u: (s * 0.12, s * 0.12)),
            _Obj(
                "rect",
                (50, 200, 60),
                lambda u: (w * (0.7 - 0.1 * u), h * 0.7),
                lambda u: (s * 0.1, s * 0.08),
                visible=lambda u: u >= 0.5,
            ),
        ]
        return objs, ["early", "late"], None
    if kind == "post":
        objs = [
            _Obj(
                "disc",
                (225, 70, 50),
                lambda u: (w * (0.2 + 0.6 * u), h * 0.5),
                lambda u: (s * (0.12 + 0.12 * u), s * (0.12 + 0.12 * u)),
            )
        ]
        occluder = np.zeros((h, w), bool)
        occluder[:, int(w * 0.49) : int(w * 0.49) + max(3, int(w * 0.03))] = True
        return objs, ["grower"], occluder
    raise InputError(f"unknown synthetic video scenario {kind!r}; choose one of {', '.join(SCENARIOS)}")


def _render(
    objs: list[_Obj], bg: np.ndarray, occluder: np.ndarray | None, u: float, rng: np.random.Generator, noise: float
) -> tuple[np.ndarray, np.ndarray]:
    size = bg.shape[:2]
    img = bg.copy()
    drawn = [_draw(o, u, size) for o in objs]
    visible = [d.copy() for d in drawn]
    # draw back to front: object 0 is in front of object 1, ...
    for i in reversed(range(len(objs))):
        img[drawn[i]] = objs[i].colour
    for i in range(len(objs)):
        for j in range(i):
            visible[i] &= ~drawn[j]
    if occluder is not None:
        img[occluder] = (128, 128, 128)
        for v in visible:
            v &= ~occluder
    if noise > 0:
        img = img + rng.normal(0, noise, size=img.shape)
    return np.clip(img, 0, 255).astype(np.uint8), np.stack(visible) if visible else np.zeros((0, *size), bool)


def _photo_frames(n_frames: int, size: tuple[int, int]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    from ....samples import sample_image

    h, w = size
    pan_x, pan_y = int(0.25 * w), int(0.2 * h)
    bg = cv2.resize(sample_image("coffee"), (w + pan_x, h + pan_y), interpolation=cv2.INTER_AREA)
    side = max(8, int(0.25 * min(h, w) / 0.8 * 1.0))
    patch = cv2.resize(sample_image("chelsea")[40:260, 100:320], (side, side), interpolation=cv2.INTER_AREA)
    shape = np.zeros((side, side), np.uint8)
    cv2.ellipse(shape, (side // 2, side // 2), (int(side * 0.47), int(side * 0.4)), 0, 0, 360, 1, -1)
    for t in range(n_frames):
        u = t / (n_frames - 1)
        ox, oy = int(round(pan_x * u)), int(round(pan_y * 0.5 * np.sin(np.pi * u)))
        img = bg[oy : oy + h, ox : ox + w].copy()
        s = 0.8 + 0.4 * u
        o = cv2.resize(patch, None, fx=s, fy=s, interpolation=cv2.INTER_LINEAR)
        m = cv2.resize(shape, (o.shape[1], o.shape[0]), interpolation=cv2.INTER_NEAREST).astype(bool)
        cx, cy = int(w * (0.17 + 0.58 * u)), int(h * (0.33 + 0.14 * np.sin(2 * np.pi * u) + 0.17 * u))
        y0, x0 = cy - m.shape[0] // 2, cx - m.shape[1] // 2
        full = np.zeros((h, w), bool)
        full[y0 : y0 + m.shape[0], x0 : x0 + m.shape[1]] = m
        img[full] = o[m]
        yield img, full[None]


def _rendered(
    kind: str, n_frames: int, size: tuple[int, int], seed: int, noise: float
) -> tuple[list[str], Iterator[tuple[np.ndarray, np.ndarray]]]:
    """(object names, lazy (frame (H, W, 3), visible masks (N, H, W)) pairs) of scenario ``kind``."""
    if n_frames < 2:
        raise InputError(f"a synthetic video needs at least 2 frames, got {n_frames}")
    if kind == "photo":
        return ["cat"], _photo_frames(n_frames, size)
    rng = np.random.default_rng(seed)
    objs, names, occluder = _scenario(kind, size, rng)
    bg = _background(size, rng)

    def frames() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for t in range(n_frames):
            yield _render(objs, bg, occluder, t / (n_frames - 1), rng, noise)

    return names, frames()


def synthetic_video(
    kind: str = "motion", n_frames: int = 30, size: tuple[int, int] = (120, 160), seed: int = 0, noise: float = 3.0
) -> SyntheticVideo:
    """A short video of scenario ``kind`` (see the module docstring) with exact visible masks."""
    names, pairs = _rendered(kind, n_frames, size, seed, noise)
    frames, masks = zip(*pairs)
    return SyntheticVideo(np.stack(frames), np.stack(masks), names, ids=list(range(1, len(names) + 1)))


def synthetic_frames(
    kind: str = "motion", n_frames: int = 30, size: tuple[int, int] = (120, 160), seed: int = 0, noise: float = 3.0
) -> Iterator[np.ndarray]:
    """The frames of :func:`synthetic_video` (same arguments, same pixels), rendered one at a time."""
    _, pairs = _rendered(kind, n_frames, size, seed, noise)
    return (frame for frame, _ in pairs)


def synthetic_stream(
    n_frames: int, size: tuple[int, int] = (64, 64), seed: int = 0, period: int = 100
) -> Iterator[np.ndarray]:
    """Lazily yield ``n_frames`` frames of a disc circling over a textured background.

    One frame exists at a time, so streams of any length use constant memory. The disc
    (object 1) starts at ``disc_mask_at(0, size, period)``.
    """
    rng = np.random.default_rng(seed)
    bg = _background(size, rng).astype(np.uint8)
    for t in range(n_frames):
        img = bg.copy()
        img[disc_mask_at(t, size, period)] = (230, 50, 50)
        yield img


def disc_mask_at(t: int, size: tuple[int, int], period: int = 100) -> np.ndarray:
    """(H, W) bool mask of :func:`synthetic_stream`'s disc at frame ``t``."""
    h, w = size
    a = 2 * np.pi * (t % period) / period
    cx, cy = w * (0.5 + 0.22 * np.cos(a)), h * (0.5 + 0.22 * np.sin(a))
    m = np.zeros((h, w), np.uint8)
    cv2.circle(m, (int(round(cx)), int(round(cy))), max(2, int(min(h, w) * 0.15)), 1, -1)
    return m.astype(bool)
