"""The weight-free OpenCV engine: promptable segmentation with classical methods.

Pipeline for one prompt (details in docs/opencv_engine.md):

1. **Embedding** (cached per image): a working copy with its longest side at most
   ``work_size``, its Lab version, an edge-preserving (bilateral) smoothed Lab image and
   the Lab gradient magnitude.
2. **Window**: the prompt's region of interest (box, prior mask, or the extent proposed
   around the points) plus a margin, cut from the *original* image and scaled to at most
   ``roi_size`` pixels, so small objects in large photographs keep their detail.
3. **Candidates**: GrabCut from several label maps (:mod:`.opencv_seeds`): for a box, the
   box with probable-background corners on the raw, median- and mean-shift-filtered
   window, plus the confident core and the hole-filled extent of the raw run; for points,
   colour-model regions grown from the clicked colour and windows of a few sizes, with the
   points as hard seeds; for a prior mask, its interior as probable foreground and the
   prior itself.
4. **Clean-up** (:mod:`.opencv_regions`): keep components connected to the seeds, drop
   those holding negative points, carve out negative points' regions with a marker
   watershed, fill small holes.
5. **Scores** (:mod:`.opencv_score`): edge support, colour separation and agreement with
   the prompt (box tightness, prior overlap), in [0, 1]. ``multimask=False`` returns the best candidate;
   ``multimask=True`` returns three of increasing area (small, best, large).
6. **Upsampling**: the chosen masks go back to full size with a guided filter so they
   follow the original image's edges (:func:`.opencv_regions.upsample_mask`).

Low-res logits are synthesised from each final mask (:func:`sam_compose.geometry.mask_to_logits`) so results
can be fed back as ``Prompt(mask=...)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from ..errors import InputError
from ..geometry import from_lowres, mask_iou, mask_to_logits, small_mask_to_logits
from ..masks import Masks
from ..types import ImageEmbedding, Prompt
from .base import Engine
from .opencv_auto import auto_regions
from .opencv_grabcut import gmm_posterior, grabcut
from .opencv_regions import Roi, clean_mask, fill_holes, seed_disks, split_by_negatives, upsample_mask
from .opencv_score import gradient_magnitude, reference_gradient, score_mask
from .opencv_seeds import (add_point_seeds, labels_from_box, labels_from_prior, labels_from_region,
                           point_regions, region_bbox)

SMALL_OBJECT = 0.01  # fraction of the image below which point-only masks are discounted


@dataclass
class _Candidate:
    mask: np.ndarray  # (h, w) bool in the window's pixels
    score: float
    kind: str


@dataclass
class _Window:
    roi: Roi
    rgb: np.ndarray
    lab: np.ndarray
    grad: np.ndarray
    grad_ref: float
    pos: np.ndarray
    neg: np.ndarray
    box: np.ndarray | None
    open_sides: tuple[bool, bool, bool, bool]
    pixel_fraction: float  # fraction of the original image one window pixel stands for
    size_prior: bool       # point-only prompt: discount tiny masks (see _window_score)
    prior: np.ndarray | None = None  # the prompt's prior mask in window pixels


_FILTERS = {
    "bilateral": lambda rgb: cv2.bilateralFilter(rgb, 7, 40, 5),
    "median": lambda rgb: cv2.medianBlur(rgb, 5),
    "meanshift": lambda rgb: cv2.pyrMeanShiftFiltering(rgb, 6, 20),
}


def _features(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB)
    grad = gradient_magnitude(cv2.GaussianBlur(lab, (3, 3), 0))
    return lab, grad, reference_gradient(grad)


class OpenCVEngine(Engine):
    """Promptable segmentation without weights (GrabCut, colour models, watershed).

    Args:
        work_size: longest side of the cached working image (point proposals, ``generate``).
        roi_size: longest side at which a prompt's window is segmented.
        iterations: GrabCut iterations per candidate.
    """

    name = "opencv"

    def __init__(self, spec: str = "opencv", device: str = "cpu", dtype: str = "float32",
                 cache: Any = None, work_size: int = 512, roi_size: int = 320, iterations: int = 5) -> None:
        super().__init__(spec, device, dtype, cache)
        if int(work_size) < 16 or int(roi_size) < 16 or int(iterations) < 1:
            raise InputError(f"OpenCVEngine needs work_size >= 16, roi_size >= 16 and iterations >= 1, "
                             f"got {work_size}, {roi_size}, {iterations}")
        self.work_size = int(work_size)
        self.roi_size = int(roi_size)
        self.iterations = int(iterations)

    # --- embedding ----------------------------------------------------------------------
    def _compute_embedding(self, image: np.ndarray, key: str) -> ImageEmbedding:
        h, w = image.shape[:2]
        s = min(1.0, self.work_size / max(h, w))
        ww, wh = max(1, round(w * s)), max(1, round(h * s))
        work = cv2.resize(image, (ww, wh), interpolation=cv2.INTER_AREA) if s < 1 else image.copy()
        lab, grad, gref = _features(work)
        smooth = cv2.bilateralFilter(lab, 9, 30, 5) if min(wh, ww) >= 9 else lab.copy()
        feats = {"work": work, "lab": lab, "smooth": smooth, "grad": grad, "grad_ref": gref,
                 "sx": ww / w, "sy": wh / h}
        nbytes = int(work.nbytes + lab.nbytes + smooth.nbytes + grad.nbytes)
        return ImageEmbedding(features=feats, image_size=(h, w), input_size=(wh, ww),
                              engine=self.key, image_key=key, nbytes=nbytes)

    # --- prompts ------------------------------------------------------------------------
    def _decode(self, image: np.ndarray, embedding: ImageEmbedding, prompts: list[Prompt],
                multimask: bool) -> Masks:
        size = embedding.image_size
        rows: list[np.ndarray] = []
        scores: list[float] = []
        pidx: list[int] = []
        kinds: list[str] = []
        for i, p in enumerate(prompts):
            win, cands = self._candidates(image, embedding.features, p)
            chosen = _pick(cands, win, multimask)
            for c in chosen:
                rows.append(self._to_full(image, win, c.mask, size))
                scores.append(c.score if rows[-1].any() else 0.0)
                pidx.append(i)
                kinds.append(c.kind)
        arr = np.stack(rows)
        logits = np.stack([mask_to_logits(m) for m in arr])
        return Masks(arr, scores=scores, logits=logits, prompt_index=pidx, data={"candidates": kinds})

    def _to_full(self, image: np.ndarray, win: _Window | None, small: np.ndarray,
                 size: tuple[int, int]) -> np.ndarray:
        full = np.zeros(size, bool)
        if win is None or not small.any():
            return full
        r = win.roi
        full[r.y0:r.y1, r.x0:r.x1] = upsample_mask(small, image[r.y0:r.y1, r.x0:r.x1])
        return full

    def _window(self, image: np.ndarray, region_box: np.ndarray, margin: float, p: Prompt,
                max_side: int | None = None) -> _Window:
        size = image.shape[:2]
        roi = Roi.around(region_box, size, margin=margin, min_margin=6, max_side=max_side or self.roi_size)
        rgb = roi.crop(image)
        lab, grad, gref = _features(rgb)
        pos = neg = np.zeros((0, 2))
        if p.points is not None:
            pts = roi.points_to_crop(p.points)
            pos, neg = pts[p.labels == 1], pts[p.labels == 0]
        box = roi.box_to_crop(p.box) if p.box is not None else None
        open_sides = (roi.x0 > 0, roi.y0 > 0, roi.x1 < size[1], roi.y1 < size[0])
        frac = 1.0 / (roi.sx * roi.sy * size[0] * size[1])
        size_prior = p.box is None and p.mask is None
        return _Window(roi, rgb, lab, grad, gref, pos, neg, box, open_sides, frac, size_prior)

    def _plan(self, image: np.ndarray, f: dict[str, Any], p: Prompt
              ) -> tuple[np.ndarray, float, int, list[np.ndarray], np.ndarray | None] | None:
        """Where to look: (region box in original px, margin, window side, point regions, prior)."""
        size = image.shape[:2]
        pos_o = neg_o = np.zeros((0, 2))
        if p.points is not None:
            pos_o, neg_o = p.points[p.labels == 1].astype(np.float64), p.points[p.labels == 0].astype(np.float64)
        prior = from_lowres(p.mask, size) > 0 if p.mask is not None else None
        if prior is not None and not prior.any():
            prior = None
        if p.box is not None:
            return np.asarray(p.box, np.float64), 0.25, self.roi_size, [], prior
        if prior is not None:
            region_box = region_bbox(prior)
            if len(pos_o):
                region_box = _union_box(region_box, _points_box(pos_o))
            return region_box, 0.15, self.roi_size, [], prior
        if not len(pos_o):
            return None
        sx, sy = f["sx"], f["sy"]
        pos_w, neg_w = pos_o * np.array([sx, sy]), neg_o * np.array([sx, sy])

        def rank(r: np.ndarray) -> float:
            return score_mask(r, f["lab"], f["grad"], f["grad_ref"], pos_w, neg_w)

        regions = point_regions(f["smooth"], pos_w, neg_w, rank=rank)
        region_box = _points_box(pos_o)
        for r in regions:
            region_box = _union_box(region_box, region_bbox(r) / np.array([sx, sy, sx, sy]))
        # point proposals can span a large ambiguous area: a smaller window keeps GrabCut fast
        return region_box, 0.1, min(self.roi_size, 256), regions, None

    def _label_maps(self, win: _Window, f: dict[str, Any], p: Prompt, regions: list[np.ndarray],
                    prior_c: np.ndarray | None) -> list[tuple[str, str, np.ndarray]]:
        """GrabCut starts: (candidate name, image filter, label map) in window pixels."""
        shape = win.rgb.shape[:2]
        band = max(3, int(0.02 * max(shape)))
        maps: list[tuple[str, str, np.ndarray]] = []
        if p.box is not None:
            base = labels_from_box(shape, win.box, corners=True)
            if prior_c is not None:
                maps.append(("box+prior", "rgb", labels_from_prior(prior_c, band, win.box)))
            maps += [("box", "rgb", base), ("box-median", "median", base), ("box-meanshift", "meanshift", base)]
        elif prior_c is not None:
            pl = labels_from_prior(prior_c, band)
            maps += [("prior", "rgb", pl), ("prior-bilateral", "bilateral", pl)]
        else:
            for j, r in enumerate(regions):
                rc = win.roi.from_scaled(r.astype(np.uint8), f["sx"], f["sy"]) > 0
                b = max(3, int(0.15 * np.sqrt(max(rc.sum(), 1))))
                maps.append((f"region{j}", "rgb", labels_from_region(rc, b)))
            if not maps and len(win.pos):  # nothing proposed: a window around the points
                pb = _points_box(win.pos)
                maps.append(("points", "rgb", labels_from_box(shape, _grow(pb, 0.1 * max(shape), shape))))
        return maps

    def _candidates(self, image: np.ndarray, f: dict[str, Any], p: Prompt) -> tuple[_Window | None, list[_Candidate]]:
        plan = self._plan(image, f, p)
        if plan is None:
            return None, []
        region_box, margin, side, regions, prior = plan
        win = self._window(image, region_box, margin, p, side)
        shape = win.rgb.shape[:2]
        seed_r = max(1, int(round(min(shape) / 100)))
        prior_c = win.roi.crop(prior.astype(np.uint8)) > 0 if prior is not None else None
        win.prior = prior_c
        filtered: dict[str, np.ndarray] = {"rgb": win.rgb}
        cands: list[_Candidate] = []
        keep_seeds = seed_disks(shape, win.pos, seed_r) if len(win.pos) else None
        forbid = seed_disks(shape, win.neg, seed_r) if len(win.neg) else None
        for kind, flt, lab in self._label_maps(win, f, p, regions, prior_c):
            if flt not in filtered:
                filtered[flt] = _FILTERS[flt](win.rgb)
            img = filtered[flt]
            res = grabcut(img, add_point_seeds(lab.copy(), win.pos, win.neg, seed_r), self.iterations)
            m = self._finish(res.mask, win, keep_seeds, forbid)
            cands.append(_Candidate(m, self._score(m, win), kind))
            if kind in ("box", "prior", "box+prior"):  # extents from the same colour models
                post = gmm_posterior(img, res)
                if post is not None:
                    tight = self._finish(res.mask & (post > 0.8), win, keep_seeds, forbid)
                    cands.append(_Candidate(tight, self._score(tight, win), kind + "-core"))
                loose = self._finish(fill_holes(res.mask, np.inf), win, keep_seeds, forbid)
                cands.append(_Candidate(loose, self._score(loose, win), kind + "-filled"))
        if prior_c is not None:
            m = self._finish(prior_c, win, keep_seeds, forbid)
            cands.append(_Candidate(m, self._score(m, win), "prior-as-is"))
        return win, cands

    def _finish(self, mask: np.ndarray, win: _Window, keep: np.ndarray | None, forbid: np.ndarray | None) -> np.ndarray:
        if win.box is not None:
            x0, y0 = int(max(np.floor(win.box[0]), 0)), int(max(np.floor(win.box[1]), 0))
            inside = np.zeros(mask.shape, bool)
            inside[y0:int(np.ceil(win.box[3])), x0:int(np.ceil(win.box[2]))] = True
            mask = mask & inside
        m = clean_mask(mask, keep=keep, forbid=forbid)
        return split_by_negatives(m, win.rgb, win.pos, win.neg)

    def _score(self, mask: np.ndarray, win: _Window) -> float:
        return _window_score(mask, win)

    # --- automatic masks ------------------------------------------------------------------
    def _generate(self, image: np.ndarray, embedding: ImageEmbedding, *, points_per_side: int = 16,
                  min_mask_region_area: int = 100, max_area_fraction: float = 0.9,
                  box_nms_thresh: float = 0.7, score_thresh: float = 0.2) -> Masks:
        """Automatic regions: grid-seeded flood fill at several tolerances, scored, NMS'd.

        ``min_mask_region_area`` is in original-image pixels; ``box_nms_thresh`` is the mask
        IoU above which the lower-scoring of two regions is dropped; ``score_thresh`` drops
        regions scoring below it.
        """
        if int(points_per_side) < 1 or int(points_per_side) > 128:
            raise InputError(f"points_per_side must be in 1..128, got {points_per_side}")
        if not 0 < float(max_area_fraction) <= 1:
            raise InputError(f"max_area_fraction must be in (0, 1], got {max_area_fraction}")
        if not 0 < float(box_nms_thresh) <= 1:
            raise InputError(f"box_nms_thresh must be in (0, 1], got {box_nms_thresh}")
        f = embedding.features
        size = embedding.image_size
        min_area = max(1.0, float(min_mask_region_area) * f["sx"] * f["sy"])
        regions, scores = auto_regions(f["smooth"], f["lab"], f["grad"], f["grad_ref"],
                                       points_per_side=int(points_per_side), min_area=min_area,
                                       max_area_fraction=float(max_area_fraction),
                                       nms_threshold=float(box_nms_thresh), score_threshold=float(score_thresh))
        if not regions:
            return Masks.empty(size)
        full = np.zeros((len(regions), size[0], size[1]), bool)
        for i, r in enumerate(regions):
            full[i] = upsample_mask(r, image, edge_aware=False)
        return Masks(full, scores=scores, logits=np.stack([small_mask_to_logits(r, size) for r in regions]))


def _window_score(mask: np.ndarray, win: _Window) -> float:
    """:func:`score_mask` in the window, with two prompt-specific factors.

    For point-only prompts, masks covering less than ``SMALL_OBJECT`` of the image are
    discounted by sqrt(fraction / SMALL_OBJECT): on textured objects a click otherwise
    favours crisp texture specks over the whole object. With a prior mask, the score is
    scaled by 0.7 + 0.3 x IoU(mask, prior), so refinement stays close to what was asked.
    """
    s = score_mask(mask, win.lab, win.grad, win.grad_ref, win.pos, win.neg, win.box, win.open_sides)
    if win.size_prior and s > 0:
        s *= min(1.0, float(mask.sum()) * win.pixel_fraction / SMALL_OBJECT) ** 0.5
    if win.prior is not None and s > 0:
        s *= 0.7 + 0.3 * mask_iou(mask, win.prior)
    return s


def _pick(cands: list[_Candidate], win: _Window | None, multimask: bool) -> list[_Candidate]:
    """The best candidate, or (small, best, large) sorted by increasing area."""
    if win is None:
        empty = _Candidate(np.zeros((1, 1), bool), 0.0, "empty")
        return [empty] * (3 if multimask else 1)
    shape = win.rgb.shape[:2]
    live = [c for c in cands if c.mask.any()]
    if not live:
        empty = _Candidate(np.zeros(shape, bool), 0.0, "empty")
        return [empty] * (3 if multimask else 1)
    best = max(live, key=lambda c: c.score)
    if not multimask:
        return [best]
    a = int(best.mask.sum())
    smaller = [c for c in live if 0.15 * a <= c.mask.sum() <= 0.85 * a and (c.mask & best.mask).sum() >= 0.5 * c.mask.sum()]
    larger = [c for c in live if c.mask.sum() >= 1.15 * a and (c.mask & best.mask).sum() >= 0.5 * a]
    small = max(smaller, key=lambda c: c.score) if smaller else _shrunk(best, win)
    large = max(larger, key=lambda c: c.score) if larger else _grown(best, win)
    return [small, best, large]


def _shrunk(c: _Candidate, win: _Window) -> _Candidate:
    """The candidate's core: pixels deep inside it (about 60% of its area)."""
    dist = cv2.distanceTransform(np.pad(c.mask, 1).astype(np.uint8), cv2.DIST_L2, 3)[1:-1, 1:-1]
    vals = dist[c.mask]
    t = float(np.quantile(vals, 0.4)) if vals.size > 1 else 0.0
    core = c.mask & (dist > t)
    if not core.any() or core.sum() == c.mask.sum():
        core = np.zeros_like(c.mask)
        y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
        core[y, x] = True
    return _Candidate(core, _window_score(core, win), c.kind + "-shrunk")


def _grown(c: _Candidate, win: _Window) -> _Candidate:
    """The candidate grown outwards by about a fifth of its equivalent radius (within the box)."""
    r = max(1, int(0.2 * np.sqrt(c.mask.sum() / np.pi)))
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    g = cv2.dilate(c.mask.astype(np.uint8), k).astype(bool)
    if win.box is not None:
        x0, y0 = int(max(np.floor(win.box[0]), 0)), int(max(np.floor(win.box[1]), 0))
        inside = np.zeros(g.shape, bool)
        inside[y0:int(np.ceil(win.box[3])), x0:int(np.ceil(win.box[2]))] = True
        if (g & inside).sum() >= 1.1 * c.mask.sum():
            g &= inside
    return _Candidate(g, _window_score(g, win), c.kind + "-grown")


def _points_box(pts: np.ndarray) -> np.ndarray:
    p = np.asarray(pts, np.float64).reshape(-1, 2)
    return np.array([p[:, 0].min(), p[:, 1].min(), p[:, 0].max() + 1, p[:, 1].max() + 1])


def _union_box(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray:
    if a is None:
        return b
    if b is None:
        return a
    return np.array([min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])])


def _grow(box: np.ndarray, by: float, shape: tuple[int, int]) -> np.ndarray:
    h, w = shape
    return np.array([max(box[0] - by, 0), max(box[1] - by, 0), min(box[2] + by, w), min(box[3] + by, h)])
