"""The faster SAM 2 forwards (engines/sam2_vision.py) return what transformers' own modules do."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from sam_compose.engines import onednn
from sam_compose.engines.sam import vision as sam_vision
from sam_compose.engines.sam2 import vision as sam2_vision


@pytest.fixture(params=["onednn", "torch"])
def kernels(request, monkeypatch):
    """Run each test with oneDNN products and with PyTorch's own (SAM_COMPOSE_ONEDNN=0)."""
    if request.param == "torch":
        monkeypatch.setenv(onednn.ENV_VAR, "0")
    else:
        monkeypatch.delenv(onednn.ENV_VAR, raising=False)
        if not onednn.available():
            pytest.skip("oneDNN products are not available in this PyTorch build")
    return request.param


def _vision_model(heads=(1, 2, 2, 4)):
    from transformers import Sam2VisionConfig, Sam2VisionModel

    backbone = dict(
        model_type="sam2_hiera_det_model",
        hidden_size=16,
        blocks_per_stage=[1, 2, 2, 1],
        embed_dim_per_stage=[16, 32, 64, 128],
        num_attention_heads_per_stage=list(heads),
        window_size_per_stage=[8, 4, 14, 7],
        global_attention_blocks=[4],
    )
    torch.manual_seed(0)
    model = Sam2VisionModel(Sam2VisionConfig(backbone_config=backbone, backbone_channel_list=[128, 64, 32, 16])).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "pos_embed" in name:
                p.copy_(torch.randn(p.shape) * 0.1)
    return model


def _originals(model):
    """Every patched module back to its class's own code."""
    for module in model.modules():
        for name in ("forward", "_get_pos_embed"):
            module.__dict__.pop(name, None)


def test_patched_vision_encoder_matches_the_original(kernels):
    model = _vision_model()
    x = torch.randn(1, 3, 512, 512)  # stage 3 at 32 x 32 in 14 x 14 windows: padded; global over 1024 tokens
    with torch.inference_mode():
        ref = model(x)
        n = sam2_vision.speed_up_sam2(model)
        assert n == 6 + 1 + 1  # six Hiera blocks, the trunk's position embedding, the neck
        ours = model(x)
        again = model(x)  # cached position embeddings give the same answer
    for a, b in [
        (ours.last_hidden_state, ref.last_hidden_state),
        *zip(ours.fpn_hidden_states, ref.fpn_hidden_states),
        *zip(ours.fpn_position_encoding, ref.fpn_position_encoding),
        (again.fpn_hidden_states[-1], ref.fpn_hidden_states[-1]),
    ]:
        assert a.shape == b.shape
        assert torch.allclose(a, b, atol=1e-4, rtol=1e-4), float((a - b).abs().max())


def test_position_embedding_cache_follows_the_weights():
    model = _vision_model()
    x = torch.randn(1, 3, 256, 256)
    sam2_vision.speed_up_sam2(model)
    with torch.inference_mode():
        model(x)
    with torch.no_grad():
        model.backbone.pos_embed.mul_(3.0)  # changed in place: the cached embedding must not be reused
    with torch.inference_mode():
        ours = model(x).last_hidden_state
        _originals(model)
        ref = model(x).last_hidden_state
    assert torch.allclose(ours, ref, atol=1e-4, rtol=1e-4)


def _memory_attention(heads: int, side: int, layers: int = 2):
    from transformers import Sam2VideoConfig
    from transformers.models.sam2_video.modeling_sam2_video import Sam2VideoMemoryAttention

    cfg = Sam2VideoConfig(
        memory_attention_hidden_size=64 * heads,
        memory_attention_num_layers=layers,
        memory_attention_num_attention_heads=heads,
        memory_attention_feed_forward_hidden_size=96,
        memory_attention_rope_feat_sizes=[side, side],
    )
    torch.manual_seed(1)
    return Sam2VideoMemoryAttention(cfg).eval()


@pytest.mark.parametrize("heads,side,frames,pointers", [(1, 16, 5, 8), (2, 8, 3, 4), (1, 32, 2, 0)])
def test_patched_memory_attention_matches_the_original(kernels, heads, side, frames, pointers):
    module = _memory_attention(heads, side)
    length, channels = side * side, module.layers[0].self_attn.hidden_size
    feats = torch.randn(length, 1, channels)
    pos = torch.randn(length, 1, channels)
    memory = torch.randn(frames * length + pointers, 1, 64)
    memory_pos = torch.randn(frames * length + pointers, 1, 64)
    args = dict(
        current_vision_features=feats,
        memory=memory,
        current_vision_position_embeddings=pos,
        memory_posision_embeddings=memory_pos,
        num_object_pointer_tokens=pointers,
    )
    with torch.inference_mode():
        ref = module(**args)
        assert sam2_vision.speed_up_sam2(module) == 1
        ours = module(**args)
    assert ours.shape == ref.shape
    assert torch.allclose(ours, ref, atol=1e-4, rtol=1e-4), float((ours - ref).abs().max())


def test_training_mode_uses_the_original_code():
    module = _memory_attention(1, 8, layers=1)
    sam2_vision.speed_up_sam2(module)
    module.train()
    feats, memory = torch.randn(64, 1, 64), torch.randn(128, 1, 64)
    torch.manual_seed(3)
    out = module(feats, memory, torch.zeros_like(feats), torch.zeros_like(memory))
    assert out.requires_grad  # autograd through transformers' own forward


def test_outside_the_range_nothing_is_patched(monkeypatch):
    monkeypatch.setattr(sam_vision, "TESTED_TRANSFORMERS", ((0, 1), (0, 2)))
    assert sam2_vision.speed_up_sam2(_vision_model()) == 0


def test_export_sees_plain_operations():
    """torch.export (what torch.onnx.export(dynamo=True) traces) gets no oneDNN operators and no caches."""
    from transformers import Sam2VisionConfig, Sam2VisionModel

    backbone = dict(
        model_type="sam2_hiera_det_model",
        hidden_size=8,
        blocks_per_stage=[1, 1, 1, 1],
        embed_dim_per_stage=[8, 16, 32, 64],
        num_attention_heads_per_stage=[1, 1, 2, 2],
        window_size_per_stage=[8, 4, 14, 7],
        global_attention_blocks=[2],
        image_size=256,
    )
    torch.manual_seed(0)
    model = Sam2VisionModel(Sam2VisionConfig(backbone_config=backbone, backbone_channel_list=[64, 32, 16, 8])).eval()
    sam2_vision.speed_up_sam2(model)

    class Encoder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, x):
            return self.model(x).fpn_hidden_states[-1]

    x = torch.randn(1, 3, 256, 256)
    program = torch.export.export(Encoder(), (x,))
    targets = {str(node.target) for node in program.graph.nodes if node.op == "call_function"}
    assert not [t for t in targets if "mkldnn" in t], sorted(targets)
    with torch.inference_mode():
        expected = Encoder()(x)
    assert torch.allclose(program.module()(x), expected, atol=1e-4, rtol=1e-4)


def test_bfloat16_encoder_uses_torch_and_matches_the_original():
    """Other dtypes take PyTorch's own products inside the patched forwards: same result as the
    original forwards in the same dtype."""
    model = _vision_model().to(torch.bfloat16)
    x = torch.randn(1, 3, 256, 256, dtype=torch.bfloat16)
    with torch.inference_mode():
        sam2_vision.speed_up_sam2(model)
        ours = model(x).fpn_hidden_states
        _originals(model)
        ref = model(x).fpn_hidden_states
    for a, b in zip(ours, ref):
        assert a.dtype == torch.bfloat16
        scale = float(b.float().abs().max())
        assert float((a.float() - b.float()).abs().max()) <= 0.05 * scale


def test_gradients_through_the_patched_encoder_match_the_original():
    """With autograd on (eval mode, weights requiring gradients) the patched forwards use PyTorch's
    operations and no caches: same outputs and same weight gradients as the original."""
    model = _vision_model()
    x = torch.randn(1, 3, 256, 256)

    def run():
        model.zero_grad()
        out = model(x)
        (out.fpn_hidden_states[-1].square().mean() + out.last_hidden_state.mean()).backward()
        return out.fpn_hidden_states[-1].detach(), {
            n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None
        }

    sam2_vision.speed_up_sam2(model)
    ours, ours_grads = run()
    _originals(model)
    ref, ref_grads = run()
    assert torch.allclose(ours, ref, atol=1e-4, rtol=1e-4)
    assert ours_grads.keys() == ref_grads.keys() and "backbone.pos_embed" in ref_grads
    for name, g in ref_grads.items():
        assert torch.allclose(ours_grads[name], g, atol=1e-4, rtol=1e-3), name


def test_bfloat16_memory_attention_matches_the_original():
    module = _memory_attention(1, 8).to(torch.bfloat16)
    feats, pos = torch.randn(64, 1, 64, dtype=torch.bfloat16), torch.randn(64, 1, 64, dtype=torch.bfloat16)
    memory, memory_pos = (
        torch.randn(3 * 64 + 4, 1, 64, dtype=torch.bfloat16),
        torch.randn(3 * 64 + 4, 1, 64, dtype=torch.bfloat16),
    )
    args = (feats, memory, pos, memory_pos, 4)
    with torch.inference_mode():
        ref = module(*args)
        sam2_vision.speed_up_sam2(module)
        ours = module(*args)
    assert ours.dtype == ref.dtype == torch.bfloat16
    assert float((ours.float() - ref.float()).abs().max()) <= 0.05 * float(ref.float().abs().max())
