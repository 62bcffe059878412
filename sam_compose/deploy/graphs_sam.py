"""Export-ready ``torch.nn.Module`` wrappers for SAM v1 / SlimSAM / SAM-HQ (transformers models).

Each wrapper has plain tensor inputs and outputs so ``torch.onnx.export`` can trace it.

Encoder: ``pixel_values`` (1, 3, 1024, 1024) float32 (resized longest side to 1024,
normalised with SAM's mean/std, zero-padded bottom/right) -> ``image_embeddings``
(1, C, 64, 64) (+ ``intermediate_embeddings`` (K, 1, 64, 64, D) for SAM-HQ).

Decoder (the prompt encoder and the mask decoder together), inputs:

* the encoder's outputs, by the same names;
* ``point_coords`` (B, N, 2) float32: (x, y) in the model input frame (original pixels
  times ``1024 / max(H, W)``); boxes are two points, top-left then bottom-right;
* ``point_labels`` (B, N) float32: 1 foreground, 0 background, 2 box top-left, 3 box
  bottom-right, -1 padding (append one (0, 0) / -1 point when the prompt has no box);
* ``mask_input`` (B, 1, 256, 256) float32 low-res logits in the padded frame, and
  ``has_mask_input`` (B,) float32 1 or 0.

Outputs: ``low_res_masks`` (B, 4, 256, 256) logits in the padded low-res frame and
``iou_predictions`` (B, 4): row 0 answers ``multimask=False``, rows 1..3 are the three
candidates of ``multimask=True``.
"""

from __future__ import annotations

import contextlib
import math
import types
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from ..engines.sam_decoder import decode as _fast_decode

_decode = getattr(_fast_decode, "__wrapped__", _fast_decode)  # the function without inference_mode, for tracing


def embed_points(coords: torch.Tensor, labels: torch.Tensor, gauss: torch.Tensor, point_embed: torch.Tensor,
                 not_a_point: torch.Tensor, input_size: int) -> torch.Tensor:
    """(B, N, 2) input-frame points and (B, N) labels -> (B, N, C) sparse prompt embeddings.

    ``gauss``: (2, C/2) random Fourier matrix; ``point_embed``: (4, C) rows for labels 0..3.
    """
    xy = (coords + 0.5) / input_size * 2.0 - 1.0
    proj = (xy @ gauss) * (2.0 * math.pi)
    emb = torch.cat([torch.sin(proj), torch.cos(proj)], dim=-1)
    lab = labels.unsqueeze(-1)
    emb = torch.where(lab == -1, not_a_point, emb)
    for i in range(point_embed.shape[0]):
        emb = emb + point_embed[i] * (lab == i).to(emb.dtype)
    return emb


ATTENTION_CHUNK_BYTES = 256 * 1024**2
"""Largest (heads, N, N) score block the exported encoder materialises at once: global attention
over 4096 tokens is 64 MB per head, so ViT-B's 12 heads go in chunks of 4 (peak memory a third)."""


def _traceable_attention(self: Any, hidden_states: torch.Tensor, output_attentions: bool = False):
    """SAM ViT attention with decomposed relative positions, in ops every exporter handles.

    (B, H, W, C) tokens -> ((B, H, W, C), None). Same mathematics as the engine's fast
    forward (:mod:`sam_compose.engines.sam_vision`), without its in-place buffer writes, and
    over chunks of heads so the (heads, N, N) scores of global attention stay small.
    """
    b, h, w, _ = hidden_states.shape
    heads = self.num_attention_heads
    n = h * w
    qkv = self.qkv(hidden_states).reshape(b, n, 3, heads, -1).permute(2, 0, 3, 1, 4)  # (3, B, heads, N, d)
    q, k, v = qkv[0], qkv[1], qkv[2]
    d = q.shape[-1]
    rh = self.get_rel_pos(h, h, self.rel_pos_h) if self.use_rel_pos else None          # (H, H, d)
    rw = self.get_rel_pos(w, w, self.rel_pos_w) if self.use_rel_pos else None          # (W, W, d)
    step = max(1, min(heads, ATTENTION_CHUNK_BYTES // max(1, 4 * n * n)))
    outs = []
    for i in range(0, heads, step):
        qi, ki, vi = q[:, i:i + step], k[:, i:i + step], v[:, i:i + step]
        g = qi.shape[1]
        scores = torch.matmul(qi * self.scale, ki.transpose(-2, -1))                   # (B, g, N, N)
        if rh is not None and rw is not None:
            rq = qi.reshape(b, g, h, w, d)
            rel_h = torch.einsum("bnhwc,hkc->bnhwk", rq, rh)
            rel_w = torch.einsum("bnhwc,wkc->bnhwk", rq, rw)
            scores = (scores.reshape(b, g, h, w, h, w) + rel_h.unsqueeze(-1) + rel_w.unsqueeze(-2)).reshape(
                b, g, n, n)
        outs.append(torch.matmul(scores.softmax(-1), vi))                              # (B, g, N, d)
    out = outs[0] if len(outs) == 1 else torch.cat(outs, 1)
    return self.proj(out.transpose(1, 2).reshape(b, h, w, -1)), None


@contextlib.contextmanager
def traceable_vision_attention(model: Any) -> Iterator[int]:
    """Temporarily give every SAM ViT attention module :func:`_traceable_attention`; restores after."""
    patched = []
    for module in model.modules():
        if hasattr(module, "qkv") and hasattr(module, "get_rel_pos") and hasattr(module, "rel_pos_h"):
            patched.append((module, module.__dict__.get("forward")))
            module.forward = types.MethodType(_traceable_attention, module)
    try:
        yield len(patched)
    finally:
        for module, old in patched:
            if old is None:
                del module.forward
            else:
                module.forward = old


class SamEncoderGraph(nn.Module):
    """``pixel_values`` -> ``image_embeddings`` (1, C, 64, 64) with a ``transformers`` SamModel."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.encoder = model.vision_encoder

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.encoder(pixel_values).last_hidden_state


class PromptEncoding(nn.Module):
    """The prompt encoder's weights as buffers, and the sparse/dense prompt embeddings of the graphs.

    ``image_pe`` is the image-wide positional encoding as (1, L, C) tokens.
    """

    decoder: Any
    mask_embed: Any
    image_pe: torch.Tensor
    gauss: torch.Tensor
    point_embed: torch.Tensor
    not_a_point: torch.Tensor
    no_mask: torch.Tensor

    def __init__(self, model: Any) -> None:
        super().__init__()
        pe = model.prompt_encoder
        self.decoder = model.mask_decoder
        self.mask_embed = pe.mask_embed
        self.input_size = int(pe.input_image_size)
        with torch.no_grad():
            image_pe = model.get_image_wide_positional_embeddings()
        self.register_buffer("image_pe", image_pe.flatten(2).transpose(1, 2).contiguous().clone())
        self.register_buffer("gauss", pe.shared_embedding.positional_embedding.detach().clone())
        weights = pe.point_embed.weight if hasattr(pe.point_embed, "weight") else torch.cat(
            [e.weight for e in pe.point_embed], 0)
        self.register_buffer("point_embed", weights.detach().clone())                    # (4, C)
        self.register_buffer("not_a_point", pe.not_a_point_embed.weight[0].detach().clone())
        self.register_buffer("no_mask", pe.no_mask_embed.weight[0].detach().clone().view(1, -1, 1, 1))

    def sparse(self, point_coords: torch.Tensor, point_labels: torch.Tensor) -> torch.Tensor:
        """(B, N, C) point and box-corner embeddings."""
        return embed_points(point_coords, point_labels, self.gauss, self.point_embed, self.not_a_point,
                            self.input_size)

    def dense(self, mask_input: torch.Tensor, has_mask_input: torch.Tensor) -> torch.Tensor:
        """(B, C, S, S): the mask prompt's embedding where ``has_mask_input`` is 1, else "no mask"."""
        has = has_mask_input.view(-1, 1, 1, 1)
        return has * self.mask_embed(mask_input) + (1.0 - has) * self.no_mask


class SamDecoderGraph(PromptEncoding):
    """Prompt encoder + mask decoder of a ``transformers`` SamModel, every mask token out."""

    def forward(self, image_embeddings: torch.Tensor, point_coords: torch.Tensor, point_labels: torch.Tensor,
                mask_input: torch.Tensor, has_mask_input: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        sparse = self.sparse(point_coords, point_labels)
        dense = self.dense(mask_input, has_mask_input)
        cache = {"keys_raw": image_embeddings.flatten(2).transpose(1, 2), "pe": self.image_pe}
        return _decode(self.decoder, sparse, dense, cache, None)


class SamHQEncoderGraph(nn.Module):
    """``pixel_values`` -> ``image_embeddings`` (1, C, 64, 64) and ``intermediate_embeddings``
    (1, 64, 64, D): the output of the ViT's first global-attention block (``transformers`` SamHQModel)."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.encoder = model.vision_encoder

    def forward(self, pixel_values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.encoder(pixel_values)
        return out.last_hidden_state, out.intermediate_embeddings[0]


class SamHQDecoderGraph(PromptEncoding):
    """Prompt encoder + HQ mask decoder: rows are SAM's four mask tokens, each plus the HQ mask.

    Follows the SAM-HQ reference (``segment_anything_hq``'s ``MaskDecoderHQ``): the HQ
    features are the image embedding and the early ViT features, each upscaled 4x; the
    SAM masks are upscaled from the two-way transformer's output image tokens. Row 0 is
    SAM's single-mask token + HQ (multimask off); rows 1..3 are the three candidates + HQ.
    """

    def forward(self, image_embeddings: torch.Tensor, intermediate_embeddings: torch.Tensor,
                point_coords: torch.Tensor, point_labels: torch.Tensor, mask_input: torch.Tensor,
                has_mask_input: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        d = self.decoder
        act = d.activation
        sparse = self.sparse(point_coords, point_labels)                                  # (B, N, C)
        dense = self.dense(mask_input, has_mask_input)                                    # (B, C, S, S)
        b = sparse.shape[0]
        _, c, side, _ = image_embeddings.shape
        vit = intermediate_embeddings.permute(0, 3, 1, 2)
        hq = d.encoder_conv2(act(d.encoder_norm(d.encoder_conv1(image_embeddings))))
        hq = hq + d.compress_vit_conv2(act(d.compress_vit_norm(d.compress_vit_conv1(vit))))  # (1, C/8, 4S, 4S)
        out_tokens = torch.cat([d.iou_token.weight, d.mask_tokens.weight, d.hq_token.weight], 0)
        tokens = torch.cat([out_tokens.unsqueeze(0).expand(b, -1, -1), sparse], 1).unsqueeze(1)  # (B, 1, T, C)
        src = image_embeddings + dense                                                     # (B, C, S, S)
        pe = self.image_pe.transpose(1, 2).reshape(1, c, side, side).expand(b, -1, -1, -1)
        queries, keys = d.transformer(point_embeddings=tokens, image_embeddings=src, image_positional_embeddings=pe,
                                      attention_similarity=None)
        queries = queries[:, 0]                                                            # (B, T, C)
        k = d.num_mask_tokens                                                              # SAM's 4 + HQ
        iou = d.iou_prediction_head(queries[:, 0])[:, : k - 1]                             # (B, 4)
        mask_tokens = queries[:, 1:1 + k]
        img = keys[:, 0].transpose(1, 2).reshape(b, c, side, side)
        up = act(d.upscale_layer_norm(d.upscale_conv1(img)))
        up = act(d.upscale_conv2(up))                                                      # (B, C/8, 4S, 4S)
        up_hq = d.mask_conv2(act(d.mask_norm(d.mask_conv1(up)))) + hq
        hyper = torch.stack([d.output_hypernetworks_mlps[j](mask_tokens[:, j]) for j in range(k - 1)], 1)
        hyper_hq = d.hq_mask_mlp(mask_tokens[:, k - 1]).unsqueeze(1)                       # (B, 1, C/8)
        cc = up.shape[1]
        masks = torch.matmul(hyper, up.reshape(b, cc, -1))                                 # (B, 4, 16 S^2)
        masks = masks + torch.matmul(hyper_hq, up_hq.reshape(b, cc, -1))
        return masks.reshape(b, k - 1, 4 * side, 4 * side), iou
