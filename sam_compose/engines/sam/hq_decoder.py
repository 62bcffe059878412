"""SAM-HQ's mask decoder on the fast path of :mod:`.sam_decoder` (same mathematics as ``segment-anything-hq``).

SAM-HQ adds an HQ output token after SAM's mask tokens, an MLP for it, and an HQ feature
map: the image embedding and the ViT's first global-attention features, each upsampled 4x
(prompt-independent, computed once per image by :func:`hq_features`), plus a 3 x 3
refinement of the prompt's upscaled embedding. Each output is SAM's mask plus the HQ mask
(or the HQ mask alone with ``hq_token_only``).

``transformers``' ``SamHQMaskDecoder`` (5.x) upscales the embedding from *before* the
two-way transformer, which the reference does not; this module follows the reference
(tested against ``segment_anything_hq.SamPredictor``).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from .decoder import output_tokens, to_image, two_way, upscale


def _ln2d(x: torch.Tensor, norm: Any) -> torch.Tensor:
    """Channels-first layer norm (N, C, H, W) with ``norm``'s weight, bias and eps."""
    u = x.mean(1, keepdim=True)
    v = (x - u).pow(2).mean(1, keepdim=True)
    x = (x - u) / torch.sqrt(v + norm.eps)
    return norm.weight[:, None, None] * x + norm.bias[:, None, None]


@torch.inference_mode()
def hq_features(decoder: Any, image_embedding: torch.Tensor, vit_features: torch.Tensor) -> torch.Tensor:
    """(1, C/8, 4S, 4S) HQ features from the image embedding (1, C, S, S) and early ViT features (1, S, S, D)."""
    e = decoder.encoder_conv2(F.gelu(_ln2d(decoder.encoder_conv1(image_embedding), decoder.encoder_norm)))
    v = vit_features.permute(0, 3, 1, 2)
    c = decoder.compress_vit_conv2(F.gelu(_ln2d(decoder.compress_vit_conv1(v), decoder.compress_vit_norm)))
    return e + c


@torch.inference_mode()
def decode_hq(
    decoder: Any,
    sparse: torch.Tensor,
    dense: torch.Tensor | None,
    cache: dict[str, torch.Tensor],
    multimask: bool,
    hq_token_only: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """SAM-HQ masks for N prompts on one image.

    ``cache``: :func:`~.sam_decoder.image_side_cache` plus ``"hq"`` (:func:`hq_features`).
    Returns (low-res logits (N, M, 256, 256), IoU (N, M)); with ``multimask`` M = 3, SAM's
    candidates sorted by predicted IoU (best first), each plus the HQ mask.
    """
    n_mask = decoder.mask_tokens.weight.shape[0]  # SAM's tokens (4); the HQ token follows
    cache = dict(cache, lead=output_tokens(decoder))
    queries, keys = two_way(decoder, sparse, dense, cache, 2 + n_mask)
    iou = decoder.iou_prediction_head(queries[:, 0])
    sel = range(1, n_mask) if multimask else range(0, 1)
    hyper = torch.stack([decoder.output_hypernetworks_mlps[j](queries[:, 1 + j]) for j in sel], 1)
    hyper_hq = decoder.hq_mask_mlp(queries[:, 1 + n_mask]).unsqueeze(1)  # (N, 1, C/8)
    z = upscale(decoder, keys, cache)  # (N, 16 L, C/8)
    side = int(round(keys.shape[1] ** 0.5))
    up = to_image(z, side)  # (N, C/8, 4S, 4S)
    h = decoder.mask_conv2(F.gelu(_ln2d(decoder.mask_conv1(up), decoder.mask_norm))) + cache["hq"]
    m_hq = torch.matmul(hyper_hq, h.flatten(2)).view(-1, 1, side * 4, side * 4)
    iou = iou[:, 1:n_mask] if multimask else iou[:, 0:1]
    if hq_token_only:
        masks = m_hq.expand(-1, len(sel), -1, -1)
    else:
        masks = to_image(torch.matmul(z, hyper.transpose(1, 2)), side) + m_hq
    if multimask:
        iou, order = iou.sort(dim=1, descending=True)
        masks = torch.gather(masks, 1, order[:, :, None, None].expand_as(masks))
    return masks.contiguous(), iou
