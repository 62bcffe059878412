"""oneDNN products (engines/onednn.py) equal PyTorch's, and step aside where they must."""

from __future__ import annotations

import warnings

import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

from sam_compose.engines import onednn

needs_onednn = pytest.mark.skipif(not onednn.available(), reason="oneDNN products unavailable in this build")


def _close(a, b, tol=1e-4):
    assert a.shape == b.shape
    assert torch.allclose(a, b, atol=tol, rtol=tol), float((a - b).abs().max())


@needs_onednn
@pytest.mark.parametrize("act", [None, "relu", "gelu"])
def test_linear_matches_torch(act):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 33, 40, generator=g)[:, 1:]  # not contiguous
    w, b = torch.randn(24, 40, generator=g), torch.randn(24, generator=g)
    ref = F.linear(x, w, b)
    ref = {None: ref, "relu": F.relu(ref), "gelu": F.gelu(ref)}[act]
    _close(onednn.linear(x, w, b, act), ref)
    _close(onednn.linear(x, w, None), F.linear(x, w))


@needs_onednn
def test_linear_add_matches_torch():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(3, 5, 7, 16, generator=g)
    w, b = torch.randn(12, 16, generator=g), torch.randn(12, generator=g)
    other = torch.randn(3, 7, 5, 12, generator=g).transpose(1, 2)
    before = other.clone()
    _close(onednn.linear_add(x, w, b, other), other + F.linear(x, w, b))
    assert torch.equal(other, before)  # the residual is not written to


def _qkv(nk, dv, dtype=torch.float32, seed=2):
    g = torch.Generator().manual_seed(seed)
    q, k = torch.randn(2, 3, 600, 24, generator=g), torch.randn(2, 3, nk, 24, generator=g)
    v = torch.randn(2, 3, nk, dv, generator=g)
    return q.to(dtype), k.to(dtype), v.to(dtype)


def _reference_attention(q, k, v, scale):
    return torch.softmax(q.float() @ k.float().transpose(-1, -2) * scale, -1) @ v.float()


@pytest.mark.parametrize("enabled", [True, False], ids=["onednn", "torch"])
@pytest.mark.parametrize("nk,dv", [(1500, 24), (1500, 8), (300, 24), (300, 8)])
def test_attention_matches_torch(monkeypatch, enabled, nk, dv):
    """Long and short key sequences, value heads as wide as the queries' or narrower (dv != d),
    with oneDNN and with SAM_COMPOSE_ONEDNN=0 (PyTorch's fused kernel or the chunked fallback)."""
    if not enabled:
        monkeypatch.setenv(onednn.ENV_VAR, "0")
    q, k, v = _qkv(nk, dv)
    _close(onednn.attention(q, k, v, 0.3), _reference_attention(q, k, v, 0.3))
    # a non-contiguous value tensor (as the memory attention's expanded memory tokens)
    v_wide = torch.randn(2, 1, nk, dv).expand(2, 3, nk, dv)
    _close(onednn.attention(q, k, v_wide, 0.3), _reference_attention(q, k, v_wide, 0.3))


@pytest.mark.parametrize("nk,dv", [(1500, 8), (300, 24)])
def test_attention_in_bfloat16_uses_torch(nk, dv):
    q, k, v = _qkv(nk, dv, torch.bfloat16)
    out = onednn.attention(q, k, v, 0.3)
    assert out.dtype == torch.bfloat16
    _close(out.float(), _reference_attention(q, k, v, 0.3), tol=3e-2)


@pytest.mark.parametrize("nk,dv", [(1500, 8), (1500, 24)])
def test_attention_gradients_match_torch(nk, dv):
    q, k, v = (t.requires_grad_() for t in _qkv(nk, dv, seed=5))
    ref_inputs = [t.detach().clone().requires_grad_() for t in (q, k, v)]
    weights = torch.randn(2, 3, 600, dv)
    (onednn.attention(q, k, v, 0.3) * weights).sum().backward()
    (_reference_attention(*ref_inputs, 0.3) * weights).sum().backward()
    for ours, ref in zip((q, k, v), ref_inputs):
        _close(ours.grad, ref.grad)


def test_disabled_by_the_environment(monkeypatch):
    monkeypatch.setenv(onednn.ENV_VAR, "0")
    assert not onednn.available()
    x = torch.randn(4, 8)
    assert not onednn.usable(x)
    _close(onednn.linear(x, torch.eye(8), None, "relu"), F.relu(x))


def test_other_dtypes_and_autograd_use_torch():
    assert not onednn.usable(torch.randn(2, 2, dtype=torch.bfloat16))
    w = torch.randn(3, 4, requires_grad=True)
    assert not onednn.usable(torch.randn(2, 4), w)
    y = onednn.linear(torch.randn(2, 4), w, None)
    y.sum().backward()
    assert w.grad is not None


def test_unknown_activation_is_refused():
    with pytest.raises(ValueError, match="act must be"):
        onednn.linear(torch.randn(2, 2), torch.eye(2), None, "swish")


def test_version_range_covers_the_installed_torch():
    low, high = onednn.TESTED_TORCH
    assert low <= onednn._torch_version() < high


@pytest.mark.parametrize(
    "a_shape,b_shape", [((2, 3, 50, 20), (20, 30)), ((3, 50, 20), (3, 20, 30)), ((3, 50, 20), (1, 20, 30))]
)
def test_matmul_matches_torch(a_shape, b_shape):
    g = torch.Generator().manual_seed(3)
    a, b = torch.randn(*a_shape, generator=g), torch.randn(*b_shape, generator=g)
    _close(onednn.matmul(a, b), a @ b)
    _close(
        onednn.matmul(
            a.transpose(-1, -2).contiguous().transpose(-1, -2), b.transpose(-1, -2).contiguous().transpose(-1, -2)
        ),
        a @ b,
    )  # strided operands


def test_without_mkldnn_everything_uses_torch(monkeypatch):
    """A PyTorch build without oneDNN (torch.backends.mkldnn unavailable): PyTorch's kernels."""
    monkeypatch.setattr(onednn, "_state", {})
    monkeypatch.setattr(torch.backends.mkldnn, "is_available", lambda: False)
    assert not onednn.available()
    g = torch.Generator().manual_seed(6)
    x, w, b = torch.randn(5, 9, 16, generator=g), torch.randn(12, 16, generator=g), torch.randn(12, generator=g)
    other = torch.randn(5, 9, 12, generator=g)
    _close(onednn.linear(x, w, b, "gelu"), F.gelu(F.linear(x, w, b)))
    _close(onednn.linear_add(x, w, b, other), other + F.linear(x, w, b))
    _close(onednn.matmul(x, w.t()), x @ w.t())
    q, k, v = _qkv(1500, 8)
    _close(onednn.attention(q, k, v, 0.3), _reference_attention(q, k, v, 0.3))


@needs_onednn
def test_mkldnn_switched_off_in_torch_is_respected(monkeypatch):
    assert onednn.usable(torch.randn(2, 2))
    monkeypatch.setattr(torch.backends.mkldnn, "enabled", False)  # what torch.backends.mkldnn.flags sets
    assert not onednn.usable(torch.randn(2, 2))


class _Products(torch.nn.Module):
    """Every oneDNN route of this module: linear + GELU, long attention with dv != d, matmul."""

    def __init__(self):
        super().__init__()
        self.proj = torch.nn.Linear(16, 24)

    def forward(self, x, w):
        y = onednn.linear_module(x, self.proj, "gelu")  # (1, 1200, 24)
        q = y.view(1, 1200, 3, 8).transpose(1, 2)  # (1, 3, 1200, 8)
        a = onednn.attention(q, q, q[..., :4], 0.3)  # 1200 keys, dv = 4
        return onednn.matmul(a.transpose(1, 2).flatten(2), w)  # (1, 1200, 12) @ (1, 12, 5)


@pytest.mark.parametrize("dynamo", [True, False], ids=["dynamo", "torchscript"])
def test_onnx_export_sees_plain_operations(tmp_path, dynamo):
    """torch.onnx.export (both exporters) records PyTorch's operations, and the graph runs in
    onnxruntime with the same result (a oneDNN operator would have no ONNX translation)."""
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    model = _Products().eval()
    x, w = torch.randn(1, 1200, 16), torch.randn(1, 12, 5)
    with torch.no_grad():
        expected = model(x, w)
    path = tmp_path / "products.onnx"
    extra = {"external_data": False} if dynamo else {}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x, w), str(path), dynamo=dynamo, **extra)
    import onnx

    ops = {node.op_type for node in onnx.load(str(path)).graph.node}
    assert not [op for op in ops if "mkldnn" in op.lower()], ops
    session = ort.InferenceSession(str(path))
    names = [i.name for i in session.get_inputs()]
    out = session.run(None, dict(zip(names, [x.numpy(), w.numpy()])))[0]
    _close(torch.from_numpy(out), expected)


@pytest.mark.parametrize(
    "a_shape,b_shape", [((2, 4, 0), (0, 5)), ((0, 4, 8), (1, 8, 5)), ((0, 8), (8, 5)), ((2, 4, 8), (2, 8, 0))]
)
def test_empty_operands_use_torch(a_shape, b_shape):
    """Empty products (no prompts, no object pointers, zero channels) give PyTorch's empty results."""
    g = torch.Generator().manual_seed(7)
    a, b = torch.randn(*a_shape, generator=g), torch.randn(*b_shape, generator=g)
    _close(onednn.matmul(a, b), a @ b)
    if b.dim() == 2:
        w = b.t().contiguous()
        other = torch.randn(*a.shape[:-1], w.shape[0], generator=g)
        _close(onednn.linear(a, w, None, "relu"), F.relu(F.linear(a, w)))
        _close(onednn.linear_add(a, w, None, other), other + F.linear(a, w))
