"""The weight-free tracker: optical flow carries each mask, the frame's regions decide it.

Everything runs at a bounded working resolution (longest side ``work_size``); masks go
back to the frame's size edge-aware only for the output. For every frame:

1. **Carry** (:mod:`.motion`): dense backward flow (DIS) warps each object's mask from the
   previous frame; pixels whose flow fails the forward-backward or the colour check carry
   nothing (uncovered background, cuts, occlusions).
2. **Re-segment.** With the weight-free engine, the frame's superpixels and region graph
   are built (the engine's embedding without its tree) and each object is cut out of a
   search window around its carried mask and its predicted position (its box moved by its
   flow velocity, grown with its speed) by one minimum cut (:mod:`sam_compose.engines.
   opencv.propagate`): the object's **appearance model** (:mod:`.appearance`, learnt on its
   first frame and updated on trusted frames) against the surroundings' colours, the
   carried mask as a prior, and edge-aware smoothness. The cut may grow or shrink the
   object (scale changes), follow it where the flow lost it (fast motion, thin parts) and
   drop what the flow dragged along. With another engine (SAM), each carried mask becomes
   a box + points + mask prompt instead (:mod:`.engine_refine`); with ``engine=None`` a
   colour snap at the boundary (:mod:`.colour`).
3. **Overlaps** go to the object whose carried mask is stronger at the pixel.
4. **Drift and loss.** The score of an object is the agreement between the flow's carried
   mask and the re-segmentation. An object whose area falls under ``lost_area_ratio`` of its
   running area, or whose score stays under ``lost_score`` for ``patience`` frames, is
   reported lost (``data["lost"]`` with ``left_frame``, ``occluded`` or ``low_score``).
5. **Re-detection.** A lost object is searched in every new frame by its appearance alone
   (a cut without prior over the whole frame; the matching piece of plausible size nearest
   to where it was heading); when found it is tracked again (``data["reacquired"]``).

``data["found"]`` lists the ids visible in the frame. The memory held is the previous frame
at the working resolution plus one mask and model per object, whatever the stream length.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from ....engines.opencv.propagate import coverage, frame_structure
from ....engines.opencv.refine import refine_boundary
from ....engines.opencv.upsample import upsample_mask
from ....errors import InputError
from ....geometry import small_mask_to_logits
from ....masks import Masks
from ....types import image_key
from .appearance import Appearance, redetect
from .base import ObjectInit, Tracker
from .colour import find, hs_hist, snap
from .engine_refine import fuse, mask_box, refine_prompt, segment_all
from .local import cut_object, learn
from .motion import DIS_PRESETS, FlowField

__all__ = ["FlowTracker"]

REFINE_CHOICES = ("auto", "box+points+mask", "points+mask")
TRUSTED = 0.7  # agreement with the flow above which a frame may teach the appearance model
WINDOW_MARGIN = 0.35  # search window: the object's box grown by this share of its size ...
WINDOW_SPEED = 2.0  # ... and by this many frames of its motion
GROW_LIMIT = 1.6  # a cut larger than this times the object's last area is kept near the carried mask
BOUNDARY_BAND = 0.6  # near the cut's outline (this many superpixel sides) the flow's outline stands
HIDDEN = 0.8  # an object carried at less than this share of its running area is partly hidden
WHOLE = 0.95  # an object at this share of its running area is wholly visible


@dataclass
class _Track:
    obj_id: int
    mask: np.ndarray  # (h, w) bool at the working resolution, last known
    ref_area: float
    app: Appearance | None = None  # colour-word models (weight-free engine)
    hist: np.ndarray | None = None  # hue-saturation histogram (other paths)
    score: float = 1.0
    lost: bool = False
    reason: str = ""
    low_frames: int = 0
    lost_frames: int = 0
    age: int = 0
    full_box: np.ndarray | None = None  # (4,) working xyxy of the whole object
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2, np.float32))  # working px / frame
    was_whole: bool = True
    shift: np.ndarray = field(default_factory=lambda: np.zeros(2, np.float32))  # this frame's motion


def _forget_frame(engine: Any, frame: np.ndarray) -> None:
    """Drop a frame's embedding from the engine's cache (a frame is seen once)."""
    cache = getattr(engine, "cache", None)
    if cache is not None:
        cache.discard((engine.key, image_key(frame)))


def _at_edge(box: tuple[int, int, int, int] | None, size: tuple[int, int]) -> bool:
    h, w = size
    return box is not None and (box[0] <= 2 or box[1] <= 2 or box[2] >= w - 2 or box[3] >= h - 2)


class FlowTracker(Tracker):
    """Weight-free tracker (see the module docstring).

    Args:
        engine: engine spec for ``sam_compose.shared_engine`` (default ``"opencv"``), an
            Engine instance, or None for flow only (objects must then be given as masks).
        flow: ``"dis"`` (OpenCV DIS, default) or ``"farneback"``; ``flow_preset``: DIS speed
            preset (``ultrafast``, ``fast``, ``medium``); ``flow_max_side``: flow resolution.
        mask_size: longest side of the resolution masks are tracked at (larger frames are
            reduced; masks come back at the frame's size).
        work_size: longest side at which each object's window is segmented.
        accept_iou, max_growth: with a prompt-based engine, its mask replaces the carried one
            when their IoU reaches ``accept_iou`` and the area changes by at most ``max_growth``.
        lost_area_ratio, min_area, lost_score, patience: loss detection (module docstring);
            ``min_area`` in working pixels.
        reacquire: search lost objects in new frames; ``reacquire_distance`` is the largest
            Bhattacharyya distance between an object's colours and a candidate's.
        photometric_threshold, fb_check, fb_threshold: which carried pixels to trust
            (:class:`.motion.FlowField`).
        refine_with: prompt form for prompt-based engines (``auto``, ``box+points+mask``,
            ``points+mask``).
        keep_logits: attach (N, 256, 256) logits to each result (feed back as prompts).
    """

    name = "flow"

    def __init__(
        self,
        engine: Any = "opencv",
        *,
        flow: str = "dis",
        flow_preset: str = "medium",
        flow_max_side: int = 480,
        mask_size: int = 1280,
        work_size: int = 512,
        accept_iou: float = 0.5,
        max_growth: float = 1.25,
        lost_area_ratio: float = 0.2,
        min_area: int = 12,
        lost_score: float = 0.3,
        patience: int = 3,
        reacquire: bool = True,
        reacquire_distance: float = 0.45,
        photometric_threshold: int = 40,
        fb_check: bool = True,
        fb_threshold: float = 1.5,
        refine_with: str = "auto",
        keep_logits: bool = True,
    ) -> None:
        super().__init__()
        for name, v in (
            ("accept_iou", accept_iou),
            ("lost_area_ratio", lost_area_ratio),
            ("lost_score", lost_score),
            ("reacquire_distance", reacquire_distance),
        ):
            if not 0.0 <= float(v) <= 1.0:
                raise InputError(f"{name} must be in [0, 1], got {v}")
        if not max_growth >= 1.0:
            raise InputError(f"max_growth must be >= 1 (largest area change per frame), got {max_growth}")
        if int(work_size) < 32 or int(mask_size) < 32:
            raise InputError(f"work_size and mask_size must be at least 32 pixels, got {work_size}, {mask_size}")
        if refine_with not in REFINE_CHOICES:
            raise InputError(f"refine_with must be one of {', '.join(REFINE_CHOICES)}, got {refine_with!r}")
        if flow_preset not in DIS_PRESETS:
            raise InputError(f"flow_preset must be one of {', '.join(DIS_PRESETS)}, got {flow_preset!r}")
        self.motion = FlowField(flow, flow_preset, flow_max_side, fb_check, fb_threshold, photometric_threshold)
        if isinstance(engine, str) and engine.strip().lower() == "none":
            engine = None
        if engine is not None:
            from ....engines import resolve_engine

            engine = resolve_engine(engine)
        self.engine = engine
        self.mode = "colour" if engine is None else ("regions" if getattr(engine, "name", "") == "opencv" else "engine")
        self.region_px = float(getattr(engine, "region_px", 100.0))
        self.work_size, self.mask_size = int(work_size), int(mask_size)
        self.accept_iou, self.max_growth = float(accept_iou), float(max_growth)
        self.lost_area_ratio, self.min_area = float(lost_area_ratio), int(min_area)
        self.lost_score, self.patience = float(lost_score), int(patience)
        self.reacquire, self.reacquire_distance = bool(reacquire), float(reacquire_distance)
        # SAM models want the box; the weight-free engine follows a prior closely without one
        self.refine_with = "box+points+mask" if (refine_with == "auto" and self.mode == "engine") else refine_with
        self.keep_logits = bool(keep_logits)
        self._reset_state()

    def _reset_state(self) -> None:
        self._tracks: dict[int, _Track] = {}
        self._prev_gray: np.ndarray | None = None
        self._prev_rgb: np.ndarray | None = None
        self._flow_ok = False
        self._field: np.ndarray | None = None

    def add(self, objects: Any, ids: Any = None) -> list[int]:
        if self.engine is None and not isinstance(objects, (Masks, np.ndarray)):
            raise InputError(
                "this tracker has no engine (engine=None), so objects must be given as masks; "
                "pass engine='opencv' to start from prompts"
            )
        return super().add(objects, ids)

    def correct(self, obj_id: int, prompt: Any) -> None:
        if self.engine is None and not isinstance(prompt, (Masks, np.ndarray)):
            raise InputError("this tracker has no engine (engine=None): correct with a mask, or pass engine='opencv'")
        super().correct(obj_id, prompt)

    # --- per-object re-segmentation -------------------------------------------------------------
    def _window(self, t: _Track, soft: np.ndarray, size: tuple[int, int]) -> np.ndarray | None:
        """The box to search in (tracker pixels): the carried mask and the whole box moved by
        this frame's motion, grown by a share of the object's size and by its speed (the flow
        may have lost part of a fast object; the window must still hold it)."""
        boxes = []
        b = mask_box(soft > 0.1)
        if b is not None:
            boxes.append(np.asarray(b, np.float32))
        if t.full_box is not None:
            boxes.append(t.full_box + np.tile(t.shift, 2))
        if not boxes:
            return None
        bb = np.concatenate([np.min([x[:2] for x in boxes], 0), np.max([x[2:] for x in boxes], 0)])
        side = np.maximum(bb[2:] - bb[:2], 4.0)
        if t.full_box is not None:
            side = np.maximum(side, t.full_box[2:] - t.full_box[:2])
        speed = np.maximum(np.abs(t.velocity), np.abs(t.shift))
        grow = WINDOW_MARGIN * side + WINDOW_SPEED * speed + 4.0
        h, w = size
        return np.array(
            [
                max(0.0, bb[0] - grow[0]),
                max(0.0, bb[1] - grow[1]),
                min(float(w), bb[2] + grow[0]),
                min(float(h), bb[3] + grow[1]),
            ]
        )

    def _local(
        self, rgb: np.ndarray, t: _Track, soft: np.ndarray, carried: np.ndarray
    ) -> tuple[np.ndarray, float, Any]:
        """(mask, agreement, local cut) for one object: its window cut, or the carried mask
        when the cut finds nothing; a cut that balloons (a leak into similar colours) is kept
        near the carried mask."""
        size = carried.shape
        box = self._window(t, soft, size)
        if box is None or t.app is None:  # nowhere to look, or no colour model to cut with
            return carried, 0.0, None
        expected = None
        if t.full_box is not None and carried.sum() < HIDDEN * t.ref_area:  # partly hidden: parts may reappear
            pb = t.full_box + np.tile(t.shift, 2)
            expected = np.concatenate([pb[:2] - 0.1 * (pb[2:] - pb[:2]), pb[2:] + 0.1 * (pb[2:] - pb[:2])])
        if self._flow_ok:  # the prior speaks where the flow is trusted; elsewhere colours and edges
            raw, trust, field_ = self.motion.warp(t.mask.astype(np.float32)), self.motion.valid, self._field
        else:
            raw, trust, field_ = soft, None, None
        lc = cut_object(
            rgb,
            raw,
            t.app,
            box,
            expected,
            self.work_size,
            self.region_px,
            trust,
            field_,
        )
        m, area = lc.mask, float(lc.mask.sum())
        base = max(float(carried.sum()), float(t.mask.sum()))
        if area < 1 and carried.sum() >= self.min_area:
            return carried, 0.0, None
        if area > GROW_LIMIT * max(base, 1.0) and carried.any():
            r = max(2, int(round(0.15 * np.sqrt(base))))
            gate = cv2.dilate(
                carried.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
            )
            m = m & (gate > 0)
            return m, min(lc.agreement, 0.5), None
        if self._flow_ok and carried.any():
            m = self._keep_flow_boundary(m, carried, lc.window_scale)
        return m, lc.agreement, lc

    def _keep_flow_boundary(self, cut: np.ndarray, carried: np.ndarray, scale: float) -> np.ndarray:
        """Near the cut's outline, where the flow is trusted, the carried mask's pixels stand.

        Superpixels put the outline within a superpixel of the truth; frame after frame that
        error would compound. The flow moves the previous outline with pixel accuracy, so
        the cut only decides what is farther than a superpixel from it: parts appearing,
        leaving or missed by the flow.
        """
        r = max(1.0, BOUNDARY_BAND * np.sqrt(self.region_px) / max(scale, 1e-6))
        u = cut.astype(np.uint8)
        inside = cv2.distanceTransform(u, cv2.DIST_L2, 3)
        outside = cv2.distanceTransform(1 - u, cv2.DIST_L2, 3)
        band = (np.where(cut, inside, outside) <= r) & (self.motion.valid > 0)
        out = cut.copy()
        out[band] = carried[band]
        return out

    # --- the step ---------------------------------------------------------------------------------
    def _step(
        self, frame: np.ndarray, added: list[ObjectInit], corrections: dict[int, ObjectInit], removed: set[int]
    ) -> Masks:
        t0 = time.perf_counter()
        H, W = frame.shape[:2]
        sc = min(1.0, self.mask_size / max(H, W))
        h, w = max(1, round(H * sc)), max(1, round(W * sc))
        rgb = cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA) if (h, w) != (H, W) else frame
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        for oid in removed:
            self._tracks.pop(oid, None)
        hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV) if self.mode != "regions" else None
        lost_now: dict[int, str] = {}
        reacquired: list[int] = []

        # 1. carry the visible objects with the flow
        moving = [t for t in self._tracks.values() if not t.lost and t.obj_id not in corrections]
        have_flow = self._prev_gray is not None and self._prev_gray.shape == gray.shape
        if have_flow and (moving or any(t.lost for t in self._tracks.values())):
            self.motion.compute(gray, self._prev_gray, rgb, self._prev_rgb)  # type: ignore[arg-type]
        self._flow_ok = have_flow
        self._field = self.motion.field() if have_flow and self.mode == "regions" else None
        soft = {
            t.obj_id: self.motion.carry(t.mask.astype(np.float32)) if have_flow else t.mask.astype(np.float32)
            for t in moving
        }
        carried = {k: v > 0.5 for k, v in soft.items()}
        for t in moving:  # this frame's motion of each object (its velocity where the flow lost it)
            k = t.obj_id
            t.shift = self.motion.displacement(carried[k]) if have_flow and carried[k].any() else t.velocity.copy()

        # 2. re-segment each carried mask
        final: dict[int, np.ndarray] = {}
        scores: dict[int, float] = {}
        locals_: dict[int, Any] = {}
        if self.mode == "regions":
            for t in moving:
                k = t.obj_id
                final[k], scores[k], locals_[k] = self._local(rgb, t, soft[k], carried[k])
        elif self.mode == "engine":
            ids = [t.obj_id for t in moving if carried[t.obj_id].sum() >= self.min_area]
            prompts = [
                refine_prompt(
                    soft[k],
                    carried[k],
                    [carried[j] for j in carried if j != k],
                    (H / h, W / w),
                    self._predicted(self._tracks[k], carried[k]),
                    self._use_box(k, carried[k]),
                )
                for k in ids
            ]
            segs = segment_all(self.engine, frame, prompts, (h, w))
            for t in moving:
                final[t.obj_id], scores[t.obj_id] = carried[t.obj_id], 1.0
            for k, seg in zip(ids, segs):
                tk = self._tracks[k]
                final[k], scores[k] = fuse(
                    seg, carried[k], self.accept_iou, self.max_growth, self._predicted(tk, carried[k]), tk.ref_area
                )
        elif hsv is not None:
            for t in moving:
                final[t.obj_id], scores[t.obj_id] = snap(hsv, t.hist, carried[t.obj_id], self.accept_iou)

        # 3. objects added or corrected on this frame
        strength = dict(soft)
        inits = [(p, True) for p in added] + [(c, False) for c in corrections.values() if c.obj_id in self._tracks]
        init_prompts = [p.prompt for p, _ in inits if p.mask is None and p.prompt is not None]
        init_segs = iter(segment_all(self.engine, frame, init_prompts, (h, w)) if init_prompts else [])
        for obj, is_new in inits:
            m = obj.mask if obj.mask is not None else next(init_segs)
            m = np.asarray(m, bool)
            if m.shape != (h, w):
                m = cv2.resize(m.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA) >= 0.5
            if is_new:
                self._tracks[obj.obj_id] = _Track(obj.obj_id, m, ref_area=float(m.sum()))
            t = self._tracks[obj.obj_id]
            t.mask, t.lost, t.low_frames, t.ref_area = m, False, 0, max(float(m.sum()), 1.0)
            t.full_box = np.asarray(mask_box(m), np.float32) if m.any() else None
            t.velocity = np.zeros(2, np.float32)
            if self.mode == "regions" and m.any():
                t.app = learn(rgb, m, self.work_size, self.region_px)
            elif hsv is not None and m.any():
                t.hist = hs_hist(hsv, m)
            final[obj.obj_id], scores[obj.obj_id] = m, 1.0
            strength[obj.obj_id] = np.full((h, w), 2.0, np.float32)  # prompts win overlaps
            if not m.any():
                lost_now[obj.obj_id] = "empty_segmentation"

        # 4. overlaps go to the strongest claim
        if len(final) > 1:
            keys = list(final)
            multi = np.stack([final[k] for k in keys]).sum(axis=0) > 1
            if multi.any():
                st = np.stack([np.where(final[k], strength.get(k, np.ones((h, w), np.float32)), -1.0) for k in keys])
                owner = np.argmax(st, axis=0)
                for i, k in enumerate(keys):
                    final[k] = final[k] & (~multi | (owner == i))

        # 5. loss detection and state update
        for k, m in final.items():
            t = self._tracks[k]
            if k in lost_now:
                t.lost, t.reason = True, lost_now[k]
                continue
            self._update(t, m, scores[k], k in soft, locals_.get(k), hsv, lost_now, (h, w))

        # 6. search lost objects
        if self.reacquire:
            reacquired = self._search(rgb, hsv, frame, lost_now, (h, w), (H, W))

        self._prev_gray, self._prev_rgb = gray, rgb
        if self.engine is not None:
            _forget_frame(self.engine, frame)
        return self._output(frame, (h, w), reacquired, t0)

    def _predicted(self, t: _Track, carried: np.ndarray) -> np.ndarray | None:
        """The whole object's box moved by its velocity, while part of it is hidden."""
        if t.full_box is None or carried.sum() >= 0.8 * t.ref_area:
            return None
        b = t.full_box + np.tile(t.velocity, 2)
        grow = 0.15 * (b[2:] - b[:2]) + 2 * np.abs(t.velocity)
        return np.concatenate([b[:2] - grow, b[2:] + grow])

    def _use_box(self, k: int, carried: np.ndarray) -> bool:
        if self.refine_with == "box+points+mask":
            return True
        return self.refine_with == "auto" and self._predicted(self._tracks[k], carried) is not None

    def _update(
        self,
        t: _Track,
        m: np.ndarray,
        score: float,
        carried: bool,
        local: Any,
        hsv: np.ndarray | None,
        lost_now: dict[int, str],
        size: tuple[int, int],
    ) -> None:
        area = float(m.sum())
        t.low_frames = t.low_frames + 1 if score < self.lost_score else 0
        small = area < max(self.min_area, self.lost_area_ratio * t.ref_area)
        if small or t.low_frames >= self.patience:
            t.lost, t.lost_frames = True, 0
            t.reason = (
                "left_frame" if (small and _at_edge(mask_box(t.mask), size)) else ("occluded" if small else "low_score")
            )
            lost_now[t.obj_id] = t.reason
            return
        whole = area >= WHOLE * t.ref_area
        b = np.asarray(mask_box(m), np.float32)
        if carried and whole:  # speed from the whole object only: a hidden part drags the flow
            if t.full_box is not None and t.was_whole:
                seen = (b[:2] + b[2:]) / 2 - (t.full_box[:2] + t.full_box[2:]) / 2
            elif self.motion.map_x.shape == m.shape:
                seen = self.motion.displacement(m)
            else:
                seen = t.velocity
            t.velocity = 0.5 * t.velocity + 0.5 * seen
        t.mask, t.score, t.age = m, score, t.age + 1
        if carried:  # follow growth quickly and shrinking slowly: partial occlusion shows as a deficit
            t.ref_area += (0.3 if area > t.ref_area else 0.03) * (area - t.ref_area)
        if whole or t.full_box is None:
            t.full_box = b
        else:  # partly hidden: the whole box keeps its size and moves as the visible part's pixels do
            fb = t.full_box + np.tile(t.shift if carried else t.velocity, 2)
            # the visible part lies inside the whole object: move the box (keeping its size,
            # never smaller than the visible part) just enough to hold it
            side = np.maximum(fb[2:] - fb[:2], b[2:] - b[:2])
            lo = np.clip(fb[:2], b[2:] - side, b[:2])
            t.full_box = np.concatenate([lo, lo + side]).astype(np.float32)
        t.was_whole = whole
        if score >= TRUSTED:
            if t.app is not None and local is not None:
                local.teach(t.app)
            elif hsv is not None and t.age % 5 == 0:
                nh = hs_hist(hsv, m)
                if nh is not None:
                    t.hist = nh if t.hist is None else 0.8 * t.hist + 0.2 * nh

    def _search(
        self,
        rgb: np.ndarray,
        hsv: np.ndarray | None,
        frame: np.ndarray,
        lost_now: dict[int, str],
        size: tuple[int, int],
        full: tuple[int, int],
    ) -> list[int]:
        """Look for lost objects (not those lost on this very frame); returns the ids found."""
        found: list[int] = []
        h, w = size
        searching = [t for t in self._tracks.values() if t.lost and t.obj_id not in lost_now]
        if not searching:
            return found
        s = frame_structure(rgb, self.work_size, self.region_px) if self.mode == "regions" else None
        sh, sw = s.labels.shape if s is not None else size
        taken = np.zeros(size, bool)
        for t in self._tracks.values():
            if not t.lost:
                taken |= t.mask
        for t in searching:
            t.lost_frames += 1
            m = None
            if s is not None and t.app is not None:
                fy, fx = sh / h, sw / w  # structure px per tracker px
                expected = None
                if t.full_box is not None:
                    centre = (t.full_box[:2] + t.full_box[2:]) / 2 + t.velocity * min(t.lost_frames, 10)
                    expected = np.clip(centre, 0, [w, h]) * [fx, fy]
                taken_s = cv2.resize(taken.astype(np.float32), (sw, sh), interpolation=cv2.INTER_AREA)
                hit = redetect(
                    s,
                    t.app,
                    coverage(s, taken_s) > 0.5,
                    t.ref_area * fx * fy,
                    expected,
                    1.0 - self.reacquire_distance**2,
                )
                if hit is not None:
                    small = refine_boundary(s, hit[0][s.labels], hit[0])
                    m = cv2.resize(small.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR) >= 0.5
            elif hsv is not None:
                region = find(hsv, t.hist, taken, t.ref_area, self.min_area, self.reacquire_distance)
                if region is not None and self.engine is not None:
                    seg = segment_all(
                        self.engine,
                        frame,
                        [refine_prompt(region.astype(np.float32), region, [], (full[0] / h, full[1] / w))],
                        size,
                    )[0]
                    region, _ = fuse(seg, region, self.accept_iou, self.max_growth)
                m = region
            if m is None or not m.any():
                continue
            t.mask, t.lost, t.reason, t.low_frames, t.score = m, False, "", 0, 1.0
            t.ref_area = max(0.5 * t.ref_area, float(m.sum()))
            t.full_box = np.asarray(mask_box(m), np.float32)
            t.velocity = np.zeros(2, np.float32)
            taken |= m
            found.append(t.obj_id)
        return found

    def _output(self, frame: np.ndarray, size: tuple[int, int], reacquired: list[int], t0: float) -> Masks:
        H, W = frame.shape[:2]
        visible = sorted(k for k, t in self._tracks.items() if not t.lost)
        lost = sorted(k for k, t in self._tracks.items() if t.lost)
        data = {
            "lost": lost,
            "lost_reasons": {k: self._tracks[k].reason for k in lost},
            "reacquired": sorted(reacquired),
            "found": visible,
            "engine": None if self.engine is None else getattr(self.engine, "spec", str(self.engine)),
            "prompts": [],
            "ms": round((time.perf_counter() - t0) * 1000, 2),
        }
        if not visible:
            return Masks(np.zeros((0, H, W), bool), ids=np.zeros(0, np.int64), data=data)
        small = [self._tracks[k].mask for k in visible]
        masks = np.stack([upsample_mask(m, frame) if size != (H, W) else m for m in small])
        logits = np.stack([small_mask_to_logits(m, (H, W)) for m in small]) if self.keep_logits else None
        return Masks(masks, scores=[self._tracks[k].score for k in visible], logits=logits, ids=visible, data=data)
