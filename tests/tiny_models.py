"""Tiny randomly initialised SAM-family models, for tests and benchmarks without weights.

The image input stays 1024 x 1024 (SAM's geometry is fixed); only the encoders shrink.
Every builder is seeded so two calls give identical weights.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _meta_vit_sam(package: str, embed_dim: int, depth: int, heads: int, global_attn: tuple[int, ...]):
    """Meta's ViT SAM (``segment_anything``) or SAM-HQ (``segment_anything_hq``) from the packages'
    public module classes, with the official wiring (patch 16, window 14, 256-wide decoder)."""
    import importlib
    from functools import partial

    import torch

    mod = importlib.import_module(f"{package}.modeling")
    decoder_kw = {"vit_dim": embed_dim} if package == "segment_anything_hq" else {}
    decoder_cls = mod.MaskDecoderHQ if package == "segment_anything_hq" else mod.MaskDecoder
    return mod.Sam(
        image_encoder=mod.ImageEncoderViT(
            depth=depth,
            embed_dim=embed_dim,
            img_size=1024,
            mlp_ratio=4,
            norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
            num_heads=heads,
            patch_size=16,
            qkv_bias=True,
            use_rel_pos=True,
            global_attn_indexes=list(global_attn),
            window_size=14,
            out_chans=256,
        ),
        prompt_encoder=mod.PromptEncoder(
            embed_dim=256, image_embedding_size=(64, 64), input_image_size=(1024, 1024), mask_in_chans=16
        ),
        mask_decoder=decoder_cls(
            num_multimask_outputs=3,
            transformer=mod.TwoWayTransformer(depth=2, embedding_dim=256, mlp_dim=2048, num_heads=8),
            transformer_dim=256,
            iou_head_depth=3,
            iou_head_hidden_dim=256,
            **decoder_kw,
        ),
        pixel_mean=[123.675, 116.28, 103.53],
        pixel_std=[58.395, 57.12, 57.375],
    )


def _randomize_positions(model: Any, seed: int) -> None:
    import torch

    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "rel_pos" in name or "pos_embed" in name:
                p.copy_(torch.randn(p.shape, generator=g) * 0.02)


def tiny_meta_sam(
    embed_dim: int = 32,
    depth: int = 2,
    heads: int = 2,
    global_attn: tuple[int, ...] = (1,),
    seed: int = 0,
    randomize_positions: bool = True,
):
    """A shrunken Meta ``segment_anything`` SAM (reference implementation), eval mode.

    Meta initialises relative/absolute position embeddings to zero; ``randomize_positions``
    fills them with small noise so parity tests exercise them.
    """
    import torch

    torch.manual_seed(seed)
    model = _meta_vit_sam("segment_anything", embed_dim, depth, heads, global_attn)
    if randomize_positions:
        _randomize_positions(model, seed)
    return model.eval()


def tiny_meta_sam_hq(
    embed_dim: int = 32,
    depth: int = 2,
    heads: int = 2,
    global_attn: tuple[int, ...] = (1,),
    seed: int = 0,
    randomize_positions: bool = True,
):
    """A shrunken SAM-HQ from ``segment-anything-hq`` (its ViT-B wiring at a smaller width), eval mode."""
    import torch

    torch.manual_seed(seed)
    model = _meta_vit_sam("segment_anything_hq", embed_dim, depth, heads, global_attn)
    if randomize_positions:
        _randomize_positions(model, seed)
    return model.eval()


def save_tiny_meta_checkpoint(path: str | Path, **kwargs: Any) -> Path:
    """Write :func:`tiny_meta_sam`'s state dict as a Meta-style ``.pth``; returns the path."""
    import torch

    path = Path(path)
    torch.save(tiny_meta_sam(**kwargs).state_dict(), str(path))
    return path


def tiny_sam_config(hidden: int = 32, depth: int = 2, heads: int = 1):
    from transformers import SamConfig

    return SamConfig(
        vision_config=dict(
            hidden_size=hidden, num_hidden_layers=depth, num_attention_heads=heads, global_attn_indexes=[depth - 1]
        )
    )


def tiny_sam_hq_config(hidden: int = 32, depth: int = 2, heads: int = 1):
    from transformers import SamHQConfig

    return SamHQConfig(
        vision_config=dict(
            hidden_size=hidden, num_hidden_layers=depth, num_attention_heads=heads, global_attn_indexes=[depth - 1]
        ),
        mask_decoder_config=dict(vit_dim=hidden),
    )


def tiny_sam2_config():
    from transformers import Sam2Config

    backbone = dict(
        model_type="sam2_hiera_det_model",
        hidden_size=16,
        blocks_per_stage=[1, 1, 2, 1],
        embed_dim_per_stage=[16, 32, 64, 128],
        num_attention_heads_per_stage=[1, 1, 1, 1],
        window_size_per_stage=[8, 4, 14, 7],
        global_attention_blocks=[3],
    )
    return Sam2Config(vision_config=dict(backbone_config=backbone, backbone_channel_list=[128, 64, 32, 16]))


def save_tiny_pretrained(folder: str | Path, family: str = "sam", seed: int = 0) -> Path:
    """Write a tiny random ``save_pretrained`` folder for ``family`` in {sam, sam_hq, sam2}."""
    import torch
    import transformers

    builders = {
        "sam": (tiny_sam_config, "SamModel"),
        "sam_hq": (tiny_sam_hq_config, "SamHQModel"),
        "sam2": (tiny_sam2_config, "Sam2Model"),
    }
    config_fn, cls = builders[family]
    torch.manual_seed(seed)
    model = getattr(transformers, cls)(config_fn()).eval()
    folder = Path(folder)
    model.save_pretrained(str(folder))
    return folder


SAM2_TINY_OVERRIDES = (
    # Hiera trunk: hiera-tiny's family (1 head doubling per stage, windows 8/4/14/7, FPN on the
    # last two levels), shrunk from width 96 / stages [1, 2, 7, 2] / global blocks [5, 7, 9]
    "++model.image_encoder.trunk.embed_dim=16",
    "++model.image_encoder.trunk.stages=[1,1,2,1]",
    "++model.image_encoder.trunk.global_att_blocks=[3]",
    "++model.image_encoder.neck.backbone_channel_list=[128,64,32,16]",
    # model width 256 -> 128 (decoder, memory attention, memory encoder input, fuser)
    "++model.image_encoder.neck.d_model=128",
    "++model.image_encoder.neck.position_encoding.num_pos_feats=128",
    "++model.memory_attention.d_model=128",
    "++model.memory_attention.layer.d_model=128",
    "++model.memory_attention.layer.self_attention.embedding_dim=128",
    "++model.memory_attention.layer.cross_attention.embedding_dim=128",
    "++model.memory_encoder.in_dim=128",
    "++model.memory_encoder.mask_downsampler.embed_dim=128",
    "++model.memory_encoder.fuser.layer.dim=128",
    # memory attention 4 layers / FFN 2048 -> 1 layer / FFN 64; fuser 2 -> 1 layer; memory 7 -> 3 frames
    "++model.memory_attention.num_layers=1",
    "++model.memory_attention.layer.dim_feedforward=64",
    "++model.memory_encoder.fuser.num_layers=1",
    "++model.num_maskmem=3",
)


def _sam2_overrides(image_size: int) -> list[str]:
    extra = []
    if image_size != 1024:
        g = image_size // 16
        extra = [
            f"++model.image_size={image_size}",
            f"++model.memory_attention.layer.self_attention.feat_sizes=[{g},{g}]",
            f"++model.memory_attention.layer.cross_attention.feat_sizes=[{g},{g}]",
        ]
    return list(SAM2_TINY_OVERRIDES) + extra


def tiny_meta_sam2(seed: int = 0, video: bool = False, image_size: int = 1024, randomize_positions: bool = True):
    """A shrunken SAM 2.1 hiera-tiny built by Meta's ``sam2`` from its own config, on CPU, eval mode.

    Built with ``sam2.build_sam.build_sam2`` (or ``build_sam2_video_predictor`` when ``video``)
    and ``configs/sam2.1/sam2.1_hiera_t.yaml`` with :data:`SAM2_TINY_OVERRIDES` (plus the input
    size when ``image_size`` is not 1024: video tests run at 256); post-processing as Meta's
    defaults (dynamic multimask via stability, binarised memory masks). Zero-initialised
    position embeddings get small noise so parity tests exercise them.
    """
    import torch
    from sam2.build_sam import build_sam2, build_sam2_video_predictor

    torch.manual_seed(seed)
    build = build_sam2_video_predictor if video else build_sam2
    model = build(
        "configs/sam2.1/sam2.1_hiera_t.yaml", None, device="cpu", hydra_overrides_extra=_sam2_overrides(image_size)
    )
    model.sam_compose_image_size = image_size
    if randomize_positions:
        g = torch.Generator().manual_seed(seed + 1)
        with torch.no_grad():
            for name, p in model.named_parameters():
                if name.endswith(("pos_embed", "pos_embed_window")):
                    p.copy_(torch.randn(p.shape, generator=g) * 0.02)
    return model.eval()


def save_meta_sam2_checkpoint(model: Any, path: str | Path, with_config: bool = True) -> Path:
    """Save a ``sam2`` model as Meta does: ``{"model": state_dict}`` in a ``.pt``.

    ``with_config`` also writes the resolved Hydra config beside it (``x.yaml`` for ``x.pt``),
    as Meta's training does, so hyperparameters the tensors do not hold are known.
    """
    import torch

    path = Path(path)
    torch.save({"model": model.state_dict()}, str(path))
    if with_config:
        from hydra import compose
        from omegaconf import OmegaConf

        size = getattr(model, "sam_compose_image_size", 1024)
        cfg = compose(config_name="configs/sam2.1/sam2.1_hiera_t.yaml", overrides=_sam2_overrides(size))
        OmegaConf.save(cfg, str(path.with_suffix(".yaml")), resolve=True)
    return path


SAM3_SIZE = 112
"""Input size of the tiny SAM 3 (patch 14 -> an 8 x 8 grid; the released model uses 1008)."""
SAM3_QUERIES = 4
"""Object queries of the tiny SAM 3 detector (the released model has 200)."""


def tiny_clip_tokenizer():
    """A CLIP BPE tokenizer with a byte-level vocabulary and no merges (every word splits into
    characters), built in memory: what SAM 3's processor needs, without downloading CLIP's vocab."""
    from transformers import CLIPTokenizer

    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    chars = [chr(c) for c in cs]
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for ch in chars:
        vocab[ch] = len(vocab)
        vocab[ch + "</w>"] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[])


def tiny_sam3_config(video: bool = True, size: int = SAM3_SIZE):
    """The smallest SAM 3 whose shapes line up: a 2-layer ViT (width 32), 1-layer CLIP text
    encoder, one layer each of geometry encoder, DETR encoder and decoder (width 128, 4
    queries), and with ``video`` the tracker (SAM 2-style decoder and memory) of ``Sam3VideoConfig``;
    model width 128 over a 64-channel memory (transformers' SAM 3 tracker needs memory < width)."""
    import transformers as T

    g = size // 14
    vit = {
        "model_type": "sam3_vit_model",
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "image_size": size,
        "patch_size": 14,
        "window_size": 8,
        "global_attn_indexes": [1],
        "pretrain_image_size": 56,
    }
    vision = {
        "model_type": "sam3_vision_model",
        "backbone_config": vit,
        "fpn_hidden_size": 128,
        "backbone_feature_sizes": [[4 * g] * 2, [2 * g] * 2, [g] * 2],
    }
    text = {
        "model_type": "clip_text_model",
        "vocab_size": 520,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "max_position_embeddings": 32,
        "projection_dim": 32,
        "bos_token_id": 0,
        "eos_token_id": 1,
        "pad_token_id": 1,
    }
    small = {"hidden_size": 128, "num_attention_heads": 2, "intermediate_size": 64}
    det = T.Sam3Config(
        vision_config=vision,
        text_config=text,
        geometry_encoder_config={**small, "num_layers": 1},
        detr_encoder_config={**small, "num_layers": 1},
        detr_decoder_config={**small, "num_layers": 1, "num_queries": SAM3_QUERIES},
        mask_decoder_config={"hidden_size": 128, "num_attention_heads": 2},
    )
    if not video:
        return det
    tracker = {
        "model_type": "sam3_tracker_video",
        "vision_config": vision,
        "image_size": size,
        "prompt_encoder_config": {"hidden_size": 128, "image_size": size, "patch_size": 14},
        "mask_decoder_config": {"hidden_size": 128, "mlp_dim": 64, "num_attention_heads": 2, "iou_head_hidden_dim": 32},
        "num_maskmem": 3,
        "max_object_pointers_in_encoder": 4,
        "memory_attention_hidden_size": 128,
        "memory_attention_num_layers": 1,
        "memory_attention_feed_forward_hidden_size": 64,
        "memory_attention_rope_feat_sizes": [g, g],
        "memory_encoder_hidden_size": 128,
        "mask_downsampler_embed_dim": 128,
        "memory_fuser_embed_dim": 128,
        "memory_fuser_intermediate_dim": 64,
        "memory_fuser_num_layers": 1,
    }
    # random weights score about 0.3-0.55: lower the detection thresholds so instances are found and tracked
    return T.Sam3VideoConfig(
        detector_config=det.to_dict(),
        tracker_config=tracker,
        low_res_mask_size=4 * g,
        score_threshold_detection=0.2,
        new_det_thresh=0.2,
    )


def save_tiny_sam3(folder: str | Path, video: bool = True, seed: int = 0) -> Path:
    """Write a tiny random SAM 3 folder as ``save_pretrained`` does: model, image processor and
    tokenizer (``Sam3Processor``). ``video``: the whole ``Sam3VideoModel`` (detector + tracker, like
    ``facebook/sam3``); otherwise the concept detector alone (``Sam3Model``)."""
    import torch
    import transformers as T

    folder = Path(folder)
    torch.manual_seed(seed)
    cfg = tiny_sam3_config(video=video)
    model = (T.Sam3VideoModel(cfg) if video else T.Sam3Model(cfg)).eval()
    det = model.detector_model if video else model
    with torch.no_grad():  # spread the class scores (random weights give ~0.5 x ~0.5) so a threshold splits them
        det.dot_product_scoring.text_proj.weight.mul_(6.0)
        det.dot_product_scoring.query_proj.weight.mul_(6.0)
        for name, p in det.named_parameters():
            if "presence" in name and name.endswith("bias"):
                p.add_(2.0)
        if video:  # tracked objects stay present
            model.tracker_model.mask_decoder.pred_obj_score_head.proj_out.bias.add_(8.0)
    model.save_pretrained(str(folder))
    size = {"height": SAM3_SIZE, "width": SAM3_SIZE}
    proc = T.Sam3Processor(
        T.Sam3ImageProcessor(size=size, mask_size={"height": 4 * (SAM3_SIZE // 14)} | {"width": 4 * (SAM3_SIZE // 14)}),
        tiny_clip_tokenizer(),
    )
    proc.save_pretrained(str(folder))
    return folder


EDGETAM_SIZE = 256
"""Input size of the tiny EdgeTAM (the released model uses 1024)."""


def tiny_edgetam_video_config(size: int = EDGETAM_SIZE):
    """A small ``EdgeTamVideoConfig``: timm's RepViT-M1 trunk (EdgeTAM's, randomly initialised),
    FPN and decoder width 128 over a 64-channel memory, one memory-attention layer, a 16-latent
    perceiver, 256 x 256 input."""
    from transformers import EdgeTamVideoConfig, EdgeTamVisionConfig, TimmWrapperConfig

    s = size
    trunk = TimmWrapperConfig(
        architecture="repvit_m1", model_args={"in_chans": 3, "features_only": True, "out_indices": [0, 1, 2, 3]}
    )
    vision = EdgeTamVisionConfig(
        backbone_config=trunk, fpn_hidden_size=128, backbone_feature_sizes=[[s // 4] * 2, [s // 8] * 2, [s // 16] * 2]
    )
    return EdgeTamVideoConfig(
        vision_config=vision,
        image_size=s,
        prompt_encoder_config={"hidden_size": 128, "image_size": s, "patch_size": 16},
        mask_decoder_config={"hidden_size": 128, "mlp_dim": 64, "num_attention_heads": 2, "iou_head_hidden_dim": 32},
        num_maskmem=3,
        max_object_pointers_in_encoder=4,
        memory_attention_hidden_size=128,
        memory_attention_num_layers=1,
        memory_attention_mlp_hidden_size=64,
        memory_attention_rope_feat_sizes=[s // 16, s // 16],
        memory_attention_rope_k_sizes=[4, 4],
        perceiver_resampler_num_latents=16,
        perceiver_resampler_num_layers=1,
        memory_encoder_hidden_size=128,
        mask_downsampler_embed_dim=128,
        memory_fuser_embed_dim=128,
        memory_fuser_intermediate_dim=64,
        memory_fuser_num_layers=1,
    )


def save_tiny_edgetam(folder: str | Path, seed: int = 0) -> Path:
    """A tiny random EdgeTAM written by ``EdgeTamVideoModel.save_pretrained`` (image and video load from it)."""
    import torch
    from transformers import EdgeTamVideoModel

    torch.manual_seed(seed)
    model = EdgeTamVideoModel(tiny_edgetam_video_config()).eval()
    with torch.no_grad():  # objects stay present (random object-score heads would lose them at once)
        model.mask_decoder.pred_obj_score_head.proj_out.bias.add_(8.0)
    folder = Path(folder)
    model.save_pretrained(str(folder))
    return folder
