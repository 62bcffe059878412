"""A fast, exact re-arrangement of SAM's (and SAM 2's) mask decoder forward pass.

Same weights and same mathematics as ``transformers.SamMaskDecoder`` / ``Sam2MaskDecoder``
(and Meta's ``MaskDecoder`` of ``segment_anything`` and ``sam2``), reorganised for many
prompts on one image:

* the image side of the first two-way block does not depend on the prompt when no mask is
  given: its key/value projections are computed once per image (:func:`image_side_cache`)
  and shared by every prompt;
* cross-attention between the few prompt tokens and the 4096 image tokens is re-associated
  so no 4096 x 256 projection is repeated per prompt: ``softmax(q (X Wk)^T) (X Wv)`` becomes
  ``softmax((q Wk) X^T) X Wv`` (the key bias only shifts a row of scores; the value bias
  passes through because attention rows sum to one), and image->token attention applies
  the output projection to the tokens before attending;
* the transposed convolutions (kernel 2, stride 2) are plain matmuls over channels-last
  tensors, and the hypernetwork product runs in their sub-pixel layout; only the final
  (N, M, 256, 256) logits are permuted into image order. SAM 2's high-resolution features
  are added in that layout too (rearranged once per image, :func:`high_res_cache`).

SAM 2's decoder differs from SAM's in three places, all handled here: an object-score token
before the IoU token, the high-resolution skip connections in the upscaling, and (single-mask
output) the fallback to the best multimask candidate when the single mask is not stable.

Shapes: image embedding (1, C, 64, 64); sparse prompts (N, T, C); dense prompts (1 or N,
C, 64, 64). Outputs: low-res logits (N, M, 256, 256) and IoU predictions (N, M), with M = 3
(multimask) or 1.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from .. import onednn


def _split(x: torch.Tensor, heads: int) -> torch.Tensor:
    """(B, L, D) -> (B, heads, L, D/heads)."""
    b, n, d = x.shape
    return x.view(b, n, heads, d // heads).transpose(1, 2)


def _merge(x: torch.Tensor) -> torch.Tensor:
    b, h, n, d = x.shape
    return x.transpose(1, 2).reshape(b, n, h * d)


def _out_proj(attn: Any) -> Any:
    """The attention's output projection (``out_proj`` in SAM, ``o_proj`` in SAM 2)."""
    return attn.o_proj if hasattr(attn, "o_proj") else attn.out_proj


def _attend_small(attn: Any, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Plain attention among prompt tokens (short sequences)."""
    h = attn.num_attention_heads
    qh = _split(attn.q_proj(q), h)
    kh = _split(attn.k_proj(k), h)
    vh = _split(attn.v_proj(v), h)
    out = F.scaled_dot_product_attention(qh, kh, vh, scale=attn.scaling)
    return _out_proj(attn)(_merge(out))


def _token_to_image(
    attn: Any,
    q: torch.Tensor,
    keys_pe: torch.Tensor | None,
    keys: torch.Tensor,
    kv: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> torch.Tensor:
    """Prompt tokens (N, T, C) attend to image tokens (B, L, C), B in {1, N}.

    ``kv``: precomputed projected keys/values (B, heads, L, d) (first block, no mask input);
    without them ``keys_pe`` (keys plus position encoding) is needed.
    """
    h = attn.num_attention_heads
    qh = _split(attn.q_proj(q), h)  # (N, h, T, d)
    if kv is not None:
        kh, vh = kv
        scores = torch.matmul(qh, kh.transpose(-1, -2)) * attn.scaling  # (N, h, T, L)
        out = torch.matmul(scores.softmax(-1), vh)  # (N, h, T, d)
        return _out_proj(attn)(_merge(out))
    if keys_pe is None:
        raise ValueError("token-to-image attention needs keys_pe when no projected keys/values are given")
    d = qh.shape[-1]
    wk = attn.k_proj.weight.view(h, d, -1)  # (h, d, C)
    wv = attn.v_proj.weight.view(h, d, -1)
    qk = torch.matmul(qh, wk)  # (N, h, T, C)
    n, _, t, c = qk.shape
    scores = onednn.matmul(qk.reshape(n, h * t, c), keys_pe.transpose(1, 2))  # (N, hT, L)
    probs = (scores * attn.scaling).softmax(-1)
    ctx = onednn.matmul(probs, keys).view(n, h, t, c)  # (N, h, T, C)
    out = torch.matmul(ctx, wv.transpose(1, 2)) + attn.v_proj.bias.view(h, 1, d)  # (N, h, T, d)
    return _out_proj(attn)(_merge(out))


def _softmax_explicit(x: torch.Tensor, dim: int) -> torch.Tensor:
    """``x.softmax(dim)`` written as max, exp, sum and divide: in an ONNX graph these run
    several times faster than onnxruntime's Softmax over a non-innermost axis (which transposes)."""
    e = torch.exp(x - x.amax(dim, keepdim=True))
    return e / e.sum(dim, keepdim=True)


def _image_to_token(
    attn: Any,
    img_q: torch.Tensor | None,
    tok_k: torch.Tensor,
    tok_v: torch.Tensor,
    q_proj: torch.Tensor | None = None,
    explicit_softmax: bool = False,
) -> torch.Tensor:
    """Image tokens (B, L, C) attend to prompt tokens (N, T, C); returns (N, L, C).

    ``q_proj``: precomputed projected image queries (1, heads, L, d) (first block); without
    them ``img_q`` (image tokens plus position encoding) is needed. Scores
    are laid out (N, heads, T, L) so the softmax over the few prompt tokens runs along a
    non-innermost axis (vectorised over the 4096 image tokens). ``explicit_softmax``: see
    :func:`_softmax_explicit` (ONNX export).
    """
    h = attn.num_attention_heads
    kh = _split(attn.k_proj(tok_k), h)  # (N, h, T, d)
    vh = _split(attn.v_proj(tok_v), h)  # (N, h, T, d)
    n, _, t, d = kh.shape
    proj = _out_proj(attn)
    wo = proj.weight.view(-1, h, d).permute(1, 2, 0)  # (h, d, C)
    vo = torch.matmul(vh, wo)  # (N, h, T, C)
    if q_proj is not None:
        scores = torch.matmul(kh, q_proj.transpose(-1, -2))  # (N, h, T, L)
    elif img_q is None:
        raise ValueError("image-to-token attention needs img_q when no projected queries are given")
    else:
        wq = attn.q_proj.weight.view(h, d, -1)  # (h, d, C)
        m = torch.matmul(kh, wq.unsqueeze(0))  # (N, h, T, C)
        bias = torch.matmul(kh, attn.q_proj.bias.view(1, h, d, 1))  # (N, h, T, 1)
        scores = onednn.matmul(m.reshape(n, h * t, -1), img_q.transpose(1, 2)).view(n, h, t, -1) + bias
    scores = scores * attn.scaling
    probs = _softmax_explicit(scores, 2) if explicit_softmax else scores.softmax(2)  # over prompt tokens
    n_img = probs.shape[-1]
    out = onednn.matmul(probs.reshape(n, h * t, n_img).transpose(1, 2), vo.reshape(n, h * t, -1))  # (N, L, C)
    return out + proj.bias


@torch.inference_mode()
def image_side_cache(
    decoder: Any, image_embedding: torch.Tensor, image_pe: torch.Tensor, no_mask: torch.Tensor
) -> dict[str, torch.Tensor]:
    """Prompt-independent tensors of the first two-way block, for prompts without a mask.

    ``image_embedding``/``image_pe``: (1, C, 64, 64); ``no_mask``: (C,) dense no-mask embedding.
    """
    layer = decoder.transformer.layers[0]
    keys = (image_embedding + no_mask.view(1, -1, 1, 1)).flatten(2).transpose(1, 2)  # (1, L, C)
    pe = image_pe.flatten(2).transpose(1, 2)
    ti = layer.cross_attn_token_to_image
    kh = _split(ti.k_proj(keys + pe), ti.num_attention_heads).contiguous()
    vh = _split(ti.v_proj(keys), ti.num_attention_heads).contiguous()
    it = layer.cross_attn_image_to_token
    qh = _split(it.q_proj(keys + pe), it.num_attention_heads).contiguous()
    return {"keys": keys.contiguous(), "pe": pe.contiguous(), "k0": kh, "v0": vh, "q0": qh}


def _conv_t_weight(conv: Any) -> torch.Tensor:
    """ConvTranspose2d(k=2, s=2) weight (Cin, Cout, 2, 2) -> (Cin, 4*Cout) ordered (i, j, o)."""
    w = conv.weight
    return w.permute(0, 2, 3, 1).reshape(w.shape[0], -1)


@torch.inference_mode()
def high_res_cache(feat_s0: torch.Tensor, feat_s1: torch.Tensor) -> dict[str, torch.Tensor]:
    """SAM 2's projected high-resolution features in the decoder's sub-pixel layout.

    ``feat_s1``: (1, C/4, 2S, 2S), ``feat_s0``: (1, C/8, 4S, 4S) for an S x S embedding.
    Returns rows ordered (y, x, i, j) and (y, x, i, j, i2, j2): pixel (2y + i, 2x + j) and
    (4y + 2i + i2, 4x + 2j + j2), matching the transposed convolutions' matmul output.
    """
    c4, h1, w1 = feat_s1.shape[1:]
    s1 = feat_s1[0].view(c4, h1 // 2, 2, w1 // 2, 2).permute(1, 3, 2, 4, 0).reshape(-1, c4)
    c8, h0, w0 = feat_s0.shape[1:]
    s0 = feat_s0[0].view(c8, h0 // 4, 2, 2, w0 // 4, 2, 2).permute(1, 4, 2, 5, 3, 6, 0).reshape(-1, c8)
    return {"s1": s1.contiguous(), "s0": s0.contiguous()}


def _stable_single(masks: torch.Tensor, iou: torch.Tensor, delta: float, thresh: float):
    """SAM 2's single-mask output: token 0 when stable, else the best multimask candidate.

    ``masks`` (N, 4, H, W) logits and ``iou`` (N, 4) of all mask tokens -> (N, 1, H, W), (N, 1).
    Stability is area(logits > delta) / area(logits > -delta) of token 0's mask.
    """
    single = masks[:, 0]
    area_i = (single > delta).flatten(1).sum(-1).float()
    area_u = (single > -delta).flatten(1).sum(-1).float()
    stable = torch.where(area_u > 0, area_i / area_u.clamp(min=1), torch.ones_like(area_u)) >= thresh
    best = iou[:, 1:].argmax(-1) + 1
    rows = torch.arange(masks.shape[0], device=masks.device)
    pick = torch.where(stable, torch.zeros_like(best), best)
    return masks[rows, pick].unsqueeze(1), iou[rows, pick].unsqueeze(1)


def two_way(
    decoder: Any,
    sparse: torch.Tensor,
    dense: torch.Tensor | None,
    cache: dict[str, torch.Tensor],
    n_lead: int,
    explicit_softmax: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The two-way transformer on ``n_lead`` output tokens + N prompts' sparse tokens.

    Returns (output tokens after the final attention (N, n_lead, C), image tokens (N or 1, L, C)).
    ``cache["lead"]`` holds the (n_lead, C) learned output tokens. ``explicit_softmax``: the
    image->token softmax as elementary ops (for ONNX export, see :func:`_softmax_explicit`).
    """
    n = sparse.shape[0]
    out_tokens = cache["lead"]
    tokens = torch.cat([out_tokens.unsqueeze(0).expand(n, -1, -1), sparse.to(out_tokens.dtype)], 1)
    pe = cache["pe"]
    if dense is None:
        keys = cache["keys"]
    else:
        keys = cache["keys_raw"] + dense.flatten(2).transpose(1, 2)
    queries = tokens
    for i, layer in enumerate(decoder.transformer.layers):
        if layer.skip_first_layer_pe:
            queries = _attend_small(layer.self_attn, queries, queries, queries)
        else:
            q = queries + tokens
            queries = queries + _attend_small(layer.self_attn, q, q, queries)
        queries = layer.layer_norm1(queries)
        first_block = i == 0 and dense is None
        q = queries + tokens
        kv = (cache["k0"], cache["v0"]) if first_block else None
        keys_pe = None if first_block else keys + pe
        queries = queries + _token_to_image(layer.cross_attn_token_to_image, q, keys_pe, keys, kv)
        queries = layer.layer_norm2(queries)
        queries = layer.layer_norm3(queries + layer.mlp(queries))
        q = queries + tokens
        upd = _image_to_token(
            layer.cross_attn_image_to_token, keys_pe, q, queries, cache["q0"] if first_block else None, explicit_softmax
        )
        keys = layer.layer_norm4(keys + upd)
    fq = queries[:, :n_lead] + tokens[:, :n_lead]
    final = decoder.transformer.final_attn_token_to_image
    queries = queries[:, :n_lead] + _token_to_image(final, fq, keys + pe, keys)
    return decoder.transformer.layer_norm_final_attn(queries), keys


def upscale(decoder: Any, keys: torch.Tensor, cache: dict[str, torch.Tensor]) -> torch.Tensor:
    """The output upscaling (two transposed convolutions) as channels-last matmuls.

    ``keys`` (N, L, C) image tokens -> (N, 16 L, C/8) in sub-pixel order (see :func:`to_image`),
    with SAM 2's high-resolution features added when the cache holds them.
    """
    n, _, c = keys.shape
    c1 = decoder.upscale_conv1
    z = _conv_t(keys.reshape(-1, c), c1, cache.get("s1"), n).view(n, -1, c // 4)  # (N, L*4, C/4)
    ln = decoder.upscale_layer_norm
    z = F.gelu(F.layer_norm(z.view(-1, c // 4), (c // 4,), ln.weight, ln.bias, ln.eps))
    c2 = decoder.upscale_conv2
    z = _conv_t(z, c2, cache.get("s0"), n).view(n, -1, c // 8)  # (N, L*16, C/8)
    return F.gelu(z)


def _conv_t(x: torch.Tensor, conv: Any, skip: torch.Tensor | None, n: int) -> torch.Tensor:
    """(N*L, Cin) -> (N*L, 4*Cout): a k=2, s=2 transposed convolution as a product (rows (i, j, o)),
    plus ``skip`` (L*4, Cout) per prompt (SAM 2's high-resolution features) when given."""
    w = _conv_t_weight(conv)  # (Cin, 4*Cout)
    bias = conv.bias.repeat(4)
    if skip is not None and onednn.usable(x) and n == 1:  # (never evaluated on a traced, symbolic n)
        return onednn.linear_add(x, w.t(), bias, skip.view(x.shape[0], -1))
    z = onednn.linear(x, w.t(), bias)
    if skip is not None:
        z = (z.view(n, -1, skip.shape[-1]) + skip).view(z.shape)
    return z


def to_image(m: torch.Tensor, side: int) -> torch.Tensor:
    """(N, 16 S^2, M) values in sub-pixel order -> (N, M, 4S, 4S) in image order."""
    n, _, mm = m.shape
    m = m.view(n, side, side, 2, 2, 2, 2, mm).permute(0, 7, 1, 3, 5, 2, 4, 6)
    return m.reshape(n, mm, side * 4, side * 4)


def masks_from_hyper(z: torch.Tensor, hyper: torch.Tensor, side: int) -> torch.Tensor:
    """Upscaled features ``z`` (N, 16 S^2, C/8) in sub-pixel order and hypernetwork outputs ``hyper``
    (N, M, C/8) -> mask logits (N, M, 4S, 4S) in image order.

    The same numbers as ``to_image(z @ hyper^T, side)``, multiplied the other way round
    (``hyper @ z^T``: M rows of 65536 instead of 65536 rows of M), which suits onnxruntime
    (the ONNX export uses it)."""
    n, mm = hyper.shape[:2]
    m = torch.matmul(hyper, z.transpose(1, 2))  # (N, M, 16 S^2)
    m = m.view(n, mm, side, side, 2, 2, 2, 2).permute(0, 1, 2, 4, 6, 3, 5, 7)
    return m.reshape(n, mm, side * 4, side * 4)


def output_tokens(decoder: Any) -> torch.Tensor:
    """The learned output tokens in the decoder's order: [obj score (SAM 2)], IoU, masks, [HQ]."""
    first = [decoder.obj_score_token.weight] if hasattr(decoder, "obj_score_token") else []
    last = [decoder.hq_token.weight] if hasattr(decoder, "hq_token") else []
    return torch.cat([*first, decoder.iou_token.weight, decoder.mask_tokens.weight, *last], 0)


@torch.inference_mode()
def decode(
    decoder: Any, sparse: torch.Tensor, dense: torch.Tensor | None, cache: dict[str, torch.Tensor], multimask: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Run SAM's or SAM 2's mask decoder for N prompts on one image.

    Args:
        decoder: a ``transformers`` ``SamMaskDecoder`` or ``Sam2MaskDecoder`` (weights only are used).
        sparse: (N, T, C) point/box embeddings (T may be 0).
        dense: (N, C, 64, 64) mask-prompt embeddings, or None for "no mask" (uses the cache).
        cache: :func:`image_side_cache` of the image (plus :func:`high_res_cache` for SAM 2).
    Returns:
        (low-res logits (N, M, 256, 256), IoU predictions (N, M)), M = 3 (multimask) or 1.
    """
    sam2 = hasattr(decoder, "obj_score_token")
    s = 1 if sam2 else 0
    n_mask = decoder.mask_tokens.weight.shape[0]
    cache = dict(cache, lead=output_tokens(decoder))
    queries, keys = two_way(decoder, sparse, dense, cache, s + 1 + n_mask)
    iou_out = queries[:, s]
    mask_out = queries[:, s + 1 :]
    dynamic = sam2 and not multimask and getattr(decoder, "dynamic_multimask_via_stability", False)
    sel = slice(None) if dynamic else slice(1, None) if multimask else slice(0, 1)
    idx = range(n_mask)[sel]
    hyper = torch.stack([decoder.output_hypernetworks_mlps[j](mask_out[:, j]) for j in idx], 1)  # (N, M, C/8)
    iou = decoder.iou_prediction_head(iou_out)[:, sel]
    z = upscale(decoder, keys, cache)
    side = int(round(keys.shape[1] ** 0.5))
    masks = to_image(onednn.matmul(z, hyper.transpose(1, 2)), side)
    if dynamic:
        return _stable_single(
            masks, iou, decoder.dynamic_multimask_stability_delta, decoder.dynamic_multimask_stability_thresh
        )
    return masks, iou
