"""The weight-free tracker: optical flow carries each mask, the engine re-segments it.

For every frame:

1. **Carry.** Dense optical flow from the new frame back to the previous one (OpenCV
   DIS, or Farneback) tells where each new pixel came from; every mask is warped with
   ``cv2.remap`` (backward warping, so pixels that become covered by something else take
   the label of what covers them and occlusion is handled naturally).
2. **Re-segment.** The engine segments each carried mask again from its box (grown by
   10%), its deepest interior point, negative points on the other objects inside the box,
   and the carried mask as prior logits (``Prompt(mask=...)``); all objects in one call.
   The result is kept near the carried mask (a dilation of it) and accepted when it agrees
   with it (IoU >= ``accept_iou``); otherwise the carried mask stands. The agreement is
   the object's ``score``.
3. **Overlaps** go to the object whose carried mask is stronger at the pixel.
4. **Loss.** An object whose area falls under ``lost_area_ratio`` of its running area (or
   under ``min_area`` pixels), or whose score stays under ``lost_score`` for ``patience``
   frames, is reported lost (``data["lost"]``, with a reason: ``left_frame`` when its
   last box touched the border, else ``occluded``/``low_score``).
5. **Re-acquisition.** A lost object's colour histogram (hue, saturation) is
   back-projected on each new frame; a region of plausible size whose histogram matches
   (Bhattacharyya distance <= ``reacquire_distance``) takes the object back under its id
   (``data["reacquired"]``).

``engine=None`` skips step 2 (flow only): the fast path for long streams. The memory held
is one previous frame plus one mask and histogram per object, whatever the stream length.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from ....errors import InputError
from ....geometry import mask_iou, mask_to_logits
from ....masks import Masks
from ....types import Prompt, image_key
from .base import ObjectInit, Tracker
from .colour import find, hs_hist, snap

__all__ = ["FlowTracker"]

REFINE_CHOICES = ("auto", "box+points+mask", "points+mask")
DIS_PRESETS = {"ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST, "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
               "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}


@dataclass
class _Track:
    obj_id: int
    mask: np.ndarray                       # (H, W) bool, last known
    ref_area: float
    hist: np.ndarray | None = None         # (30, 32) float32 HS histogram, normalised to sum 1
    score: float = 1.0
    lost: bool = False
    reason: str = ""
    low_frames: int = 0
    age: int = 0
    full_box: np.ndarray | None = None     # (4,) xyxy of the whole object, predicted through occlusion
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2, np.float32))  # px / frame
    was_whole: bool = False
    data: dict[str, Any] = field(default_factory=dict)


def _interior_point(mask: np.ndarray) -> tuple[float, float]:
    dist = cv2.distanceTransform(np.pad(mask.astype(np.uint8), 1), cv2.DIST_L2, 3)[1:-1, 1:-1]
    y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
    return float(x) + 0.5, float(y) + 0.5


def _box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    ys = np.flatnonzero(mask.any(axis=1))
    xs = np.flatnonzero(mask.any(axis=0))
    if not ys.size:
        return None
    return int(xs[0]), int(ys[0]), int(xs[-1]) + 1, int(ys[-1]) + 1


def _forget_frame(engine: Any, frame: np.ndarray) -> None:
    """Drop ``frame``'s embedding from the engine's cache: a frame is seen once, so caching
    it would only make memory grow with the stream."""
    cache = getattr(engine, "cache", None)
    if cache is None:
        return
    cache.discard((engine.key, image_key(frame)))


class FlowTracker(Tracker):
    """Weight-free tracker (see the module docstring).

    Args:
        engine: engine spec for ``sam_compose.shared_engine`` (default ``"opencv"``), an
            Engine instance, or None for flow only (objects must then be given as masks).
        flow: ``"dis"`` (OpenCV DIS, default) or ``"farneback"``; ``flow_preset``: DIS speed
            preset (``ultrafast``, ``fast``, ``medium``).
        flow_max_side: flow is computed on frames downscaled to this longest side.
        accept_iou: the engine's mask replaces the carried one when their IoU reaches this,
            and its area is within a factor ``max_growth`` of the carried mask's.
        lost_area_ratio, min_area, lost_score, patience: loss detection (module docstring).
        reacquire: look for lost objects in new frames; ``reacquire_distance`` is the
            largest Bhattacharyya distance between colour histograms that counts as a match.
        photometric_threshold: a carried pixel keeps its label only when its colour is within
            this many levels (0-255, largest channel difference) of where the flow says it
            came from; this drops pixels uncovered behind a moving object.
        fb_check: also compute the forward flow and drop pixels where forward and backward
            flow disagree by more than ``fb_threshold`` pixels (+10% of the motion): the
            background uncovered behind a moving object.
        keep_logits: attach (N, 256, 256) logits to each result (feed back as prompts).
    """

    name = "flow"

    def __init__(self, engine: Any = "opencv", *, flow: str = "dis", flow_preset: str = "medium", flow_max_side: int = 480,
                 accept_iou: float = 0.5, max_growth: float = 1.25, lost_area_ratio: float = 0.2, min_area: int = 12,
                 lost_score: float = 0.3, patience: int = 3, reacquire: bool = True,
                 reacquire_distance: float = 0.45, photometric_threshold: int = 40,
                 fb_check: bool = True, fb_threshold: float = 1.5, refine_with: str = "auto",
                 keep_logits: bool = True) -> None:
        super().__init__()
        if flow not in ("dis", "farneback"):
            raise InputError(f"flow must be 'dis' or 'farneback', got {flow!r}")
        for name, v in (("accept_iou", accept_iou), ("lost_area_ratio", lost_area_ratio), ("lost_score", lost_score)):
            if not 0.0 <= float(v) <= 1.0:
                raise InputError(f"{name} must be in [0, 1], got {v}")
        if flow_preset not in DIS_PRESETS:
            raise InputError(f"flow_preset must be one of {', '.join(DIS_PRESETS)}, got {flow_preset!r}")
        self.flow_preset = flow_preset
        if flow_max_side < 16:
            raise InputError(f"flow_max_side must be at least 16 pixels, got {flow_max_side}")
        if isinstance(engine, str) and engine.strip().lower() == "none":
            engine = None
        if isinstance(engine, str):
            from ....engines import shared_engine

            engine = shared_engine(engine)
        self.engine = engine
        self.flow = flow
        self.flow_max_side = int(flow_max_side)
        self.accept_iou = float(accept_iou)
        if not max_growth >= 1.0:
            raise InputError(f"max_growth must be >= 1 (largest area change per frame), got {max_growth}")
        self.max_growth = float(max_growth)
        self.lost_area_ratio = float(lost_area_ratio)
        self.min_area = int(min_area)
        self.lost_score = float(lost_score)
        self.patience = int(patience)
        self.reacquire = bool(reacquire)
        self.reacquire_distance = float(reacquire_distance)
        self.keep_logits = bool(keep_logits)
        self.photometric_threshold = int(photometric_threshold)
        if refine_with not in REFINE_CHOICES:
            raise InputError(f"refine_with must be one of {', '.join(REFINE_CHOICES)}, got {refine_with!r}")
        if refine_with == "auto":
            # SAM models want the box; the OpenCV engine follows a prior mask more closely without one
            name = getattr(engine, "name", "")
            refine_with = "auto" if name == "opencv" else "box+points+mask"
        self.refine_with = refine_with
        self.fb_check = bool(fb_check)
        self.fb_threshold = float(fb_threshold)
        self._reset_state()

    def _reset_state(self) -> None:
        self._tracks: dict[int, _Track] = {}
        self._prev_gray: np.ndarray | None = None
        self._prev_frame: np.ndarray | None = None
        self._grid: tuple[np.ndarray, np.ndarray] | None = None
        self._dis: Any = None

    def add(self, objects: Any, ids: Any = None) -> list[int]:
        if self.engine is None and not isinstance(objects, (Masks, np.ndarray)):
            raise InputError("this tracker has no engine (engine=None), so objects must be given as masks; "
                             "pass engine='opencv' to start from prompts")
        return super().add(objects, ids)

    def correct(self, obj_id: int, prompt: Any) -> None:
        if self.engine is None and not isinstance(prompt, (Masks, np.ndarray)):
            raise InputError("this tracker has no engine (engine=None): correct with a mask, or pass engine='opencv'")
        super().correct(obj_id, prompt)

    # --- flow -------------------------------------------------------------------------------
    def _flow(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """(H, W, 2) flow such that a(x) ~ b(x + flow(x))."""
        if self.flow == "dis":
            if self._dis is None:
                self._dis = cv2.DISOpticalFlow_create(DIS_PRESETS[self.flow_preset])
            return self._dis.calc(a, b, None)
        return cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 4, 15, 3, 5, 1.2, 0)

    def _backward_maps(self, gray: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Maps for cv2.remap (new pixel (x, y) came from previous-frame (map_x, map_y)), and,
        with ``fb_check``, an (H, W) bool map of pixels whose forward and backward flows agree."""
        h, w = gray.shape
        # flow on at most flow_max_side pixels, and on at least 32 (DIS needs 12)
        s = min(1.0, self.flow_max_side / max(h, w)) if max(h, w) >= 32 else 32.0 / max(h, w)
        cur, prev = gray, self._prev_gray
        if s != 1.0:
            size = (max(12, round(w * s)), max(12, round(h * s)))
            interp = cv2.INTER_AREA if s < 1.0 else cv2.INTER_LINEAR
            cur = cv2.resize(cur, size, interpolation=interp)
            prev = cv2.resize(prev, size, interpolation=interp)
        back = self._flow(cur, prev)
        consistent = None
        if self.fb_check:
            fwd = self._flow(prev, cur)
            fh, fw = back.shape[:2]
            gx, gy = np.meshgrid(np.arange(fw, dtype=np.float32), np.arange(fh, dtype=np.float32))
            # follow the backward flow into the previous frame, then the forward flow back
            fwd_at = cv2.remap(fwd, gx + back[..., 0], gy + back[..., 1], cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REPLICATE)
            err = np.linalg.norm(back + fwd_at, axis=2)
            mag = np.linalg.norm(back, axis=2)
            consistent = err <= self.fb_threshold * s + 0.1 * mag
            if s != 1.0:
                consistent = cv2.resize(consistent.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) > 0
        flow = back
        if s != 1.0:
            flow = cv2.resize(back, (w, h), interpolation=cv2.INTER_LINEAR) / s
        if self._grid is None or self._grid[0].shape != (h, w):
            self._grid = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        gx, gy = self._grid
        return gx + flow[..., 0], gy + flow[..., 1], consistent

    # --- engine ---------------------------------------------------------------------------------
    def _predicted_box(self, t: _Track, carried: np.ndarray) -> np.ndarray | None:
        """Where the whole object should be: its last whole box moved by its velocity,
        used while part of it is hidden (carried area well under the running area)."""
        if t.full_box is None or carried.sum() >= 0.8 * t.ref_area:
            return None
        b = t.full_box + np.tile(t.velocity, 2)
        # generous: a box that cuts the object misleads box-based segmenters
        grow = 0.15 * (b[2:] - b[:2]) + 2 * np.abs(t.velocity)
        return np.concatenate([b[:2] - grow, b[2:] + grow])

    def _refine_prompt(self, soft: np.ndarray, carried: np.ndarray, others: list[np.ndarray],
                       predicted: np.ndarray | None = None) -> Prompt:
        h, w = carried.shape
        x0, y0, x1, y1 = _box(carried)  # type: ignore[misc]
        if predicted is not None:
            x0, y0 = min(x0, int(predicted[0])), min(y0, int(predicted[1]))
            x1, y1 = max(x1, int(np.ceil(predicted[2]))), max(y1, int(np.ceil(predicted[3])))
        mx, my = max(2, int(0.1 * (x1 - x0))), max(2, int(0.1 * (y1 - y0)))
        box = [max(0, x0 - mx), max(0, y0 - my), min(w, x1 + mx), min(h, y1 + my)]
        pts, labels = [_interior_point(carried)], [1]
        for o in others:
            ob = _box(o)
            if ob is None:
                continue
            px, py = _interior_point(o)
            if box[0] <= px < box[2] and box[1] <= py < box[3] and not carried[int(py), int(px)]:
                pts.append((px, py))
                labels.append(0)
        use_box = self.refine_with == "box+points+mask" or (self.refine_with == "auto" and predicted is not None)
        return Prompt(points=pts, labels=labels, box=box if use_box else None, mask=mask_to_logits(soft),
                      data={"adapter": "track"})

    def _segment(self, frame: np.ndarray, prompts: list[Prompt]) -> list[np.ndarray]:
        if not prompts:
            return []
        res = self.engine.segment(frame, prompts)
        out = []
        for i in range(len(prompts)):
            rows = np.flatnonzero(res.prompt_index == i)
            if rows.size == 0:
                out.append(np.zeros(frame.shape[:2], bool))
            else:
                out.append(res.masks[rows[int(np.argmax(res.scores[rows]))]])
        return out

    def _fuse(self, seg: np.ndarray, carried: np.ndarray, predicted: np.ndarray | None = None,
              ref_area: float | None = None) -> tuple[np.ndarray, float]:
        """Keep the engine's mask near the carried one (or inside the predicted box while the
        object is partly hidden); fall back to the carried mask when they disagree, or when
        the engine's mask grows or shrinks too much in one frame (a leak into the background)."""
        area = float(carried.sum())
        r = max(2, int(round(0.1 * np.sqrt(area))))
        gate = cv2.dilate(carried.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))) > 0
        if predicted is not None:
            h, w = carried.shape
            x0, y0 = max(0, int(predicted[0]) - r), max(0, int(predicted[1]) - r)
            x1, y1 = min(w, int(np.ceil(predicted[2])) + r), min(h, int(np.ceil(predicted[3])) + r)
            gate[y0:y1, x0:x1] = True
        refined = seg & gate
        agreement = mask_iou(refined, carried)
        if predicted is not None:
            # a hidden part coming back out is expected: judge agreement on the carried part,
            # but the object may not grow past its whole size
            agreement = max(agreement, float((refined & carried).sum()) / max(area, 1.0))
            if ref_area is not None and refined.sum() > self.max_growth * ref_area:
                return carried, min(agreement, 0.5)
        else:
            ratio = float(refined.sum()) / max(area, 1.0)
            if not (1.0 / self.max_growth <= ratio <= self.max_growth):
                return carried, min(agreement, 0.5)
        if agreement >= self.accept_iou:
            return refined, agreement
        return carried, agreement

    # --- the step ---------------------------------------------------------------------------------
    def _step(self, frame: np.ndarray, added: list[ObjectInit], corrections: dict[int, ObjectInit],
              removed: set[int]) -> Masks:
        t0 = time.perf_counter()
        h, w = frame.shape[:2]
        for oid in removed:
            self._tracks.pop(oid, None)
        gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        hsv = cv2.cvtColor(frame, cv2.COLOR_RGB2HSV)
        lost_now: dict[int, str] = {}
        reacquired: list[int] = []

        # 1. carry the visible objects with the flow
        moving = [t for t in self._tracks.values() if not t.lost and t.obj_id not in corrections]
        soft: dict[int, np.ndarray] = {}
        if moving and self._prev_gray is not None:
            mx, my, consistent = self._backward_maps(gray)
            # photometric check: a pixel whose colour differs from where the flow says it came
            # from was just uncovered (or the flow is wrong there); it inherits no label
            src = cv2.remap(self._prev_frame, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            err = cv2.absdiff(frame, src).max(axis=2)
            valid = err <= self.photometric_threshold
            if consistent is not None:
                valid &= consistent
            valid = valid.astype(np.float32)
            for t in moving:
                soft[t.obj_id] = cv2.remap(t.mask.astype(np.float32), mx, my, cv2.INTER_LINEAR,
                                           borderMode=cv2.BORDER_CONSTANT, borderValue=0) * valid
        else:
            for t in moving:
                soft[t.obj_id] = t.mask.astype(np.float32)
        carried = {k: v > 0.5 for k, v in soft.items()}

        # 2. one engine call: refinement of carried masks + prompts of new/corrected objects
        refine_ids = [k for k, m in carried.items() if m.sum() >= self.min_area]
        prompts: list[Prompt] = []
        if self.engine is not None:
            for k in refine_ids:
                others = [carried[j] for j in carried if j != k]
                prompts.append(self._refine_prompt(soft[k], carried[k], others, self._predicted_box(self._tracks[k], carried[k])))
        inits = [(p, True) for p in added] + [(c, False) for c in corrections.values() if c.obj_id in self._tracks]
        init_prompts = [p.prompt for p, _ in inits if p.mask is None]
        segs = self._segment(frame, prompts + init_prompts) if (prompts or init_prompts) else []
        final: dict[int, np.ndarray] = {}
        scores: dict[int, float] = {}
        for k in carried:
            final[k], scores[k] = carried[k], 1.0
        if self.engine is None:
            for k in refine_ids:
                final[k], scores[k] = snap(hsv, self._tracks[k].hist, carried[k], self.accept_iou)
        else:
            for k, seg in zip(refine_ids, segs[: len(prompts)]):
                tk = self._tracks[k]
                final[k], scores[k] = self._fuse(seg, carried[k], self._predicted_box(tk, carried[k]), tk.ref_area)
        strength = dict(soft)
        init_segs = iter(segs[len(prompts):])
        for obj, is_new in inits:
            m = obj.mask if obj.mask is not None else next(init_segs)
            m = np.asarray(m, bool)
            if is_new:
                self._tracks[obj.obj_id] = _Track(obj.obj_id, m, ref_area=float(m.sum()))
            t = self._tracks[obj.obj_id]
            t.mask, t.lost, t.low_frames, t.ref_area = m, False, 0, max(float(m.sum()), 1.0)
            t.hist = hs_hist(hsv, m) if m.any() else t.hist
            t.full_box = np.asarray(_box(m), np.float32) if m.any() else None
            final[obj.obj_id], scores[obj.obj_id] = m, 1.0
            strength[obj.obj_id] = np.full((h, w), 2.0, np.float32)  # prompts win overlaps
            if not m.any():
                lost_now[obj.obj_id] = "empty_segmentation"

        # 3. overlaps go to the strongest claim
        if len(final) > 1:
            keys = list(final)
            stack = np.stack([final[k] for k in keys])
            multi = stack.sum(axis=0) > 1
            if multi.any():
                st = np.stack([np.where(final[k], strength.get(k, np.ones((h, w), np.float32)), -1.0) for k in keys])
                owner = np.argmax(st, axis=0)
                for i, k in enumerate(keys):
                    final[k] = final[k] & (~multi | (owner == i))

        # 4. loss detection and state update
        for k, m in final.items():
            t = self._tracks[k]
            area = float(m.sum())
            if k in lost_now:
                t.lost, t.reason = True, lost_now[k]
                continue
            if scores[k] < self.lost_score:
                t.low_frames += 1
            else:
                t.low_frames = 0
            small = area < max(self.min_area, self.lost_area_ratio * t.ref_area)
            if small or t.low_frames >= self.patience:
                b = _box(t.mask)
                at_edge = b is not None and (b[0] <= 2 or b[1] <= 2 or b[2] >= w - 2 or b[3] >= h - 2)
                t.lost = True
                t.reason = "left_frame" if (small and at_edge) else ("occluded" if small else "low_score")
                lost_now[k] = t.reason
                continue
            t.mask, t.score, t.age = m, scores[k], t.age + 1
            if k in soft:
                # follow growth quickly and shrinking slowly, so partial occlusion shows as a deficit
                t.ref_area += (0.3 if area > t.ref_area else 0.03) * (area - t.ref_area)
            b = np.asarray(_box(m), np.float32)
            whole = area >= 0.92 * t.ref_area and b[0] > 1 and b[1] > 1 and b[2] < w - 1 and b[3] < h - 1
            if whole or t.full_box is None:
                if whole and t.was_whole and t.full_box is not None:
                    shift = (b[:2] + b[2:]) / 2 - (t.full_box[:2] + t.full_box[2:]) / 2
                    t.velocity = 0.5 * t.velocity + 0.5 * shift
                t.full_box = b
            else:
                t.full_box = t.full_box + np.tile(t.velocity, 2)
            t.was_whole = whole
            if t.age % 5 == 0 and scores[k] >= 0.7:
                nh = hs_hist(hsv, m)
                if nh is not None:
                    t.hist = nh if t.hist is None else 0.8 * t.hist + 0.2 * nh

        # 5. re-acquire lost objects (not those lost on this very frame)
        if self.reacquire:
            taken = np.zeros((h, w), bool)
            for t in self._tracks.values():
                if not t.lost:
                    taken |= t.mask
            for t in self._tracks.values():
                if not t.lost or t.obj_id in lost_now:
                    continue
                region = find(hsv, t.hist, taken, t.ref_area, self.min_area, self.reacquire_distance)
                if region is None:
                    continue
                m = region
                if self.engine is not None:
                    m, agree = self._fuse(self._segment(frame, [self._refine_prompt(region.astype(np.float32), region, [])])[0], region)
                t.mask, t.lost, t.reason, t.low_frames, t.score = m, False, "", 0, 1.0
                t.ref_area = max(t.ref_area, float(m.sum()))
                t.full_box = np.asarray(_box(m), np.float32) if m.any() else None
                taken |= m
                reacquired.append(t.obj_id)

        self._prev_gray = gray
        self._prev_frame = frame
        if self.engine is not None:
            _forget_frame(self.engine, frame)
        visible = sorted(k for k, t in self._tracks.items() if not t.lost)
        lost = sorted(k for k, t in self._tracks.items() if t.lost)
        data = {
            "lost": lost,
            "lost_reasons": {k: self._tracks[k].reason for k in lost},
            "reacquired": sorted(reacquired),
            "engine": None if self.engine is None else getattr(self.engine, "spec", str(self.engine)),
            "prompts": [],
            "ms": round((time.perf_counter() - t0) * 1000, 2),
        }
        if not visible:
            return Masks(np.zeros((0, h, w), bool), ids=np.zeros(0, np.int64), data=data)
        masks = np.stack([self._tracks[k].mask for k in visible])
        logits = np.stack([mask_to_logits(m) for m in masks]) if self.keep_logits else None
        return Masks(masks, scores=[self._tracks[k].score for k in visible], logits=logits,
                     ids=visible, data=data)
