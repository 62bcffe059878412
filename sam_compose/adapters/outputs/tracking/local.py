"""One object's re-segmentation in a window of the frame, at a resolution that fits it.

A small object in a large frame has few pixels at the frame's working resolution; a large
one needs none of the frame's full detail. :func:`cut_object` takes a window around the
object (its carried mask and predicted box, grown), reduces it to at most ``max_side``
pixels (never enlarges it), builds that window's superpixels and region graph
(:func:`sam_compose.engines.opencv.propagate.frame_structure`) and cuts the object out with
its appearance models and the carried mask as a prior
(:func:`sam_compose.engines.opencv.propagate.cut_with_prior`); the mask is refined at the
boundary and pasted back at the tracker's resolution.

Boxes are x0, y0, x1, y1 in the tracker's frame pixels; masks (H, W) bool at that size.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ....engines.opencv.propagate import coverage, cut_with_prior, frame_structure, selection_iou, window_regions
from ....engines.opencv.refine import refine_boundary
from ....engines.opencv.structure import ImageStructure
from .appearance import Appearance

PRIOR_WEIGHT = 2.0  # nats per pixel for disagreeing with the carried mask where the flow is trusted
UNTRUSTED_BACKGROUND = 0.25  # share of the prior's weight kept where the flow fails on background
GAP = 1.0  # pieces this many superpixel sides from the object's body count as the object
MIN_PIECE = 0.2  # detached pieces under this share of the largest are dropped
MOTION = 3.0  # nats per pixel for moving like the background rather than like the object ...
MOTION_MIN = 1.5  # ... when their motions differ by at least this many pixels
DISTANCE = 1.0  # nats per pixel for being the object far from the carried mask ...
REACH = 0.5  # ... where "far" is this share of the carried mask's equivalent side


@dataclass
class Window:
    """A crop ``[y0:y1, x0:x1]`` of the frame processed at ``scale`` (crop px per frame px)."""

    x0: int
    y0: int
    x1: int
    y1: int
    scale: float

    @classmethod
    def around(cls, box: np.ndarray, size: tuple[int, int], max_side: int) -> Window:
        h, w = size
        x0, y0 = int(np.clip(np.floor(box[0]), 0, w - 1)), int(np.clip(np.floor(box[1]), 0, h - 1))
        x1, y1 = int(np.clip(np.ceil(box[2]), x0 + 1, w)), int(np.clip(np.ceil(box[3]), y0 + 1, h))
        return cls(x0, y0, x1, y1, min(1.0, max_side / max(x1 - x0, y1 - y0)))

    def crop(self, image: np.ndarray, interpolation: int = cv2.INTER_AREA) -> np.ndarray:
        part = np.ascontiguousarray(image[self.y0 : self.y1, self.x0 : self.x1])
        if self.scale >= 1.0:
            return part
        size = (max(1, round((self.x1 - self.x0) * self.scale)), max(1, round((self.y1 - self.y0) * self.scale)))
        return cv2.resize(part, size, interpolation=interpolation)

    def box_in_crop(self, box: np.ndarray) -> np.ndarray:
        return (np.asarray(box, np.float64) - [self.x0, self.y0, self.x0, self.y0]) * self.scale

    def paste(self, small: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """A crop-resolution (h, w) bool mask back into an (H, W) frame mask."""
        out = np.zeros(size, bool)
        ww, hh = self.x1 - self.x0, self.y1 - self.y0
        if small.shape != (hh, ww):
            small = cv2.resize(small.astype(np.float32), (ww, hh), interpolation=cv2.INTER_LINEAR) >= 0.5
        out[self.y0 : self.y1, self.x0 : self.x1] = small
        return out


@dataclass
class LocalCut:
    """The object found in one window: its frame mask and what the tracker judges it by."""

    mask: np.ndarray  # (H, W) bool
    agreement: float  # area-weighted IoU of the cut with the carried mask
    structure: ImageStructure
    selection: np.ndarray  # (n,) bool over the window's superpixels
    around: np.ndarray  # (n,) bool: the window's superpixels not in the object
    window_scale: float = 1.0  # window pixels per frame pixel
    core: np.ndarray | None = None  # (n,) bool: in the object and carried there by a trusted flow

    def teach(self, app: Appearance) -> None:
        """Update ``app`` from this window: the object's core against the surroundings the
        flow also calls background (what both agree on cannot teach the model a mistake)."""
        core = self.selection if self.core is None else self.core
        if core.any():
            app.update(self.structure, core, self.around)


def cut_object(
    frame: np.ndarray,
    soft: np.ndarray,
    app: Appearance,
    box: np.ndarray,
    expected: np.ndarray | None,
    max_side: int,
    region_px: float,
    trust: np.ndarray | None = None,
    motion: np.ndarray | None = None,
) -> LocalCut:
    """Cut one object out of ``frame`` (H, W, 3) uint8 inside ``box``.

    ``soft`` (H, W) float32 is the carried mask; ``trust`` (H, W) float32 in [0, 1] where
    the flow that carried it can be believed (default everywhere): the prior speaks only
    there, elsewhere colours and edges decide. ``expected`` is the box where the whole object
    should be (pieces of the cut inside it are kept even where nothing was carried).
    ``motion`` (H, W, 2) float32 is this frame's flow (displacement from the previous frame):
    where the object and its surroundings move differently, a region moving like the
    surroundings costs more as the object (:func:`motion_costs`).
    """
    size = frame.shape[:2]
    win = Window.around(box, size, max_side)
    s = frame_structure(win.crop(frame), max_side, region_px)
    crop_soft = win.crop(soft, cv2.INTER_AREA)
    if trust is None:
        prior, weight = coverage(s, crop_soft), np.ones(s.n)
    else:
        crop_trust = win.crop(trust, cv2.INTER_AREA)
        # where the flow is not trusted a pixel whose source was background still leans to
        # background (weakly); one whose source was the object is left to colours and edges
        lean = (1.0 - crop_trust) * (crop_soft < 0.5) * UNTRUSTED_BACKGROUND
        weight = coverage(s, crop_trust + lean)
        prior = coverage(s, crop_soft * crop_trust) / np.maximum(weight, 1e-6)
    free = np.ones(s.n, bool)
    exp = window_regions(s, win.box_in_crop(expected)) if expected is not None else None
    fg, bg = app.models(s, background=(prior < 0.05) & (weight > 0.5))
    extra = None
    carried = crop_soft > 0.5
    # the body of the carried mask: thin parts (lines, strings) must not extend its reach
    body = (
        cv2.morphologyEx(carried.astype(np.uint8), cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5)))
        > 0
    )
    carried = body if body.any() else carried
    if carried.any():  # locality: the farther from the carried mask, the costlier to be the object
        far = cv2.distanceTransform((~carried).astype(np.uint8), cv2.DIST_L2, 3)
        reach = max(2.0, REACH * np.sqrt(float(carried.sum())))
        extra = DISTANCE * s.graph.area * np.minimum(1.0, coverage(s, far) / reach)
    if motion is not None and trust is not None:
        mc = motion_costs(s, win.crop(motion, cv2.INTER_LINEAR), prior, weight)
        if mc is not None:
            extra = mc if extra is None else extra + mc
    sel = cut_with_prior(
        s,
        prior,
        free,
        fg,
        bg,
        prior_weight=PRIOR_WEIGHT * weight,
        expected=exp,
        extra_fg=extra,
        min_piece=MIN_PIECE,
        gap=GAP * np.sqrt(region_px),
    )
    small = refine_boundary(s, sel[s.labels], sel) if sel.any() else np.zeros(s.labels.shape, bool)
    trusted = weight > 0.5
    core = sel & trusted & (prior >= 0.8)
    around = ~sel & trusted & (prior <= 0.05)
    return LocalCut(win.paste(small, size), selection_iou(s, sel, prior * trusted), s, sel, around, win.scale, core)


def motion_costs(s: ImageStructure, flow: np.ndarray, prior: np.ndarray, weight: np.ndarray) -> np.ndarray | None:
    """(n,) extra cost of being the object for regions that move like the background.

    The object's motion is the median flow of the regions the flow carried it to, the
    background's that of the trusted regions it left empty. When the two differ by more
    than ``MOTION_MIN`` pixels, a region whose mean flow is nearer the background's pays up
    to ``MOTION`` nats per pixel (and one nearer the object's is paid as much). None when
    the motions do not tell the object apart.
    """
    fx, fy = coverage(s, flow[..., 0]), coverage(s, flow[..., 1])
    d = np.stack([fx, fy], 1)
    obj = (prior >= 0.8) & (weight > 0.5)
    bgd = (prior <= 0.05) & (weight > 0.5)
    if obj.sum() < 3 or bgd.sum() < 3:
        return None
    m_obj, m_bg = np.median(d[obj], axis=0), np.median(d[bgd], axis=0)
    gap = float(np.linalg.norm(m_obj - m_bg))
    if gap < MOTION_MIN:
        return None
    side = (np.linalg.norm(d - m_obj, axis=1) - np.linalg.norm(d - m_bg, axis=1)) / gap
    return MOTION * s.graph.area * np.clip(side, -1.0, 1.0) * np.minimum(weight, 1.0)


def learn(frame: np.ndarray, mask: np.ndarray, max_side: int, region_px: float) -> Appearance:
    """An object's appearance from its mask on a frame: itself against its surroundings
    (a window twice its size)."""
    ys, xs = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    bw, bh = xs[-1] - xs[0] + 1, ys[-1] - ys[0] + 1
    box = np.array([xs[0] - bw / 2, ys[0] - bh / 2, xs[-1] + 1 + bw / 2, ys[-1] + 1 + bh / 2])
    win = Window.around(box, mask.shape, max_side)
    s = frame_structure(win.crop(frame), max_side, region_px)
    cov = coverage(s, win.crop(mask.astype(np.float32), cv2.INTER_AREA))
    sel = cov >= 0.5
    if not sel.any():
        sel = cov >= cov.max()
    return Appearance.learn(s, sel)
