"""Tiny randomly initialised SAM-family models, for tests and benchmarks without weights.

The image input stays 1024 x 1024 (SAM's geometry is fixed); only the encoders shrink.
Every builder is seeded so two calls give identical weights.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def tiny_meta_sam(embed_dim: int = 32, depth: int = 2, heads: int = 2, global_attn: tuple[int, ...] = (1,),
                  seed: int = 0, randomize_positions: bool = True):
    """A shrunken Meta ``segment_anything`` SAM (reference implementation), eval mode.

    Meta initialises relative/absolute position embeddings to zero; ``randomize_positions``
    fills them with small noise so parity tests exercise them.
    """
    import torch
    from segment_anything.build_sam import _build_sam

    torch.manual_seed(seed)
    model = _build_sam(encoder_embed_dim=embed_dim, encoder_depth=depth, encoder_num_heads=heads,
                       encoder_global_attn_indexes=list(global_attn))
    if randomize_positions:
        g = torch.Generator().manual_seed(seed + 1)
        with torch.no_grad():
            for name, p in model.named_parameters():
                if "rel_pos" in name or "pos_embed" in name:
                    p.copy_(torch.randn(p.shape, generator=g) * 0.02)
    return model.eval()


def save_tiny_meta_checkpoint(path: str | Path, **kwargs: Any) -> Path:
    """Write :func:`tiny_meta_sam`'s state dict as a Meta-style ``.pth``; returns the path."""
    import torch

    path = Path(path)
    torch.save(tiny_meta_sam(**kwargs).state_dict(), str(path))
    return path


def tiny_sam_config(hidden: int = 32, depth: int = 2, heads: int = 1):
    from transformers import SamConfig

    return SamConfig(vision_config=dict(hidden_size=hidden, num_hidden_layers=depth, num_attention_heads=heads,
                                        global_attn_indexes=[depth - 1]))


def tiny_sam_hq_config(hidden: int = 32, depth: int = 2, heads: int = 1):
    from transformers import SamHQConfig

    return SamHQConfig(vision_config=dict(hidden_size=hidden, num_hidden_layers=depth, num_attention_heads=heads,
                                          global_attn_indexes=[depth - 1]),
                       mask_decoder_config=dict(vit_dim=hidden))


def tiny_sam2_config():
    from transformers import Sam2Config

    backbone = dict(model_type="sam2_hiera_det_model", hidden_size=16, blocks_per_stage=[1, 1, 2, 1],
                    embed_dim_per_stage=[16, 32, 64, 128], num_attention_heads_per_stage=[1, 1, 1, 1],
                    window_size_per_stage=[8, 4, 14, 7], global_attention_blocks=[3])
    return Sam2Config(vision_config=dict(backbone_config=backbone, backbone_channel_list=[128, 64, 32, 16]))


def save_tiny_pretrained(folder: str | Path, family: str = "sam", seed: int = 0) -> Path:
    """Write a tiny random ``save_pretrained`` folder for ``family`` in {sam, sam_hq, sam2}."""
    import torch
    import transformers

    builders = {"sam": (tiny_sam_config, "SamModel"), "sam_hq": (tiny_sam_hq_config, "SamHQModel"),
                "sam2": (tiny_sam2_config, "Sam2Model")}
    config_fn, cls = builders[family]
    torch.manual_seed(seed)
    model = getattr(transformers, cls)(config_fn()).eval()
    folder = Path(folder)
    model.save_pretrained(str(folder))
    return folder
