"""The weight-free OpenCV engine: promptable segmentation with classical methods.

(First version: GrabCut from boxes, flood fill + GrabCut from points. To be refined.)
Works at a reduced resolution (longest side ``work_size``) and upsamples masks to the
original size. Low-res logits are synthesised from the mask (+/-10) so results can be
fed back as ``Prompt(mask=...)`` like SAM's.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from ..geometry import from_lowres, to_lowres
from ..types import ImageEmbedding, Masks, Prompt
from .base import Engine

LOGIT_SCALE = 10.0


def mask_to_logits(mask: np.ndarray) -> np.ndarray:
    """(H, W) bool -> (256, 256) pseudo-logits in SAM's low-res frame (+/-10, soft at edges)."""
    cov = to_lowres(mask.astype(np.float32), mask.shape, pad_value=0.0)
    return (cov * 2.0 - 1.0) * LOGIT_SCALE


class OpenCVEngine(Engine):
    name = "opencv"

    def __init__(self, spec: str = "opencv", device: str = "cpu", dtype: str = "float32",
                 cache: Any = None, work_size: int = 512) -> None:
        super().__init__(spec, device, dtype, cache)
        self.work_size = int(work_size)

    def _compute_embedding(self, image: np.ndarray, key: str) -> ImageEmbedding:
        h, w = image.shape[:2]
        s = min(1.0, self.work_size / max(h, w))
        work = cv2.resize(image, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA) if s < 1 else image.copy()
        feats = {"work": work, "scale": s}
        return ImageEmbedding(features=feats, image_size=(h, w), input_size=work.shape[:2],
                              engine=self.key, image_key=key, nbytes=int(work.nbytes))

    def _decode(self, image: np.ndarray, embedding: ImageEmbedding, prompts: list[Prompt], multimask: bool) -> Masks:
        work = embedding.features["work"]
        s = embedding.features["scale"]
        size = embedding.image_size
        masks, scores, pidx = [], [], []
        for i, p in enumerate(prompts):
            m = self._segment_one(work, s, size, p)
            cands = [m]
            if multimask:
                k = np.ones((5, 5), np.uint8)
                cands = [cv2.erode(m.astype(np.uint8), k).astype(bool), m, cv2.dilate(m.astype(np.uint8), k).astype(bool)]
            for c in cands:
                full = cv2.resize(c.astype(np.float32), (size[1], size[0]), interpolation=cv2.INTER_LINEAR) > 0.5
                masks.append(full)
                scores.append(_edge_score(work, c))
                pidx.append(i)
        arr = np.stack(masks)
        logits = np.stack([mask_to_logits(m) for m in arr])
        return Masks(arr, scores=scores, logits=logits, prompt_index=pidx)

    def _segment_one(self, work: np.ndarray, s: float, size: tuple[int, int], p: Prompt) -> np.ndarray:
        wh, ww = work.shape[:2]
        gc = np.full((wh, ww), cv2.GC_PR_BGD, np.uint8)
        if p.mask is not None:
            prior = from_lowres(p.mask, size)[0] > 0
            prior = cv2.resize(prior.astype(np.uint8), (ww, wh), interpolation=cv2.INTER_NEAREST).astype(bool)
            gc[prior] = cv2.GC_PR_FGD
        if p.box is not None:
            x0, y0, x1, y1 = (np.asarray(p.box) * s).round().astype(int)
            gc[:] = cv2.GC_BGD
            gc[max(y0, 0):max(y1, 1), max(x0, 0):max(x1, 1)] = cv2.GC_PR_FGD
        elif p.points is not None and p.mask is None:
            region = np.zeros((wh, ww), bool)
            blur = cv2.GaussianBlur(work, (5, 5), 0)
            for (x, y), lab in zip(p.points * s, p.labels):
                if lab != 1:
                    continue
                ff = np.zeros((wh + 2, ww + 2), np.uint8)
                cv2.floodFill(blur.copy(), ff, (int(min(x, ww - 1)), int(min(y, wh - 1))), 0, (12,) * 3, (12,) * 3,
                              cv2.FLOODFILL_MASK_ONLY | cv2.FLOODFILL_FIXED_RANGE | (255 << 8) | 8)
                region |= ff[1:-1, 1:-1] > 0
            if region.any():
                ys, xs = np.nonzero(region)
                mx, my = max(4, int(0.15 * (np.ptp(xs) + 1))), max(4, int(0.15 * (np.ptp(ys) + 1)))
                gc[:] = cv2.GC_BGD
                gc[max(ys.min() - my, 0):ys.max() + my + 1, max(xs.min() - mx, 0):xs.max() + mx + 1] = cv2.GC_PR_BGD
                gc[region] = cv2.GC_PR_FGD
        if p.points is not None:
            for (x, y), lab in zip(p.points * s, p.labels):
                cv2.circle(gc, (int(x), int(y)), 3, int(cv2.GC_FGD if lab == 1 else cv2.GC_BGD), -1)
        if not (gc == cv2.GC_FGD).any() and not (gc == cv2.GC_PR_FGD).any():
            return np.zeros((wh, ww), bool)
        bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
        try:
            cv2.grabCut(work, gc, None, bgd, fgd, 5, cv2.GC_INIT_WITH_MASK)
        except cv2.error:
            pass
        return (gc == cv2.GC_FGD) | (gc == cv2.GC_PR_FGD)

    def _generate(self, image: np.ndarray, embedding: ImageEmbedding, *, points_per_side: int = 16,
                  min_mask_region_area: int = 100) -> Masks:
        work = embedding.features["work"]
        size = embedding.image_size
        wh, ww = work.shape[:2]
        blur = cv2.GaussianBlur(work, (5, 5), 0)
        taken = np.zeros((wh, ww), bool)
        out = []
        for gy in (np.arange(points_per_side) + 0.5) / points_per_side:
            for gx in (np.arange(points_per_side) + 0.5) / points_per_side:
                x, y = int(gx * ww), int(gy * wh)
                if taken[y, x]:
                    continue
                ff = np.zeros((wh + 2, ww + 2), np.uint8)
                cv2.floodFill(blur.copy(), ff, (x, y), 0, (10,) * 3, (10,) * 3,
                              cv2.FLOODFILL_MASK_ONLY | cv2.FLOODFILL_FIXED_RANGE | (255 << 8) | 8)
                reg = ff[1:-1, 1:-1] > 0
                taken |= reg
                out.append(reg)
        full = [cv2.resize(r.astype(np.uint8), (size[1], size[0]), interpolation=cv2.INTER_NEAREST).astype(bool) for r in out]
        full = [m for m in full if m.sum() >= min_mask_region_area]
        if not full:
            return Masks.empty(size)
        arr = np.stack(full)
        return Masks(arr, scores=[_edge_score(work, cv2.resize(m.astype(np.uint8), (ww, wh)) > 0) for m in arr],
                     logits=np.stack([mask_to_logits(m) for m in arr]))


def _edge_score(work: np.ndarray, mask: np.ndarray) -> float:
    """Mean gradient strength along the mask boundary, squashed to [0, 1]."""
    if not mask.any() or mask.all():
        return 0.0
    gray = cv2.cvtColor(work, cv2.COLOR_RGB2GRAY).astype(np.float32)
    g = cv2.magnitude(cv2.Sobel(gray, cv2.CV_32F, 1, 0), cv2.Sobel(gray, cv2.CV_32F, 0, 1))
    m = mask.astype(np.uint8)
    edge = cv2.morphologyEx(m, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0
    return float(1.0 - np.exp(-g[edge].mean() / 100.0))
