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

from .graphs_sam import PromptEncoding

LOGIT_CLAMP = 32.0
"""SAM 2's image predictor clamps low-res logits to [-32, 32]."""


class Sam2EncoderGraph(nn.Module):
    def __init__(self, model: Any) -> None:
        super().__init__()
        self.model = model

    def forward(self, pixel_values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        s0, s1, emb = self.model.get_image_embeddings(pixel_values)
        return s0, s1, emb


def stable_single(masks: torch.Tensor, iou: torch.Tensor, delta: float, thresh: float):
    """Row 0 of SAM 2's answer: the single-mask token when its mask is stable, else the best candidate.

    ``masks`` (B, 4, H, W), ``iou`` (B, 4) -> (B, H, W), (B,). Stability: area(logits > delta)
    / area(logits > -delta) of the single mask, 1 when both are empty.
    """
    single = masks[:, 0].flatten(1)
    area_i = (single > delta).sum(-1).float()
    area_u = (single > -delta).sum(-1).float()
    stable = torch.where(area_u > 0, area_i / area_u.clamp(min=1.0), torch.ones_like(area_u)) >= thresh
    best = iou[:, 1:].argmax(-1) + 1                                                 # (B,)
    pick = torch.where(stable, torch.zeros_like(best), best)
    onehot = nn.functional.one_hot(pick, masks.shape[1]).to(masks.dtype)             # (B, 4)
    return (masks * onehot[:, :, None, None]).sum(1), (iou * onehot).sum(1)


class Sam2DecoderGraph(PromptEncoding):
    """Prompt encoder + SAM 2 mask decoder (high-resolution skips), every mask token out."""

    def __init__(self, model: Any) -> None:
        super().__init__(model)
        d = self.decoder
        self.dynamic = bool(getattr(d, "dynamic_multimask_via_stability", False))
        self.delta = float(getattr(d, "dynamic_multimask_stability_delta", 0.05))
        self.thresh = float(getattr(d, "dynamic_multimask_stability_thresh", 0.98))

    def forward(self, high_res_feats_0: torch.Tensor, high_res_feats_1: torch.Tensor,
                image_embeddings: torch.Tensor, point_coords: torch.Tensor, point_labels: torch.Tensor,
                mask_input: torch.Tensor, has_mask_input: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        d = self.decoder
        act = d.activation
        sparse = self.sparse(point_coords, point_labels)                                  # (B, N, C)
        dense = self.dense(mask_input, has_mask_input)                                    # (B, C, S, S)
        b = sparse.shape[0]
        _, c, side, _ = image_embeddings.shape
        out_tokens = torch.cat([d.obj_score_token.weight, d.iou_token.weight, d.mask_tokens.weight], 0)
        tokens = torch.cat([out_tokens.unsqueeze(0).expand(b, -1, -1), sparse], 1).unsqueeze(1)  # (B, 1, T, C)
        src = image_embeddings + dense
        pe = self.image_pe.transpose(1, 2).reshape(1, c, side, side).expand(b, -1, -1, -1)
        queries, keys = d.transformer(point_embeddings=tokens, image_embeddings=src,
                                      image_positional_embeddings=pe, attention_similarity=None)
        queries = queries[:, 0]                                                           # (B, T, C)
        k = d.num_mask_tokens
        iou = d.iou_prediction_head(queries[:, 1])                                        # (B, 4)
        mask_tokens = queries[:, 2:2 + k]
        img = keys[:, 0].transpose(1, 2).reshape(b, c, side, side)
        up = act(d.upscale_layer_norm(d.upscale_conv1(img) + high_res_feats_1))
        up = act(d.upscale_conv2(up) + high_res_feats_0)                                  # (B, C/8, 4S, 4S)
        hyper = torch.stack([d.output_hypernetworks_mlps[j](mask_tokens[:, j]) for j in range(k)], 1)
        masks = torch.matmul(hyper, up.reshape(b, up.shape[1], -1)).reshape(b, k, 4 * side, 4 * side)
        if self.dynamic:
            m0, s0 = stable_single(masks, iou, self.delta, self.thresh)
            masks = torch.cat([m0.unsqueeze(1), masks[:, 1:]], 1)
            iou = torch.cat([s0.unsqueeze(1), iou[:, 1:]], 1)
        return masks.clamp(-LOGIT_CLAMP, LOGIT_CLAMP), iou
