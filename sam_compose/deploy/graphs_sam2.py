"""Export-ready wrappers for SAM 2 / 2.1 in image mode (``transformers.Sam2Model``).

Encoder: ``pixel_values`` (1, 3, 1024, 1024) float32 (the image stretched to 1024 x 1024,
normalised, no padding) -> ``high_res_feats_0`` (1, C/8, 256, 256), ``high_res_feats_1``
(1, C/4, 128, 128) and ``image_embeddings`` (1, C, 64, 64) (the no-memory embedding added,
as in image mode).

Decoder: the encoder's outputs plus the prompt inputs of :mod:`.graphs_sam` (coordinates
in the stretched 1024 frame; SAM 2 always takes one padding point). Outputs
``low_res_masks`` (B, 4, 256, 256) logits covering the whole image and ``iou_predictions``
(B, 4): rows 1..3 are the three candidates; row 0 is SAM 2's single-mask answer, i.e. the
single-mask token, or the best candidate when that mask is unstable (SAM 2's
``dynamic_multimask_via_stability``). Logits are clamped to [-32, 32] like the reference.

Prompt order as in Meta's ``SAM2ImagePredictor``: box corners (labels 2, 3) first, then the
points, then one padding point; a prompt with only a mask has no points at all (N = 0).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..engines.sam.decoder import (
    _stable_single,
    high_res_cache,
    masks_from_hyper,
    upscale,
)
from ..engines.sam2.image import LOGIT_CLAMP
from .graphs_sam import PromptEncoding, _untraced


class Sam2EncoderGraph(nn.Module):
    def __init__(self, model: Any) -> None:
        super().__init__()
        self.model = model

    def forward(self, pixel_values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        s0, s1, emb = self.model.get_image_embeddings(pixel_values)
        return s0, s1, emb


class Sam2DecoderGraph(PromptEncoding):
    """Prompt encoder + SAM 2 mask decoder (high-resolution skips), every mask token out."""

    def __init__(self, model: Any) -> None:
        super().__init__(model)
        d = self.decoder
        self.dynamic = bool(getattr(d, "dynamic_multimask_via_stability", False))
        self.delta = float(getattr(d, "dynamic_multimask_stability_delta", 0.05))
        self.thresh = float(getattr(d, "dynamic_multimask_stability_thresh", 0.98))

    def forward(
        self,
        high_res_feats_0: torch.Tensor,
        high_res_feats_1: torch.Tensor,
        image_embeddings: torch.Tensor,
        point_coords: torch.Tensor,
        point_labels: torch.Tensor,
        mask_input: torch.Tensor,
        has_mask_input: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        d = self.decoder
        k = d.mask_tokens.weight.shape[0]  # 4
        queries, keys, cache = self.run_two_way(  # tokens [obj, iou, masks]
            image_embeddings,
            point_coords,
            point_labels,
            mask_input,
            has_mask_input,
            2 + k,
            _untraced(high_res_cache)(high_res_feats_0, high_res_feats_1),
        )
        iou = d.iou_prediction_head(queries[:, 1])  # (B, 4)
        hyper = torch.stack([d.output_hypernetworks_mlps[j](queries[:, 2 + j]) for j in range(k)], 1)
        z = upscale(d, keys, cache)
        masks = masks_from_hyper(z, hyper, image_embeddings.shape[-1])  # (B, 4, 4S, 4S)
        if self.dynamic:
            m0, s0 = _stable_single(masks, iou, self.delta, self.thresh)
            masks = torch.cat([m0, masks[:, 1:]], 1)
            iou = torch.cat([s0, iou[:, 1:]], 1)
        return masks.clamp(-LOGIT_CLAMP, LOGIT_CLAMP), iou
