"""The prompt phase: from one prompt and the image structure to part / object / whole.

Which method answers depends on what the prompt says:

* **points only** -- the region tree's candidates around the positive points (cut by the
  negative points, :mod:`.candidates`), ranked by objectness and by agreement with a
  geodesic segmentation (:mod:`.geodesic`); with more than one point the best candidate
  seeds a region GrabCut (:mod:`.cut`) in which every point is a hard constraint;
* **a box** (with or without points and prior) -- region GrabCut inside the box,
  everything outside it background, points as hard constraints, clipped to the box;
* **a prior mask** -- region GrabCut whose unary costs include the prior's coverage, so
  the answer keeps to the prior but snaps to edges and colours.

The three rows of ``multimask`` are part / object / whole: the object is the best answer,
the part the best-scoring tree node inside it, the whole the smallest tree node around it
(with pixel erosion / dilation as fallbacks). Masks here are (h, w) bool at the working
resolution; :mod:`.engine` takes them to the original size.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ...types import Prompt
from . import colour_model, geodesic
from .candidates import Candidate, click_cloud, pick, tree_candidates
from .cut import ITERATIONS, keep_components, region_grabcut
from .quality import contour_strength, objectness, small_labels
from .refine import refine_boundary
from .seeds import RegionPrompt, pixel_index, region_prompt
from .structure import ImageStructure
from .upsample import fill_holes

PRIOR_WEIGHT = 1.0  # nats per pixel for disagreeing with a prior mask
PART_RANGE = (0.15, 0.85)
WHOLE_MIN = 1.15
RANK_BELOW = 0.95  # part and whole score at most this share of the object, so best() is the object
BOX_PAIRWISE = (8.0, 16.0, 32.0, 48.0)
POINTS_PAIRWISE = 48.0
GEODESIC_WEIGHT = 3.0  # nats per pixel at the far end of the geodesic ratio


@dataclass
class Answer:
    """Rows for one prompt: working-resolution masks, scores in [0, 1], candidate names."""

    masks: list[np.ndarray]
    scores: list[float]
    kinds: list[str]
    clip: list[np.ndarray | None] | None = None  # per row: original-image box to clip to at full size


def answer(s: ImageStructure, p: Prompt, multimask: bool, iterations: int = ITERATIONS) -> Answer:
    """Segment one validated prompt on the structure (see the module docstring)."""
    rp = region_prompt(s, p)
    if p.box is not None:
        obj = _box_object(s, rp, iterations)
    elif rp.prior is not None:
        obj = _prior_object(s, rp, iterations)
    elif rp.pos.any():
        obj = _points_object(s, rp, iterations)
    else:
        obj = None
    h, w = s.work.size
    if obj is None or not obj.sel.any():
        empty = np.zeros((h, w), bool)
        n = 3 if multimask else 1
        return Answer([empty] * n, [0.0] * n, ["empty"] * n)
    rows = [obj]
    if multimask:
        rows = [_part(s, rp, obj), obj, _whole(s, rp, obj)]
    masks = [_pixels(s, rp, c) for c in rows]
    if multimask:
        masks, rows = _ensure_distinct(masks, rows, rp)
    box = np.asarray(p.box, np.float64) if p.box is not None else None
    clip = [
        box if box is not None and rp.box_mask is not None and not (m & ~rp.box_mask).any() else None for m in masks
    ]
    return Answer(masks, [float(c.score) for c in rows], [c.kind for c in rows], clip)


# --- the object ------------------------------------------------------------------------------
def _points_object(s: ImageStructure, rp: RegionPrompt, iterations: int) -> Candidate:
    sources = rp.pos
    if len(rp.pos_xy) == 1:  # a click is known to a few pixels: start from all it may have hit
        cloud = click_cloud(rp.pos_xy[0])
        r, c = pixel_index(cloud, s.work.size)
        sources = rp.pos.copy()
        sources[s.labels[r, c]] = True
        sources &= ~rp.neg
    dp = geodesic.distances(s, sources)
    db = geodesic.distances(s, rp.neg, border=True)
    cands = tree_candidates(s, rp, dp < db)
    best = pick(cands)
    if int(rp.pos.sum() + rp.neg.sum()) <= 1:
        return best
    # several points: a region GrabCut seeded by the best candidate, with every point a hard
    # constraint and the geodesic distances as a locality prior (near positives: foreground)
    ratio = np.nan_to_num(dp / np.maximum(dp + db, 1e-12), nan=1.0, posinf=1.0)
    area = s.graph.area
    sel, _ = region_grabcut(
        s,
        best.sel | rp.pos,
        rp.pos,
        rp.neg,
        extra_fg=GEODESIC_WEIGHT * area * ratio,
        extra_bg=GEODESIC_WEIGHT * area * (1.0 - ratio),
        iterations=iterations,
        pairwise=POINTS_PAIRWISE,
    )
    sel = keep_components(s, sel, rp.pos)
    return Candidate(sel, _score(s, rp, sel), "points-cut", float(area[sel].sum()))


def _box_object(s: ImageStructure, rp: RegionPrompt, iterations: int) -> Candidate:
    inside = rp.inside if rp.inside is not None else np.ones(s.n)
    free = inside >= 0.5
    if not free.any():  # a box smaller than one superpixel: the superpixels it touches
        free = inside > 0
    bg_hard = ~free | rp.neg
    fg_hard = rp.pos & ~bg_hard
    init = free & ~rp.neg
    extra_fg = extra_bg = None
    if rp.prior is not None:
        extra_fg = PRIOR_WEIGHT * s.graph.area * (1.0 - rp.prior)
        extra_bg = PRIOR_WEIGHT * s.graph.area * rp.prior
        init = (rp.prior >= 0.5) & free if ((rp.prior >= 0.5) & free).any() else init
    best: tuple[float, np.ndarray] | None = None
    for pw in BOX_PAIRWISE:  # smoothness is image dependent: keep the cut that scores best
        sel, _ = region_grabcut(
            s, init, fg_hard, bg_hard, extra_fg=extra_fg, extra_bg=extra_bg, iterations=iterations, pairwise=pw
        )
        sel = keep_components(s, sel, rp.pos)
        sc = _score(s, rp, sel)
        if best is None or sc > best[0]:
            best = (sc, sel)
    sel = best[1] if best is not None and best[1].any() else init.copy()
    return Candidate(sel, _score(s, rp, sel), "box-cut", float(s.graph.area[sel].sum()))


def _prior_object(s: ImageStructure, rp: RegionPrompt, iterations: int) -> Candidate:
    prior = rp.prior if rp.prior is not None else np.zeros(s.n)
    init = prior >= 0.5
    if not init.any():
        init = prior >= prior.max()
    extra_fg = PRIOR_WEIGHT * s.graph.area * (1.0 - prior)
    extra_bg = PRIOR_WEIGHT * s.graph.area * prior
    sel, _ = region_grabcut(
        s, init & ~rp.neg, rp.pos, rp.neg, extra_fg=extra_fg, extra_bg=extra_bg, iterations=iterations
    )
    if not sel.any():
        sel = init & ~rp.neg
    sel = keep_components(s, sel, rp.pos | init)
    return Candidate(sel, _score(s, rp, sel), "prior-cut", float(s.graph.area[sel].sum()))


# --- scores ----------------------------------------------------------------------------------
def score_mask(s: ImageStructure, p: Prompt, mask: np.ndarray) -> float:
    """The engine's score in [0, 1] for a working-resolution mask (h, w) answering prompt ``p``
    (the mask is read as the superpixels it mostly covers)."""
    cover = np.bincount(s.labels.ravel(), weights=np.asarray(mask, bool).ravel(), minlength=s.n)
    return _score(s, region_prompt(s, p), cover > 0.5 * s.graph.area)


def _score(s: ImageStructure, rp: RegionPrompt, sel: np.ndarray) -> float:
    """Quality of a selection for a prompt, in [0, 1]."""
    if not sel.any() or sel.all():
        return 0.0
    g = s.graph
    if rp.box is None and rp.prior is None:
        small = small_labels(s)
        base = objectness(s, sel, small, rp.pos_xy)
    else:
        cs = contour_strength(s, sel)
        ring = _ring(s, sel)
        sep = colour_model.separation(s.hist, sel, ring)
        base = float(np.sqrt(cs / (cs + 0.5) * sep))
    agree = 1.0
    agree *= 0.3 ** int((rp.pos & ~sel).sum()) * 0.3 ** int((rp.neg & sel).sum())
    if rp.inside is not None:
        agree *= _box_fit(s, rp, sel)
    if rp.prior is not None:
        a = g.area
        inter = float((a * rp.prior)[sel].sum())
        union = float(a[sel].sum() + (a * rp.prior)[~sel].sum())
        agree *= 0.7 + 0.3 * inter / max(union, 1e-9)
    return float(np.clip(base * agree, 0.0, 1.0))


def _ring(s: ImageStructure, sel: np.ndarray) -> np.ndarray:
    """(n,) bool: regions adjacent to ``sel`` but not in it."""
    e = s.graph.edges
    out = np.zeros(s.n, bool)
    cross = sel[e[:, 0]] != sel[e[:, 1]]
    out[e[cross, 0]] = True
    out[e[cross, 1]] = True
    return out & ~sel


def _box_fit(s: ImageStructure, rp: RegionPrompt, sel: np.ndarray) -> float:
    """IoU between the selection's bounding box and the prompt box (working pixels)."""
    bb = s.graph.bbox[sel]
    mb = np.array([bb[:, 0].min(), bb[:, 1].min(), bb[:, 2].max(), bb[:, 3].max()], np.float64)
    b = np.asarray(rp.box, np.float64)
    mb = np.array([max(mb[0], b[0]), max(mb[1], b[1]), min(mb[2], b[2]), min(mb[3], b[3])])
    if mb[2] <= mb[0] or mb[3] <= mb[1]:
        return 0.0
    return float((mb[2] - mb[0]) * (mb[3] - mb[1]) / max((b[2] - b[0]) * (b[3] - b[1]), 1e-9))


# --- part and whole ----------------------------------------------------------------------------
def _node_overlap(s: ImageStructure, sel: np.ndarray) -> np.ndarray:
    """(N,) area of every tree node inside the selection."""
    t = s.require_tree()
    acc = np.concatenate([[0.0], np.cumsum((s.graph.area * sel)[t.order])])
    return acc[t.stop] - acc[t.start]


def _part(s: ImageStructure, rp: RegionPrompt, obj: Candidate) -> Candidate:
    t = s.require_tree()
    inside = _node_overlap(s, obj.sel)
    lo, hi = PART_RANGE
    ok = (inside >= 0.9 * t.area) & (t.area >= lo * obj.area) & (t.area <= hi * obj.area)
    if rp.pos.any():  # the part holds a positive point
        pos_nodes = np.zeros(t.parent.size, bool)
        for leaf in np.flatnonzero(rp.pos)[:16]:
            pos_nodes[t.ancestors(int(leaf))] = True
        if (ok & pos_nodes).any():
            ok &= pos_nodes
    nodes = np.flatnonzero(ok)
    if nodes.size:
        nodes = nodes[np.argsort(-t.area[nodes])][:8]
        best, best_score = None, -1.0
        for k in nodes:
            sel = t.member(int(k))
            sc = _score(s, rp, sel) * 0.9
            if sc > best_score:
                best, best_score = sel, sc
        if best is not None:
            return Candidate(
                best, min(best_score, RANK_BELOW * obj.score), obj.kind + "-part", float(s.graph.area[best].sum())
            )
    return _morph(s, rp, obj, grow=False)


def _whole(s: ImageStructure, rp: RegionPrompt, obj: Candidate) -> Candidate:
    t = s.require_tree()
    inside = _node_overlap(s, obj.sel)
    ok = (inside >= 0.9 * obj.area) & (t.area >= WHOLE_MIN * obj.area) & (t.area < 0.95 * s.graph.area.sum())
    if rp.neg.any():
        ok &= _node_overlap(s, rp.neg) == 0
    nodes = np.flatnonzero(ok)
    if nodes.size:
        k = int(nodes[np.argmin(t.area[nodes])])
        sel = t.member(k) | obj.sel
        sc = min(_score(s, rp, sel) * 0.9, RANK_BELOW * obj.score)
        return Candidate(sel, sc, obj.kind + "-whole", float(s.graph.area[sel].sum()))
    return _morph(s, rp, obj, grow=True)


def _morph(s: ImageStructure, rp: RegionPrompt, obj: Candidate, grow: bool) -> Candidate:
    """Fallback part / whole at pixel level: the object's core or the object grown."""
    m = obj.sel[s.labels]
    r = max(1, int(0.2 * np.sqrt(m.sum() / np.pi)))
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    out = cv2.dilate(m.astype(np.uint8), k) if grow else cv2.erode(m.astype(np.uint8), k)
    px = out.astype(bool)
    if not grow and not px.any():
        px = np.zeros_like(m)
        dist = cv2.distanceTransform(np.pad(m, 1).astype(np.uint8), cv2.DIST_L2, 3)[1:-1, 1:-1]
        px[np.unravel_index(int(np.argmax(dist)), m.shape)] = True
    return Candidate(obj.sel, obj.score * 0.8, obj.kind + ("-grown" if grow else "-core"), float(px.sum()), px)


# --- pixels ------------------------------------------------------------------------------------
def _pixels(s: ImageStructure, rp: RegionPrompt, c: Candidate) -> np.ndarray:
    """The candidate's working-resolution mask, clipped to the box, small holes filled."""
    m = c.pixels.copy() if c.pixels is not None else refine_boundary(s, c.sel[s.labels], c.sel)
    if rp.box_mask is not None:
        m &= rp.box_mask
    if m.any():
        m = fill_holes(m, 0.01 * m.sum())
    return m


def _ensure_distinct(
    masks: list[np.ndarray], rows: list[Candidate], rp: RegionPrompt
) -> tuple[list[np.ndarray], list[Candidate]]:
    """Part < object < whole in area and no two rows alike (IoU < 0.95): where a tree level
    coincides with the object, the part becomes the object's core and the whole the object grown."""
    obj = masks[1]
    area = int(obj.sum())
    r = max(2, int(0.15 * np.sqrt(max(area, 1) / np.pi)))
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    if masks[0].sum() >= area or _iou(masks[0], obj) >= 0.95:
        core = cv2.erode(obj.astype(np.uint8), k).astype(bool)
        masks[0] = core if core.any() else _deepest(obj)
        rows[0] = Candidate(rows[1].sel, rows[1].score * 0.8, rows[1].kind + "-core", float(masks[0].sum()))
    if masks[2].sum() <= area or _iou(masks[2], obj) >= 0.95:
        grown = cv2.dilate(obj.astype(np.uint8), k).astype(bool)
        if rp.box_mask is not None and (grown & rp.box_mask).sum() > area * 1.06:
            grown &= rp.box_mask
        masks[2] = grown
        rows[2] = Candidate(rows[1].sel, rows[1].score * 0.8, rows[1].kind + "-grown", float(masks[2].sum()))
    return masks, rows


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    u = int(np.count_nonzero(a | b))
    return float(np.count_nonzero(a & b)) / u if u else 1.0


def _deepest(mask: np.ndarray) -> np.ndarray:
    """A one-pixel mask at the mask's most interior pixel."""
    out = np.zeros_like(mask)
    if mask.any():
        dist = cv2.distanceTransform(np.pad(mask, 1).astype(np.uint8), cv2.DIST_L2, 3)[1:-1, 1:-1]
        out[np.unravel_index(int(np.argmax(dist)), mask.shape)] = True
    return out
