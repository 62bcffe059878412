"""float32 matrix products on CPU through oneDNN (same mathematics, faster kernels).

PyTorch's CPU ``F.linear``/``matmul`` and the matmuls inside its fused
``scaled_dot_product_attention`` call MKL's ``sgemm``; on CPUs where MKL does not pick its
widest kernels (measured here on AMD Zen 5 with AVX-512: about 100 GFLOP/s for one thread,
against about 240 GFLOP/s for oneDNN's own just-in-time kernels on the same shapes) oneDNN is
more than twice as fast. This module routes the SAM 2 engine's large products through
oneDNN's ``linear`` primitive and leaves everything else to PyTorch:

* :func:`linear` (``x W^T + b``), with ReLU / GELU fused (:func:`linear`'s ``act``) and a
  residual added in the same pass (:func:`linear_add`);
* :func:`matmul` for plain products (batched over a few matrices at most);
* :func:`attention`: ``softmax(q k^T * scale) v`` over chunks of queries, each chunk's
  scores computed and consumed by oneDNN (exact softmax per chunk: the whole row of scores
  is materialised, unlike an online-softmax kernel, so the result is the same up to float
  rounding).

Results equal PyTorch's to float32 rounding (a different summation order, nothing else).

The one entry point into oneDNN that takes and returns ordinary (strided) tensors is the
operator ``torch.ops.mkldnn._linear_pointwise``, which PyTorch registers for its own
compiler's CPU fusions; the public route (``Tensor.to_mkldnn`` + ``F.linear``) copies every
input and output between layouts, which costs more than it saves for attention scores. So
this is the one place that calls it, guarded:

* only for float32 tensors on the CPU, outside autograd, and never while a graph is being
  traced or exported (``torch.onnx.export``, ``torch.export``, ``torch.compile``,
  ``torch.jit``): exporters see plain ``F.linear`` / ``scaled_dot_product_attention``;
* only on the PyTorch versions in :data:`TESTED_TORCH` (the ``torch`` floor pinned in
  pyproject's ``sam`` extra up to the next major), when ``torch.backends.mkldnn`` is
  available, and after a self-check on first use compares it with ``F.linear``;
* ``SAM_COMPOSE_ONEDNN=0`` in the environment, or ``torch.backends.mkldnn.flags(enabled=False)``,
  turns it off (PyTorch's kernels throughout).

The choice is made by capability (the build has oneDNN and the operator passes the
self-check), never by CPU model; where oneDNN is missing every function is PyTorch's own.

``tests/test_onednn.py`` checks every function against PyTorch's own on random inputs.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import torch
import torch.nn.functional as F

ENV_VAR = "SAM_COMPOSE_ONEDNN"
"""Set to ``0`` (or ``false``/``off``/``no``) to use PyTorch's own kernels everywhere."""

TESTED_TORCH = ((2, 1), (3, 0))
"""[low, high) PyTorch versions whose ``mkldnn::_linear_pointwise`` this module relies on."""

ATTENTION_CHUNK = 256
"""Query rows per chunk in :func:`attention`: a chunk's scores (256 x keys) stay cache-sized."""

MIN_ATTENTION_KEYS = 1024
"""Shorter key sequences (windowed attention) go to ``scaled_dot_product_attention``."""

_ACTS = {None: ("none", ""), "relu": ("relu", ""), "gelu": ("gelu", "none")}
_lock = threading.Lock()
_state: dict[str, bool] = {}


def _torch_version() -> tuple[int, int]:
    parts = []
    for p in torch.__version__.split("+")[0].split(".")[:2]:
        digits = "".join(ch for ch in p if ch.isdigit())
        parts.append(int(digits or 0))
    return parts[0], parts[1]


def _self_check() -> bool:
    op = torch.ops.mkldnn._linear_pointwise
    g = torch.Generator().manual_seed(0)
    x = torch.randn(37, 24, generator=g)
    w = torch.randn(19, 24, generator=g)
    b = torch.randn(19, generator=g)
    other = torch.randn(37, 19, generator=g)
    with torch.inference_mode():
        ref = F.linear(x, w, b)
        checks = [
            (op(x, w, b, "none", [], ""), ref),
            (op(x, w, None, "none", [], ""), F.linear(x, w)),
            (op(x, w, b, "relu", [], ""), F.relu(ref)),
            (op(x, w, b, "gelu", [], "none"), F.gelu(ref)),
            (op.binary(x, other, w, b, "add"), ref + other),
        ]
    return all(a.shape == r.shape and torch.allclose(a, r, atol=1e-4, rtol=1e-4) for a, r in checks)


def available() -> bool:
    """Whether oneDNN products are used (environment, PyTorch version, build, self-check)."""
    flag = os.environ.get(ENV_VAR, "1").strip().lower() not in ("0", "false", "off", "no")
    key = "ok"
    if key not in _state:
        with _lock:
            if key not in _state:
                low, high = TESTED_TORCH
                ok = low <= _torch_version() < high and torch.backends.mkldnn.is_available()
                try:
                    ok = ok and hasattr(torch.ops.mkldnn, "_linear_pointwise") and _self_check()
                except (RuntimeError, AttributeError, TypeError):  # pragma: no cover - builds without it
                    ok = False
                _state[key] = ok
    return flag and _state[key]


def tracing() -> bool:
    """Whether a graph is being traced, compiled or exported right now."""
    compiler = getattr(torch, "compiler", None)
    if compiler is not None:
        for name in ("is_compiling", "is_exporting", "is_dynamo_compiling"):
            fn = getattr(compiler, name, None)
            if fn is not None and fn():
                return True
    return bool(torch.jit.is_tracing() or torch.jit.is_scripting() or torch.onnx.is_in_onnx_export())


def usable(*tensors: torch.Tensor) -> bool:
    """Whether these tensors may go through oneDNN: float32, CPU, not empty, no autograd, not
    tracing, and oneDNN not switched off in PyTorch (``torch.backends.mkldnn.flags(enabled=False)``)."""
    if not torch.backends.mkldnn.enabled:
        return False
    for t in tensors:
        if t.device.type != "cpu" or t.dtype != torch.float32 or t.numel() == 0:
            return False
        if t.requires_grad and torch.is_grad_enabled():
            return False
    return not tracing() and available()


def linear(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, act: str | None = None
) -> torch.Tensor:
    """``act(x @ weight.T + bias)``: x (..., K), weight (N, K), bias (N,) -> (..., N).

    ``act``: None, ``"relu"`` or ``"gelu"`` (the exact, erf-based GELU).
    """
    if act not in _ACTS:
        raise ValueError(f"act must be one of {sorted(a for a in _ACTS if a)} or None, got {act!r}")
    if usable(x, weight):
        attr, algorithm = _ACTS[act]
        return torch.ops.mkldnn._linear_pointwise(x, weight, bias, attr, [], algorithm)
    y = F.linear(x, weight, bias)
    if act == "relu":
        return F.relu(y)
    if act == "gelu":
        return F.gelu(y)
    return y


def linear_module(x: torch.Tensor, module: Any, act: str | None = None) -> torch.Tensor:
    """:func:`linear` with an ``nn.Linear``'s weight and bias."""
    return linear(x, module.weight, module.bias, act)


def linear_add(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, other: torch.Tensor) -> torch.Tensor:
    """``other + x @ weight.T + bias`` in one pass; ``other`` has the output's shape (..., N)."""
    if usable(x, weight, other) and tuple(other.shape) == (*x.shape[:-1], weight.shape[0]):
        return torch.ops.mkldnn._linear_pointwise.binary(x, other, weight, bias, "add")
    return other + F.linear(x, weight, bias)


def matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a @ b`` for a (..., M, K) and b (K, N), or a (B, M, K) and b (B or 1, K, N).

    ``b`` is best contiguous as (N, K) seen transposed (b = w.T) or as (K, N); ``a`` is made
    contiguous first. Other shapes, dtypes, devices and traced graphs use ``torch.matmul``.
    """
    if b.dim() == 2 and usable(a, b):
        return torch.ops.mkldnn._linear_pointwise(a.contiguous(), b.t(), None, "none", [], "")
    if usable(a, b) and a.dim() == 3 and b.dim() == 3 and b.shape[0] in (1, a.shape[0]) and a.shape[0] <= 16:
        op = torch.ops.mkldnn._linear_pointwise
        outs = [
            op(a[i].contiguous(), b[i if b.shape[0] > 1 else 0].t(), None, "none", [], "") for i in range(a.shape[0])
        ]
        return outs[0].unsqueeze(0) if len(outs) == 1 else torch.stack(outs)
    return torch.matmul(a, b)


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float) -> torch.Tensor:
    """``softmax(q k^T * scale) v`` for q (B, h, Nq, d), k (B, h, Nk, d), v (B, h, Nk, dv).

    Returns (B, h, Nq, dv). ``v`` may be narrower than ``q``/``k`` (``dv != d``), which lets
    a caller apply a value projection after attending. Short key sequences, other dtypes
    and devices, and traced graphs use ``F.scaled_dot_product_attention``.
    """
    b, h, nq, _ = q.shape
    nk, dv = k.shape[-2], v.shape[-1]
    if not usable(q, k, v) or nk < MIN_ATTENTION_KEYS:
        if not tracing() and q.device.type == "cpu" and dv != q.shape[-1]:
            # PyTorch's fused CPU kernel wants one head size (else it materialises every score)
            out = q.new_empty((b, h, nq, dv))
            for s in range(0, nq, 4 * ATTENTION_CHUNK):
                scores = torch.matmul(q[:, :, s : s + 4 * ATTENTION_CHUNK] * scale, k.transpose(-1, -2))
                out[:, :, s : s + 4 * ATTENTION_CHUNK] = torch.matmul(scores.softmax(-1), v)
            return out
        return F.scaled_dot_product_attention(q, k, v, scale=scale)
    op = torch.ops.mkldnn._linear_pointwise
    out = q.new_empty((b, nq, h, dv)).transpose(1, 2)  # heads merge into (B, Nq, h * dv) for free
    for i in range(b):
        for j in range(h):
            kh = k[i, j].contiguous()  # (Nk, d): the "weight" of q @ k^T
            vt = v[i, j].transpose(0, 1).contiguous()  # (dv, Nk): the "weight" of p @ v
            qh = q[i, j] * scale
            for s in range(0, nq, ATTENTION_CHUNK):
                scores = op(qh[s : s + ATTENTION_CHUNK], kh, None, "none", [], "")
                out[i, j, s : s + ATTENTION_CHUNK] = op(scores.softmax(-1), vt, None, "none", [], "")
    return out


__all__ = [
    "ATTENTION_CHUNK",
    "ENV_VAR",
    "MIN_ATTENTION_KEYS",
    "TESTED_TORCH",
    "attention",
    "available",
    "linear",
    "linear_add",
    "linear_module",
    "matmul",
    "tracing",
    "usable",
]
