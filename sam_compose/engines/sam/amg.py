"""Automatic mask generation for SAM-family engines, organised for speed.

Same parameters and semantics as ``segment_anything.SamAutomaticMaskGenerator``: a grid of
single-point prompts (per crop layer), 3 candidate masks per point, filtering by predicted
IoU and stability score, box NMS per crop and across crops, optional removal of small
holes/islands. What differs is the order of work:

1. points are decoded ``points_per_batch`` at a time with the batched decoder, producing
   only low-res logits (no per-mask upsampling);
2. the predicted-IoU filter runs first (free), then the stability score is estimated on the
   low-res logits and clear failures (more than ``LOWRES_MARGIN`` below the threshold) are
   dropped;
3. only the survivors are upsampled (exact linear map, in memory-bounded chunks) to compute the exact
   stability score and box, and only the NMS survivors are upsampled again for the output.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from itertools import product
from typing import Any

import numpy as np

from ...errors import InputError
from ...geometry import LOWRES_SIZE, lowres_shape
from ...masks import Masks
from ...security.deadlines import checkpoint
from ...types import ImageEmbedding
from .transforms import upsample_chunk, upsample_logits

LOWRES_MARGIN = 0.05
"""Low-res stability may undershoot the exact value a little; keep masks within this margin."""


@dataclass(frozen=True)
class AmgParams:
    points_per_side: int = 32
    points_per_batch: int = 64
    pred_iou_thresh: float = 0.88
    stability_score_thresh: float = 0.95
    stability_score_offset: float = 1.0
    box_nms_thresh: float = 0.7
    crop_n_layers: int = 0
    crop_nms_thresh: float = 0.7
    crop_overlap_ratio: float = 512 / 1500
    crop_n_points_downscale_factor: int = 1
    min_mask_region_area: int = 0

    def validate(self) -> None:
        if int(self.points_per_side) < 1:
            raise InputError(f"points_per_side must be >= 1, got {self.points_per_side}")
        if int(self.points_per_batch) < 1:
            raise InputError(f"points_per_batch must be >= 1, got {self.points_per_batch}")
        if not 0 <= int(self.crop_n_layers) <= 4:
            raise InputError(f"crop_n_layers must be between 0 and 4, got {self.crop_n_layers}")
        if int(self.crop_n_points_downscale_factor) < 1:
            raise InputError("crop_n_points_downscale_factor must be >= 1")
        for name in ("box_nms_thresh", "crop_nms_thresh", "crop_overlap_ratio"):
            v = float(getattr(self, name))
            if not 0.0 <= v <= 1.0:
                raise InputError(f"{name} must be in [0, 1], got {v}")
        if self.min_mask_region_area < 0:
            raise InputError("min_mask_region_area must be >= 0")


def amg_params() -> dict[str, Any]:
    """The generator's parameters with their defaults (:class:`AmgParams`), in the reference's order."""
    return {f.name: f.default for f in fields(AmgParams)}


def point_grid(n: int) -> np.ndarray:
    """(n*n, 2) normalised (x, y) cell centres, x varying fastest (the reference's order)."""
    off = 1.0 / (2 * n)
    side = np.linspace(off, 1 - off, n)
    xs = np.tile(side[None, :], (n, 1))
    ys = np.tile(side[:, None], (1, n))
    return np.stack([xs, ys], axis=-1).reshape(-1, 2)


def crop_boxes(size: tuple[int, int], n_layers: int, overlap_ratio: float) -> tuple[list[list[int]], list[int]]:
    """Crop boxes (x0, y0, x1, y1) per layer: the full image, then 2^k x 2^k overlapping tiles."""
    h, w = size
    boxes, layers = [[0, 0, w, h]], [0]
    short = min(h, w)
    for layer in range(n_layers):
        n = 2 ** (layer + 1)
        overlap = int(overlap_ratio * short * (2 / n))
        cw = int(math.ceil((overlap * (n - 1) + w) / n))
        ch = int(math.ceil((overlap * (n - 1) + h) / n))
        x0s = [int((cw - overlap) * i) for i in range(n)]
        y0s = [int((ch - overlap) * i) for i in range(n)]
        for x0, y0 in product(x0s, y0s):
            boxes.append([x0, y0, min(x0 + cw, w), min(y0 + ch, h)])
            layers.append(layer + 1)
    return boxes, layers


def mask_boxes_inclusive(masks):
    """(N, H, W) bool tensor -> (N, 4) boxes x0, y0, x_last, y_last (zeros for empty masks)."""
    import torch

    n, h, w = masks.shape
    if n == 0:
        return torch.zeros((0, 4), device=masks.device)
    rows = masks.any(2)
    cols = masks.any(1)
    ar_h = torch.arange(h, device=masks.device)
    ar_w = torch.arange(w, device=masks.device)
    y1 = torch.where(rows, ar_h, -1).amax(1)
    y0 = torch.where(rows, ar_h, h).amin(1)
    x1 = torch.where(cols, ar_w, -1).amax(1)
    x0 = torch.where(cols, ar_w, w).amin(1)
    empty = y1 < 0
    out = torch.stack([x0, y0, x1, y1], 1).float()
    out[empty] = 0
    return out


def nms(boxes, scores, thresh: float):
    """Greedy non-maximum suppression; returns kept indices in descending score order."""
    import torch

    if len(boxes) == 0:
        return torch.zeros(0, dtype=torch.long)
    order = torch.argsort(scores, descending=True, stable=True)
    b = boxes[order].double()
    area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    lt = torch.maximum(b[:, None, :2], b[None, :, :2])
    rb = torch.minimum(b[:, None, 2:], b[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    union = area[:, None] + area[None, :] - inter
    iou = torch.where(union > 0, inter / union.clamp(min=1e-12), torch.zeros_like(inter))
    over = (iou > thresh).cpu().numpy()
    n = len(order)
    removed = np.zeros(n, dtype=bool)
    keep = []
    for i in range(n):
        if removed[i]:
            continue
        keep.append(i)
        removed |= over[i]
    return order[torch.as_tensor(keep, dtype=torch.long)]


def _stability(logits, offset: float):
    """(N, h, w) logits -> stability score: area(>+offset) / area(>-offset)."""
    inter = (logits > offset).flatten(1).sum(1).float()
    union = (logits > -offset).flatten(1).sum(1).float()
    return inter / union.clamp(min=1)


def _near_crop_edge(boxes, crop: list[int], full: list[int], atol: float = 20.0):
    import torch

    cb = torch.as_tensor(crop, dtype=torch.float, device=boxes.device)
    ob = torch.as_tensor(full, dtype=torch.float, device=boxes.device)
    off = torch.as_tensor([crop[0], crop[1], crop[0], crop[1]], device=boxes.device)
    ub = boxes + off
    near_crop = torch.isclose(ub, cb[None], atol=atol, rtol=0)
    near_img = torch.isclose(ub, ob[None], atol=atol, rtol=0)
    return (near_crop & ~near_img).any(1)


def _remove_small(mask: np.ndarray, area: int, mode: str) -> tuple[np.ndarray, bool]:
    import cv2

    holes = mode == "holes"
    work = (holes ^ mask).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(work, connectivity=8)
    sizes = stats[1:, -1]
    small = [i + 1 for i, s in enumerate(sizes) if s < area]
    if not small:
        return mask, False
    fill = [0] + small
    if not holes:
        fill = [i for i in range(n) if i not in fill] or [int(np.argmax(sizes)) + 1]
    return np.isin(labels, fill), True


def generate_masks(engine: Any, image: np.ndarray, embedding: ImageEmbedding, p: AmgParams) -> Masks:
    """Automatic masks for ``image`` with a SAM-family ``engine`` (see the module docstring)."""
    import torch

    p.validate()
    h, w = image.shape[:2]
    boxes, layers = crop_boxes((h, w), int(p.crop_n_layers), float(p.crop_overlap_ratio))
    recs: list[dict[str, Any]] = []
    for crop, layer in zip(boxes, layers):
        n_side = max(1, int(p.points_per_side / (p.crop_n_points_downscale_factor**layer)))
        recs.append(_process_crop(engine, image, embedding, crop, n_side, p, (h, w)))
    data = {k: torch.cat([r[k] for r in recs]) for k in recs[0]}
    if len(boxes) > 1 and len(data["scores"]):
        cb = data["crop"].float()
        prio = 1.0 / ((cb[:, 2] - cb[:, 0]) * (cb[:, 3] - cb[:, 1]))
        keep = nms(data["boxes"], prio, float(p.crop_nms_thresh))
        data = {k: v[keep] for k, v in data.items()}
    full = _render(engine, image, embedding, data, (h, w))
    masks = full
    if p.min_mask_region_area > 0 and len(masks):
        masks, data = _postprocess_small(
            masks, data, int(p.min_mask_region_area), max(float(p.box_nms_thresh), float(p.crop_nms_thresh))
        )
    logits = None
    if len(boxes) == 1:
        logits = engine.lowres_to_padded(data["lowres"], (h, w)).cpu().numpy()
    return Masks(
        masks,
        scores=data["scores"].cpu().numpy(),
        logits=logits,
        rows={
            "stability_score": data["stability"].cpu().numpy(),
            "point_coords": data["points"].cpu().numpy(),
            "crop_box": data["crop"].cpu().numpy(),
        },
    )


def _process_crop(
    engine: Any,
    image: np.ndarray,
    embedding: ImageEmbedding,
    crop: list[int],
    n_side: int,
    p: AmgParams,
    size: tuple[int, int],
) -> dict[str, Any]:
    import torch

    x0, y0, x1, y1 = crop
    h, w = size
    if [x0, y0, x1, y1] == [0, 0, w, h]:
        emb = embedding
        sub = image
    else:
        sub = np.ascontiguousarray(image[y0:y1, x0:x1])
        emb = engine.embed(sub)
    ch, cw = sub.shape[:2]
    pts = point_grid(n_side) * np.array([cw, ch])[None, :]
    lh, lw = lowres_shape((ch, cw)) if engine.lowres_frame == "sam" else (LOWRES_SIZE, LOWRES_SIZE)
    out: dict[str, list[Any]] = {k: [] for k in ("lowres", "scores", "stability", "boxes", "points")}
    dev = engine.device
    off = float(p.stability_score_offset)
    with torch.inference_mode():
        for s in range(0, len(pts), int(p.points_per_batch)):
            checkpoint()  # a deadline stops automatic mask generation between point batches
            bp = pts[s : s + int(p.points_per_batch)]
            inp = torch.as_tensor(engine.to_input_frame_points(bp, (ch, cw)), dtype=torch.float32, device=dev)
            lab = torch.ones((len(bp), 1), dtype=torch.int64, device=dev)
            lr, iou = engine.decode_group(emb.features, inp[:, None, :], lab, None, None, True)
            lr = lr.float().flatten(0, 1)
            iou = iou.float().flatten(0, 1)
            if engine.lowres_frame != "sam":  # the model's own low-res size (256 for SAM 2, 288 for SAM 3)
                lh, lw = int(lr.shape[-2]), int(lr.shape[-1])
            ptsb = torch.as_tensor(np.repeat(bp, 3, axis=0), dtype=torch.float32)
            keep = iou > p.pred_iou_thresh if p.pred_iou_thresh > 0 else torch.ones_like(iou, dtype=torch.bool)
            if p.stability_score_thresh > 0:
                est = _stability(lr[:, :lh, :lw], off)
                keep &= est >= p.stability_score_thresh - LOWRES_MARGIN
            idx = torch.nonzero(keep).flatten()
            chunk = upsample_chunk((ch, cw))
            for c in range(0, len(idx), chunk):
                sel = idx[c : c + chunk]
                full = upsample_logits(lr[sel], (ch, cw), engine.lowres_frame)
                stab = _stability(full, off)
                good = (
                    stab >= p.stability_score_thresh
                    if p.stability_score_thresh > 0
                    else torch.ones_like(stab, dtype=torch.bool)
                )
                bx = mask_boxes_inclusive(full > 0)
                if [x0, y0, x1, y1] != [0, 0, w, h]:
                    good &= ~_near_crop_edge(bx, crop, [0, 0, w, h])
                g = torch.nonzero(good).flatten()
                if len(g) == 0:
                    continue
                out["lowres"].append(lr[sel][g])
                out["scores"].append(iou[sel][g])
                out["stability"].append(stab[g])
                out["boxes"].append(bx[g])
                out["points"].append(ptsb[sel.cpu()][g.cpu()])
    if not out["scores"]:
        empty = torch.zeros(0, device=dev)
        return {
            "lowres": torch.zeros((0, LOWRES_SIZE, LOWRES_SIZE), device=dev),
            "scores": empty,
            "stability": empty,
            "boxes": torch.zeros((0, 4), device=dev),
            "points": torch.zeros((0, 2)),
            "crop": torch.zeros((0, 4), dtype=torch.long),
        }
    d = {k: torch.cat(v) for k, v in out.items()}
    keep = nms(d["boxes"], d["scores"], float(p.box_nms_thresh))
    d = {k: v[keep.to(v.device)] for k, v in d.items()}
    off_t = torch.as_tensor([x0, y0, x0, y0], dtype=torch.float32, device=d["boxes"].device)
    d["boxes"] = d["boxes"] + off_t
    d["points"] = d["points"] + torch.as_tensor([x0, y0], dtype=torch.float32)
    d["crop"] = torch.as_tensor([crop] * len(d["scores"]), dtype=torch.long)
    return d


def _render(
    engine: Any, image: np.ndarray, embedding: ImageEmbedding, data: dict[str, Any], size: tuple[int, int]
) -> np.ndarray:
    """Upsample the kept low-res logits to (N, H, W) bool masks at the original size."""
    import torch

    h, w = size
    n = len(data["scores"])
    out = np.zeros((n, h, w), dtype=bool)
    with torch.inference_mode():
        chunk = upsample_chunk(size)
        for i in range(0, n, chunk):
            crops = data["crop"][i : i + chunk].tolist()
            lr = data["lowres"][i : i + chunk]
            # rows of one crop are upsampled together at that crop's size
            uniq = {tuple(c) for c in crops}
            for c in uniq:
                rows = [j for j, cc in enumerate(crops) if tuple(cc) == c]
                x0, y0, x1, y1 = c
                full = upsample_logits(lr[rows], (y1 - y0, x1 - x0), engine.lowres_frame) > 0
                out[[i + j for j in rows], y0:y1, x0:x1] = full.cpu().numpy()
    return out


def _postprocess_small(masks: np.ndarray, data: dict[str, Any], area: int, thresh: float):
    import torch

    new, scores = [], []
    for m in masks:
        m2, changed_h = _remove_small(m, area, "holes")
        m2, changed_i = _remove_small(m2, area, "islands")
        new.append(m2)
        scores.append(0.0 if (changed_h or changed_i) else 1.0)
    arr = np.stack(new)
    bx = mask_boxes_inclusive(torch.from_numpy(arr))
    keep = nms(bx, torch.as_tensor(scores), thresh)
    k = keep.cpu().numpy()
    data = {key: v[keep.to(v.device)] for key, v in data.items()}
    return arr[k], data
