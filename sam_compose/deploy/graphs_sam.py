"""Export-ready ``torch.nn.Module`` wrappers for SAM v1 / SlimSAM / SAM-HQ (transformers models).

Each wrapper has plain tensor inputs and outputs so ``torch.onnx.export`` can trace it. The
decoders run the engines' own decoder code (:mod:`sam_compose.engines.sam.decoder`,
:mod:`sam_compose.engines.sam.hq_decoder`: the same mathematics as the reference, reorganised
for speed) and keep every mask token.

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

from ..engines.sam.decoder import masks_from_hyper, output_tokens, to_image, two_way, upscale


def _untraced(fn: Any) -> Any:
    """``fn`` without its ``torch.inference_mode`` decorator (tracing needs ordinary tensors)."""
    return getattr(fn, "__wrapped__", fn)


def embed_points(
    coords: torch.Tensor,
    labels: torch.Tensor,
    gauss: torch.Tensor,
    point_embed: torch.Tensor,
    not_a_point: torch.Tensor,
    input_size: int,
) -> torch.Tensor:
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
    forward (:mod:`sam_compose.engines.sam.vision`), without its in-place buffer writes, and
    over chunks of heads so the (heads, N, N) scores of global attention stay small.
    """
    b, h, w, _ = hidden_states.shape
    heads = self.num_attention_heads
    n = h * w
    qkv = self.qkv(hidden_states).reshape(b, n, 3, heads, -1).permute(2, 0, 3, 1, 4)  # (3, B, heads, N, d)
    q, k, v = qkv[0], qkv[1], qkv[2]
    d = q.shape[-1]
    rh = self.get_rel_pos(h, h, self.rel_pos_h) if self.use_rel_pos else None  # (H, H, d)
    rw = self.get_rel_pos(w, w, self.rel_pos_w) if self.use_rel_pos else None  # (W, W, d)
    step = max(1, min(heads, ATTENTION_CHUNK_BYTES // max(1, 4 * n * n)))
    outs = []
    for i in range(0, heads, step):
        qi, ki, vi = q[:, i : i + step], k[:, i : i + step], v[:, i : i + step]
        g = qi.shape[1]
        scores = torch.matmul(qi * self.scale, ki.transpose(-2, -1))  # (B, g, N, N)
        if rh is not None and rw is not None:
            rq = qi.reshape(b, g, h, w, d)
            rel_h = torch.einsum("bnhwc,hkc->bnhwk", rq, rh)
            rel_w = torch.einsum("bnhwc,wkc->bnhwk", rq, rw)
            scores = (scores.reshape(b, g, h, w, h, w) + rel_h.unsqueeze(-1) + rel_w.unsqueeze(-2)).reshape(b, g, n, n)
        outs.append(torch.matmul(scores.softmax(-1), vi))  # (B, g, N, d)
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
        weights = (
            pe.point_embed.weight
            if hasattr(pe.point_embed, "weight")
            else torch.cat([e.weight for e in pe.point_embed], 0)
        )
        self.register_buffer("point_embed", weights.detach().clone())  # (4, C)
        self.register_buffer("not_a_point", pe.not_a_point_embed.weight[0].detach().clone())
        self.register_buffer("no_mask", pe.no_mask_embed.weight[0].detach().clone().view(1, -1, 1, 1))

    def sparse(self, point_coords: torch.Tensor, point_labels: torch.Tensor) -> torch.Tensor:
        """(B, N, C) point and box-corner embeddings."""
        return embed_points(point_coords, point_labels, self.gauss, self.point_embed, self.not_a_point, self.input_size)

    def dense(self, mask_input: torch.Tensor, has_mask_input: torch.Tensor) -> torch.Tensor:
        """(B, C, S, S): the mask prompt's embedding where ``has_mask_input`` is 1, else "no mask"."""
        has = has_mask_input.view(-1, 1, 1, 1)
        return has * self.mask_embed(mask_input) + (1.0 - has) * self.no_mask

    def run_two_way(
        self,
        image_embeddings: torch.Tensor,
        point_coords: torch.Tensor,
        point_labels: torch.Tensor,
        mask_input: torch.Tensor,
        has_mask_input: torch.Tensor,
        n_lead: int,
        cache_extra: dict[str, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """The prompts embedded, then the decoder's two-way transformer over ``n_lead`` output tokens.

        Returns (output tokens (B, n_lead, C), image tokens (B, L, C), the cache for
        :func:`~sam_compose.engines.sam.decoder.upscale`, holding ``cache_extra`` too).
        """
        d = self.decoder
        sparse = self.sparse(point_coords, point_labels)  # (B, N, C)
        dense = self.dense(mask_input, has_mask_input)  # (B, C, S, S)
        cache = {"keys_raw": image_embeddings.flatten(2).transpose(1, 2), "pe": self.image_pe, "lead": output_tokens(d)}
        cache.update(cache_extra or {})
        queries, keys = two_way(d, sparse, dense, cache, n_lead, explicit_softmax=True)
        return queries, keys, cache


class SamDecoderGraph(PromptEncoding):
    """Prompt encoder + mask decoder of a ``transformers`` SamModel, every mask token out."""

    def forward(
        self,
        image_embeddings: torch.Tensor,
        point_coords: torch.Tensor,
        point_labels: torch.Tensor,
        mask_input: torch.Tensor,
        has_mask_input: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        d = self.decoder
        k = d.mask_tokens.weight.shape[0]  # 4
        queries, keys, cache = self.run_two_way(
            image_embeddings, point_coords, point_labels, mask_input, has_mask_input, 1 + k
        )
        iou = d.iou_prediction_head(queries[:, 0])  # (B, 4)
        hyper = torch.stack([d.output_hypernetworks_mlps[j](queries[:, 1 + j]) for j in range(k)], 1)
        z = upscale(d, keys, cache)  # (B, 16 L, C/8)
        return masks_from_hyper(z, hyper, image_embeddings.shape[-1]), iou


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

    The engine's SAM-HQ decoder (:mod:`sam_compose.engines.sam.hq_decoder`, which follows the
    reference ``segment_anything_hq``) with every token kept: row 0 is SAM's single-mask token
    + HQ (multimask off); rows 1..3 are the three candidates + HQ in token order (the engine
    sorts them by predicted IoU, as the reference does).
    """

    def forward(
        self,
        image_embeddings: torch.Tensor,
        intermediate_embeddings: torch.Tensor,
        point_coords: torch.Tensor,
        point_labels: torch.Tensor,
        mask_input: torch.Tensor,
        has_mask_input: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        from ..engines.sam.hq_decoder import _ln2d, hq_features

        d = self.decoder
        side = image_embeddings.shape[-1]
        k = d.mask_tokens.weight.shape[0]  # SAM's 4; HQ follows
        queries, keys, cache = self.run_two_way(
            image_embeddings, point_coords, point_labels, mask_input, has_mask_input, 2 + k
        )
        iou = d.iou_prediction_head(queries[:, 0])[:, :k]  # (B, 4)
        hyper = torch.stack([d.output_hypernetworks_mlps[j](queries[:, 1 + j]) for j in range(k)], 1)
        hyper_hq = d.hq_mask_mlp(queries[:, 1 + k]).unsqueeze(1)  # (B, 1, C/8)
        z = upscale(d, keys, cache)  # (B, 16 L, C/8)
        up = to_image(z, side)  # (B, C/8, 4S, 4S)
        hq = _untraced(hq_features)(d, image_embeddings, intermediate_embeddings)  # (1, C/8, 4S, 4S)
        h = d.mask_conv2(nn.functional.gelu(_ln2d(d.mask_conv1(up), d.mask_norm))) + hq
        m_hq = torch.matmul(hyper_hq, h.flatten(2)).view(-1, 1, side * 4, side * 4)
        return masks_from_hyper(z, hyper, side) + m_hq, iou
