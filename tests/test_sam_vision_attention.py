"""The faster SAM ViT attention (engines/sam_vision.py) returns what transformers' own does."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from tiny_models import tiny_sam_config, tiny_sam_hq_config

from sam_compose.engines.sam import vision as sam_vision


@pytest.mark.parametrize("cls,config", [("SamModel", tiny_sam_config), ("SamHQModel", tiny_sam_hq_config)])
def test_patched_encoder_matches_the_original(cls, config):
    torch.manual_seed(0)
    model = getattr(transformers, cls)(config(hidden=32, depth=2, heads=2)).eval()
    with torch.no_grad():
        for name, p in model.vision_encoder.named_parameters():
            if "rel_pos" in name:
                p.copy_(torch.randn(p.shape) * 0.1)
    x = torch.randn(1, 3, 1024, 1024)
    with torch.inference_mode():
        ref = model.vision_encoder(x)[0]
        assert sam_vision.speed_up_vision_attention(model) == 2
        ours = model.vision_encoder(x)[0]
    assert torch.allclose(ours, ref, atol=1e-4, rtol=1e-4), float((ours - ref).abs().max())


def test_version_range_matches_the_pin_in_pyproject():
    text = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    pin = re.search(r'"transformers>=(\d+)\.(\d+),<(\d+)"', text)
    assert pin, "the sam extra pins transformers to a range"
    low, high = sam_vision.TESTED_TRANSFORMERS
    assert low == (int(pin.group(1)), int(pin.group(2))) and high == (int(pin.group(3)), 0)
    assert sam_vision.transformers_supported()


def test_outside_the_range_nothing_is_patched(monkeypatch):
    monkeypatch.setattr(sam_vision, "TESTED_TRANSFORMERS", ((0, 1), (0, 2)))
    model = transformers.SamModel(tiny_sam_config()).eval()
    assert sam_vision.speed_up_vision_attention(model) == 0
