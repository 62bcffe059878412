"""A faster attention forward for SAM's ViT image encoder (same mathematics, fewer copies).

``transformers``' SAM vision attention builds the decomposed relative-position bias with a
broadcast add whose output layout is not contiguous, so the following reshape copies the
whole (heads, 4096, 4096) bias once more in every global block, and it materialises the
q/k/v split with another copy. This forward:

* splits q, k, v as strided views of the fused projection (no copy);
* writes the bias ``rel_h[q, k_row] + rel_w[q, k_col]`` straight into one contiguous buffer;
* hands everything to ``scaled_dot_product_attention`` (a fused kernel on CPU and GPU)
  instead of materialising scores, softmax and weights separately like the reference.

Install it with :func:`speed_up_vision_attention` on a loaded ``SamModel``/``SamHQModel``.

This is the one place that replaces a ``transformers`` module's ``forward`` (no public API
offers a fused attention with SAM's decomposed relative positions). It touches only
instances of ``SamVisionAttention`` / ``SamHQVisionAttention`` (and their SDPA subclasses),
only for the ``transformers`` versions in :data:`TESTED_TRANSFORMERS` (the range pinned by the
``sam`` extra in pyproject.toml), and ``tests/test_sam_vision_attention.py`` checks that the
patched encoder returns what the original does.
"""

from __future__ import annotations

import types
from typing import Any

import torch
import torch.nn.functional as F


def _fast_forward(self: Any, hidden_states: torch.Tensor, output_attentions: bool = False):
    """(B, H, W, C) tokens -> ((B, H, W, C) attended tokens, None)."""
    b, h, w, _ = hidden_states.shape
    heads = self.num_attention_heads
    n = h * w
    qkv = self.qkv(hidden_states).view(b, n, 3, heads, -1).permute(2, 0, 3, 1, 4)  # (3, B, heads, N, d)
    q, k, v = qkv.unbind(0)
    bias = None
    if self.use_rel_pos:
        d = q.shape[-1]
        rh = self.get_rel_pos(h, h, self.rel_pos_h).to(q.dtype)  # (H, H, d)
        rw = self.get_rel_pos(w, w, self.rel_pos_w).to(q.dtype)  # (W, W, d)
        rq = q.reshape(b, heads, h, w, d)
        rel_h = torch.einsum("bnhwc,hkc->bnhwk", rq, rh)  # (B, heads, H, W, H)
        rel_w = torch.einsum("bnhwc,wkc->bnhwk", rq, rw)  # (B, heads, H, W, W)
        buf = torch.empty((b, heads, h, w, h, w), dtype=q.dtype, device=q.device)
        torch.add(rel_h.unsqueeze(-1), rel_w.unsqueeze(-2), out=buf)
        bias = buf.view(b, heads, n, n)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, scale=self.scale)  # (B, heads, N, d)
    out = out.transpose(1, 2).reshape(b, h, w, -1)
    return self.proj(out), None


TESTED_TRANSFORMERS = ((5, 0), (6, 0))
"""[low, high) ``transformers`` versions whose SAM vision attention this forward reproduces."""

_REQUIRED = ("qkv", "proj", "get_rel_pos", "rel_pos_h", "rel_pos_w", "use_rel_pos", "scale", "num_attention_heads")


def _attention_classes() -> tuple[type[torch.nn.Module], ...]:
    classes: list[type[torch.nn.Module]] = []
    try:
        from transformers.models.sam.modeling_sam import SamVisionAttention

        classes.append(SamVisionAttention)
    except ImportError:  # pragma: no cover
        pass
    try:
        from transformers.models.sam_hq.modeling_sam_hq import SamHQVisionAttention

        classes.append(SamHQVisionAttention)
    except ImportError:  # pragma: no cover
        pass
    return tuple(classes)


def transformers_supported() -> bool:
    """Whether the installed ``transformers`` is in :data:`TESTED_TRANSFORMERS`."""
    import transformers

    parts = []
    for p in transformers.__version__.split(".")[:2]:
        digits = "".join(ch for ch in p if ch.isdigit())
        parts.append(int(digits or 0))
    version = tuple(parts)
    low, high = TESTED_TRANSFORMERS
    return low <= version < high


def speed_up_vision_attention(model: Any) -> int:
    """Use the faster forward in every SAM / SAM-HQ ViT attention module; returns how many.

    Does nothing (returns 0) on a ``transformers`` version outside :data:`TESTED_TRANSFORMERS`
    or for modules lacking the attributes this forward reads.
    """
    if not transformers_supported():
        return 0
    classes = _attention_classes()
    count = 0
    for module in model.modules():
        if isinstance(module, classes) and all(hasattr(module, a) for a in _REQUIRED):
            module.forward = types.MethodType(_fast_forward, module)
            count += 1
    return count
