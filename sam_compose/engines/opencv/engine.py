"""``OpenCVEngine``: the weight-free engine, in SAM's two phases.

* ``embed`` (cached per image by the :class:`~sam_compose.engines.base.Engine` base class):
  :func:`.structure.build_structure` -- working image, superpixels, boundary map, colour
  words, region graph, region tree, affinities. Costs about one plain GrabCut run.
* ``segment``: :func:`.decode.answer` per prompt -- a walk up the region tree, a geodesic
  split and/or a graph cut on a few thousand regions, milliseconds to tens of ms -- then
  the masks go back to the original size (:func:`.upsample.upsample_mask`) with low-res
  logits for feeding back.
* ``generate``: a partition of the image at a few nested levels of the same tree
  (:mod:`.automatic`).

See docs/opencv_engine.md for the method and measured quality.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...errors import InputError
from ...geometry import small_mask_to_logits
from ...masks import Masks
from ...types import ImageEmbedding, Prompt
from ..base import Engine
from .automatic import automatic_regions
from .decode import answer
from .structure import ImageStructure, build_structure
from .upsample import upsample_mask


class OpenCVEngine(Engine):
    """Promptable segmentation without weights: superpixels, a region tree and graph cuts.

    Args:
        work_size: longest side (pixels) of the working image every prompt is answered
            on; larger images are reduced to it (bounded time and memory) and masks are
            upsampled edge-aware.
        region_px: target superpixel area in working pixels (smaller: finer, slower).
        roi_size: accepted for compatibility with earlier releases; unused.
        iterations: colour-model / graph-cut rounds per prompt.
    """

    name = "opencv"

    def __init__(
        self,
        spec: str = "opencv",
        device: str = "cpu",
        dtype: str = "float32",
        cache: Any = None,
        work_size: int = 512,
        roi_size: int = 320,
        iterations: int = 4,
        region_px: float = 100.0,
    ) -> None:
        super().__init__(spec, device, dtype, cache)
        if int(work_size) < 16 or int(iterations) < 1 or not 4 <= float(region_px) <= 10000:
            raise InputError(
                f"OpenCVEngine needs work_size >= 16, iterations >= 1 and region_px in 4..10000, "
                f"got {work_size}, {iterations}, {region_px}"
            )
        self.work_size = int(work_size)
        self.roi_size = int(roi_size)
        self.iterations = int(iterations)
        self.region_px = float(region_px)

    # --- embedding ----------------------------------------------------------------------
    def _compute_embedding(self, image: np.ndarray, key: str) -> ImageEmbedding:
        s = build_structure(image, self.work_size, self.region_px)
        return ImageEmbedding(
            features=s,
            image_size=(int(image.shape[0]), int(image.shape[1])),
            input_size=s.work.size,
            engine=self.key,
            image_key=key,
            nbytes=s.nbytes,
        )

    # --- prompts ------------------------------------------------------------------------
    def _decode(self, image: np.ndarray, embedding: ImageEmbedding, prompts: list[Prompt], multimask: bool) -> Masks:
        s: ImageStructure = embedding.features
        size = embedding.image_size
        rows: list[np.ndarray] = []
        small: list[np.ndarray] = []
        scores: list[float] = []
        pidx: list[int] = []
        kinds: list[str] = []
        for i, p in enumerate(prompts):
            a = answer(s, p, multimask, iterations=self.iterations)
            clips = a.clip or [None] * len(a.masks)
            for m, sc, kind, clip in zip(a.masks, a.scores, a.kinds, clips):
                full = self._to_full(image, m, clip)
                rows.append(full)
                small.append(m)
                scores.append(sc if full.any() else 0.0)
                pidx.append(i)
                kinds.append(kind)
        logits = np.stack([small_mask_to_logits(m, size) for m in small])
        return Masks(np.stack(rows), scores=scores, logits=logits, prompt_index=pidx, data={"candidates": kinds})

    @staticmethod
    def _to_full(image: np.ndarray, mask: np.ndarray, clip: np.ndarray | None) -> np.ndarray:
        full = upsample_mask(mask, image)
        if clip is not None and full.any() and full.shape != mask.shape:
            x0, y0, x1, y1 = clip
            inside = np.zeros(full.shape, bool)
            inside[int(np.floor(y0)) : int(np.ceil(y1)), int(np.floor(x0)) : int(np.ceil(x1))] = True
            full &= inside
        return full

    # --- automatic masks ------------------------------------------------------------------
    def _generate(
        self,
        image: np.ndarray,
        embedding: ImageEmbedding,
        *,
        levels: int = 3,
        min_mask_region_area: int = 100,
        max_area_fraction: float = 0.9,
        score_thresh: float = 0.1,
        points_per_side: int | None = None,
        box_nms_thresh: float | None = None,
        **_checked: Any,
    ) -> Masks:
        """Automatic regions: the region tree cut at ``levels`` nested heights.

        Level 0 is the coarsest partition. ``min_mask_region_area`` is in original-image
        pixels; regions over ``max_area_fraction`` of the image or scoring below
        ``score_thresh`` are dropped. ``points_per_side`` and ``box_nms_thresh`` are
        accepted for compatibility with SAM's generator and ignored (there is no grid of
        points and regions of one level never overlap). ``generate`` has already refused any
        other name (``_checked`` is always empty; it keeps the base class's signature).
        """
        if not 1 <= int(levels) <= 6:
            raise InputError(f"levels must be in 1..6, got {levels}")
        if points_per_side is not None and not 1 <= int(points_per_side) <= 128:
            raise InputError(f"points_per_side must be in 1..128, got {points_per_side}")
        if not 0 < float(max_area_fraction) <= 1:
            raise InputError(f"max_area_fraction must be in (0, 1], got {max_area_fraction}")
        if box_nms_thresh is not None and not 0 < float(box_nms_thresh) <= 1:
            raise InputError(f"box_nms_thresh must be in (0, 1], got {box_nms_thresh}")
        s: ImageStructure = embedding.features
        size = embedding.image_size
        sy, sx = s.work.scale
        min_area = max(1.0, float(min_mask_region_area) * sx * sy)
        regions = automatic_regions(
            s,
            levels=int(levels),
            min_area=min_area,
            max_area_fraction=float(max_area_fraction),
            score_threshold=float(score_thresh),
        )
        if not regions:
            return Masks.empty(size)
        full = np.stack([upsample_mask(r.mask, image, edge_aware=False) for r in regions])
        logits = np.stack([small_mask_to_logits(r.mask, size) for r in regions])
        return Masks(
            full,
            scores=[r.score for r in regions],
            logits=logits,
            rows={
                "level": np.array([r.level for r in regions], np.int64),
                "parent": np.array([r.parent for r in regions], np.int64),
            },
        )
