"""oneDNN products (engines/onednn.py) equal PyTorch's, and step aside where they must."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

from sam_compose.engines import onednn  # noqa: E402

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


@pytest.mark.parametrize("nk,dv", [(1500, 24), (1500, 8), (300, 24), (300, 8)])
def test_attention_matches_torch(nk, dv):
    g = torch.Generator().manual_seed(2)
    q, k = torch.randn(2, 3, 600, 24, generator=g), torch.randn(2, 3, nk, 24, generator=g)
    v = torch.randn(2, 3, nk, dv, generator=g)
    ref = torch.softmax(q @ k.transpose(-1, -2) * 0.3, -1) @ v
    _close(onednn.attention(q, k, v, 0.3), ref)


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


@pytest.mark.parametrize("a_shape,b_shape", [((2, 3, 50, 20), (20, 30)), ((3, 50, 20), (3, 20, 30)),
                                             ((3, 50, 20), (1, 20, 30))])
def test_matmul_matches_torch(a_shape, b_shape):
    g = torch.Generator().manual_seed(3)
    a, b = torch.randn(*a_shape, generator=g), torch.randn(*b_shape, generator=g)
    _close(onednn.matmul(a, b), a @ b)
    _close(onednn.matmul(a.transpose(-1, -2).contiguous().transpose(-1, -2), b.transpose(-1, -2).contiguous()
                         .transpose(-1, -2)), a @ b)  # strided operands
