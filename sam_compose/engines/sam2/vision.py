"""Faster forwards for SAM 2's image encoder and video memory attention (same mathematics).

``transformers``' SAM 2 modules do work that Meta's predictors skip, and all of them call
PyTorch's MKL-backed products. The forwards installed here (by :func:`speed_up_sam2`) keep
the modules' weights and results and change how they are computed:

* **Hiera blocks** (``Sam2MultiScaleBlock``): no unused attention-weight tensor (the original
  builds and normalises one per block and discards it); the windowed attention's heads and
  windows merge back into the image in one copy and the output projection runs only on the
  image's tokens, not on the padding; layer products, GELU and the residual adds are fused
  (:mod:`.onednn`); global attention runs through :func:`.onednn.attention`.
* **Hiera position embedding** (``Sam2HieraDetModel._get_pos_embed``): the bicubic
  interpolation of the background embedding plus the tiled window embedding depends on the
  weights only, so it is computed once per size and reused while the weights are unchanged.
* **FPN neck** (``Sam2VisionNeck``): the 1 x 1 lateral convolutions are products over the
  channels of the channels-last trunk output (no layout change), and the sine position
  encodings, which depend only on the shapes, are computed once per shape (the original's
  one-entry cache misses on every level).
* **Video memory attention** (``Sam2VideoMemoryAttention``): the cross-attention to the
  memories attends over the 64-channel memory tokens themselves and applies the value and
  output projections afterwards (``softmax(QK^T)(X W_v^T + b_v) = softmax(QK^T) X W_v^T + b_v``,
  rows of attention weights summing to one), a quarter of the original's value-side work;
  the rotary encodings are computed once per module and applied to each memory frame's keys
  without repeating them; products through :mod:`.onednn`.

This is the one place that replaces these ``transformers`` modules' forwards (no public API
offers the reorganised computation). It touches only instances of those classes, only on
the ``transformers`` versions of :data:`.sam_vision.TESTED_TRANSFORMERS` (the range pinned by
pyproject's ``sam`` extra), leaves training-mode modules to their original code, and
``tests/test_sam2_vision.py`` checks that every patched module returns what the original
does on random inputs. While a graph is traced or exported (``torch.onnx.export``) the
forwards use plain PyTorch operations and no caches, so exported graphs stay portable.
"""

from __future__ import annotations

import types
from typing import Any

import torch
import torch.nn.functional as F

from .. import onednn
from ..sam.vision import transformers_supported

_CACHE_ATTR = "_sam_compose_cache"


def _act_name(module: Any) -> str | None:
    """``"relu"``/``"gelu"`` when ``module`` is exactly that activation, else None."""
    if isinstance(module, torch.nn.ReLU):
        return "relu"
    if type(module).__name__ == "GELUActivation" and getattr(module, "act", None) is F.gelu:
        return "gelu"
    return None


def _mlp(module: Any, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
    """``residual + module(x)`` for a two-layer ``Sam2FeedForward`` (fused where possible)."""
    if module.num_layers != 2 or module.sigmoid_output:
        return residual + module(x)
    act = _act_name(module.activation)
    h = onednn.linear_module(x, module.proj_in, act)
    if act is None:
        h = module.activation(h)
    return onednn.linear_add(h, module.proj_out.weight, module.proj_out.bias, residual)


def _pool(x: torch.Tensor, stride: Any) -> torch.Tensor:
    """(B, H, W, C) -> max-pooled (B, H/s, W/s, C), as transformers' ``do_pool``."""
    if stride is None:
        return x
    return F.max_pool2d(x.permute(0, 3, 1, 2), kernel_size=stride, stride=stride, ceil_mode=False).permute(0, 2, 3, 1)


def _block_forward(self: Any, hidden_states: torch.Tensor, **kwargs: Any) -> torch.Tensor:
    """``Sam2MultiScaleBlock``: (B, H, W, C_in) -> (B, H', W', C_out)."""
    if self.training:
        return type(self).forward(self, hidden_states, **kwargs)
    b, h, w, _ = hidden_states.shape
    normed = self.layer_norm1(hidden_states)
    residual = hidden_states
    if self.dim != self.dim_out:
        residual = _pool(onednn.linear_module(normed, self.proj), self.query_stride)
    attn = self.attn
    heads = attn.num_attention_heads
    ws = self.window_size
    x = normed
    if ws > 0:  # windows of ws x ws tokens; zero padding to a multiple of ws (after the norm, as the original)
        pad_h, pad_w = (-h) % ws, (-w) % ws
        if pad_h or pad_w:
            x = F.pad(x, (0, 0, 0, pad_w, 0, pad_h))
        nh, nw = (h + pad_h) // ws, (w + pad_w) // ws
        x = x.view(b, nh, ws, nw, ws, -1).permute(0, 1, 3, 2, 4, 5).reshape(b * nh * nw, ws, ws, -1)
    bw, th, tw, _ = x.shape
    qkv = onednn.linear_module(x, attn.qkv).view(bw, th * tw, 3, heads, -1)
    q, k, v = qkv.unbind(2)  # (Bw, T, heads, d)
    if attn.query_stride:
        q = _pool(q.reshape(bw, th, tw, -1), attn.query_stride)
        th, tw = q.shape[1:3]
        q = q.reshape(bw, th * tw, heads, -1)
    out = onednn.attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), attn.scale)  # (Bw, heads, T', d)
    d = out.shape[-1]
    oh, ow = residual.shape[1:3]
    if ws > 0:  # heads and windows back into the image in one copy, then drop the padding
        out = out.view(b, nh, nw, heads, th, tw, d).permute(0, 1, 4, 2, 5, 3, 6).reshape(b, nh * th, nw * tw, heads * d)
        out = out[:, :oh, :ow]
    else:
        out = out.transpose(1, 2).reshape(b, th, tw, heads * d)
    hidden = onednn.linear_add(out, attn.proj.weight, attn.proj.bias, residual)
    return _mlp(self.mlp, self.layer_norm2(hidden), hidden)


def _cache(module: Any) -> dict[Any, Any]:
    cache = module.__dict__.get(_CACHE_ATTR)
    if cache is None:
        cache = {}
        module.__dict__[_CACHE_ATTR] = cache
    return cache


def _weights_key(*tensors: torch.Tensor) -> tuple[Any, ...] | None:
    """What identifies these tensors' current values (storage and in-place version), or None
    for tensors without a version counter (inference tensors): then nothing is cached."""
    try:
        return tuple((t.data_ptr(), t._version, t.dtype, t.device) for t in tensors)
    except RuntimeError:
        return None


def _pos_embed(self: Any, hw: tuple[int, int]) -> torch.Tensor:
    """``Sam2HieraDetModel``'s (1, H, W, C) position embedding, cached per size and weights."""

    def compute() -> torch.Tensor:
        h, w = hw
        window = self.pos_embed_window
        pos = F.interpolate(self.pos_embed, size=(h, w), mode="bicubic")
        pos = pos + window.tile([x // y for x, y in zip(pos.shape, window.shape)])
        return pos.permute(0, 2, 3, 1)

    weights = _weights_key(self.pos_embed, self.pos_embed_window)
    if weights is None or onednn.tracing() or (torch.is_grad_enabled() and self.pos_embed.requires_grad):
        return compute()
    key = (tuple(hw), weights)
    cache = _cache(self)
    pos = cache.get(key)
    if pos is None:
        with torch.inference_mode():
            pos = compute()
        cache.clear()  # one entry: a new size or new weights replace the old
        cache[key] = pos
    return pos


def _neck_forward(self: Any, hidden_states: Any) -> tuple[tuple[torch.Tensor, ...], tuple[torch.Tensor, ...]]:
    """``Sam2VisionNeck``: trunk levels (B, H, W, C_i) -> FPN features and position encodings."""
    fpn_hidden_states: tuple[torch.Tensor, ...] = ()
    fpn_position_encoding: tuple[torch.Tensor, ...] = ()
    n = len(self.convs) - 1
    prev = None
    use_cache = not onednn.tracing()
    cache = _cache(self)
    for i in range(n, -1, -1):
        conv = self.convs[n - i]
        x = hidden_states[i]
        if conv.kernel_size == (1, 1) and conv.stride == (1, 1) and conv.padding == (0, 0) and conv.groups == 1:
            lateral = onednn.linear(x.to(conv.weight.dtype), conv.weight.flatten(1), conv.bias).permute(0, 3, 1, 2)
        else:
            lateral = conv(x.permute(0, 3, 1, 2).to(conv.weight.dtype))
        if i not in self.fpn_top_down_levels or i == n or prev is None:
            prev = lateral
        else:
            top_down = F.interpolate(
                prev.to(dtype=torch.float32), scale_factor=2.0, mode="nearest", align_corners=None, antialias=False
            ).to(lateral.dtype)
            prev = lateral + top_down
        key = (tuple(prev.shape), prev.device, prev.dtype)
        pos = cache.get(key) if use_cache else None
        if pos is None:
            pos = self.position_encoding(prev.shape, prev.device, prev.dtype).to(prev.dtype)
            if use_cache:
                cache[key] = pos
        fpn_hidden_states += (prev,)
        fpn_position_encoding += (pos,)
    return fpn_hidden_states, fpn_position_encoding


# --- video memory attention ---------------------------------------------------------------------


def _rope_tables(self: Any, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(1, L, d) cos and sin of the memory attention's axial rotary encoding (cached)."""
    weights = _weights_key(self.rotary_emb.inv_freq, self.position_ids)
    if weights is None or onednn.tracing():
        return self.rotary_emb(like, self.position_ids)
    key = ("rope", like.device, weights)
    cache = _cache(self)
    tables = cache.get(key)
    if tables is None:
        tables = self.rotary_emb(like, self.position_ids)
        cache.clear()
        cache[key] = tables
    return tables


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Pairwise rotary encoding ``x cos + rot(x) sin`` (float32), as transformers' SAM 2 video."""
    x = x.float()
    pairs = x.unflatten(-1, (-1, 2))
    rot = torch.stack((-pairs[..., 1], pairs[..., 0]), dim=-1).flatten(-2)
    return x * cos + rot * sin


def _split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """(B, L, h * d) -> (B, h, L, d)."""
    return x.unflatten(-1, (heads, -1)).transpose(1, 2)


def _self_attention(
    attn: Any, x: torch.Tensor, residual: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor
) -> torch.Tensor:
    """``residual + attn(x, x, x)`` with rotary queries and keys; x (B, L, C)."""
    heads = attn.num_attention_heads
    q = _rotate(_split_heads(onednn.linear_module(x, attn.q_proj), heads), cos, sin).to(x.dtype)
    k = _rotate(_split_heads(onednn.linear_module(x, attn.k_proj), heads), cos, sin).to(x.dtype)
    v = _split_heads(onednn.linear_module(x, attn.v_proj), heads)
    out = onednn.attention(q, k, v, attn.scaling).transpose(1, 2).flatten(2)  # (B, L, h d)
    return onednn.linear_add(out, attn.o_proj.weight, attn.o_proj.bias, residual)


def _cross_attention(
    attn: Any,
    x: torch.Tensor,
    residual: torch.Tensor,
    memory: torch.Tensor,
    memory_pos: torch.Tensor,
    cos: torch.Tensor,
    sin: torch.Tensor,
    num_k_exclude_rope: int,
) -> torch.Tensor:
    """``residual + attn(x, memory + memory_pos, memory)``; x (B, L, C), memory (B, M, C_mem).

    Keys: the first ``M - num_k_exclude_rope`` memory tokens are frames of L tokens each and
    get the rotary encoding of their position within the frame; the rest (object pointers)
    none. Values: attention over the raw memory tokens, then ``W_o W_v`` (see the module docs).
    """
    heads = attn.num_attention_heads
    b, length, _ = x.shape
    q = _rotate(_split_heads(onednn.linear_module(x, attn.q_proj), heads), cos, sin).to(x.dtype)
    k = _split_heads(onednn.linear_module(memory + memory_pos, attn.k_proj), heads)  # (B, h, M, d)
    n_rot = k.shape[2] - num_k_exclude_rope
    if n_rot > 0:
        if n_rot % length:
            raise ValueError(f"memory attention: {n_rot} rotary keys are not whole frames of {length} tokens")
        frames = k[:, :, :n_rot].unflatten(2, (n_rot // length, length))  # (B, h, F, L, d)
        rotated = _rotate(frames, cos.unsqueeze(-3), sin.unsqueeze(-3)).to(k.dtype).flatten(2, 3)
        k = torch.cat([rotated, k[:, :, n_rot:]], 2) if num_k_exclude_rope else rotated
    mem = memory.unsqueeze(1).expand(b, heads, *memory.shape[1:])  # (B, h, M, C_mem)
    ctx = onednn.attention(q, k, mem, attn.scaling)  # (B, h, L, C_mem)
    d = attn.head_dim
    wv = attn.v_proj.weight.view(heads, d, -1)  # (h, d, C_mem)
    wo = attn.o_proj.weight.view(-1, heads, d).transpose(0, 1)  # (h, C, d)
    combined = torch.matmul(wo, wv)  # (h, C, C_mem)
    bias = attn.o_proj.bias + attn.o_proj.weight @ attn.v_proj.bias
    out = onednn.linear_add(ctx.transpose(1, 2).flatten(2), combined.transpose(0, 1).flatten(1), bias, residual)
    return out


def _memory_attention_forward(
    self: Any,
    current_vision_features: torch.Tensor,
    memory: torch.Tensor,
    current_vision_position_embeddings: torch.Tensor | None = None,
    memory_posision_embeddings: torch.Tensor | None = None,
    num_object_pointer_tokens: int = 0,
) -> torch.Tensor:
    """``Sam2VideoMemoryAttention``: (L, B, C) features, (M, B, C_mem) memory -> (1, B, L, C)."""
    if self.training or memory_posision_embeddings is None:
        return type(self).forward(
            self,
            current_vision_features,
            memory,
            current_vision_position_embeddings,
            memory_posision_embeddings,
            num_object_pointer_tokens,
        )
    x = current_vision_features
    if current_vision_position_embeddings is not None:
        x = x + 0.1 * current_vision_position_embeddings
    x = x.transpose(0, 1)  # (B, L, C)
    mem = memory.transpose(0, 1)  # (B, M, C_mem)
    mem_pos = memory_posision_embeddings.transpose(0, 1)
    cos, sin = _rope_tables(self, x)  # (1, L, d)
    for layer in self.layers:
        x = _self_attention(layer.self_attn, layer.layer_norm1(x), x, cos, sin)
        x = _cross_attention(
            layer.cross_attn_image, layer.layer_norm2(x), x, mem, mem_pos, cos, sin, num_object_pointer_tokens
        )
        act = _act_name(layer.activation)
        h = onednn.linear_module(layer.layer_norm3(x), layer.linear1, act)
        if act is None:
            h = layer.activation(h)
        x = onednn.linear_add(h, layer.linear2.weight, layer.linear2.bias, x)
    return self.layer_norm(x.unsqueeze(1)).transpose(0, 1)


# --- installation ---------------------------------------------------------------------------------


def _targets() -> list[tuple[type, str, Any, tuple[str, ...]]]:
    """(class, method name, replacement, attributes it reads) for every patched module kind."""
    out: list[tuple[type, str, Any, tuple[str, ...]]] = []
    try:
        from transformers.models.sam2 import modeling_sam2 as m
    except ImportError:  # pragma: no cover
        return out
    out += [
        (
            m.Sam2MultiScaleBlock,
            "forward",
            _block_forward,
            ("layer_norm1", "layer_norm2", "attn", "mlp", "window_size", "query_stride", "dim", "dim_out"),
        ),
        (m.Sam2HieraDetModel, "_get_pos_embed", _pos_embed, ("pos_embed", "pos_embed_window")),
        (m.Sam2VisionNeck, "forward", _neck_forward, ("convs", "position_encoding", "fpn_top_down_levels")),
    ]
    try:
        from transformers.models.sam2_video import modeling_sam2_video as mv
    except ImportError:  # pragma: no cover
        return out
    out.append(
        (
            mv.Sam2VideoMemoryAttention,
            "forward",
            _memory_attention_forward,
            ("layers", "layer_norm", "rotary_emb", "position_ids"),
        )
    )
    return out


def speed_up_sam2(model: Any) -> int:
    """Install the faster forwards on every matching module of ``model``; returns how many.

    Does nothing (returns 0) on a ``transformers`` version outside the tested range. Safe to
    call twice (a module already patched is counted again, not patched twice).
    """
    if not transformers_supported():
        return 0
    count = 0
    targets = _targets()
    for module in model.modules():
        for cls, name, fn, needs in targets:
            if type(module) is cls and all(hasattr(module, a) for a in needs):
                setattr(module, name, types.MethodType(fn, module))
                count += 1
    return count


__all__ = ["speed_up_sam2"]
