"""Meta's original Segment Anything checkpoints (``sam_vit_b_01ec64.pth`` and siblings) and SAM-HQ's.

Converts the state dict of Meta's ``segment_anything`` package (or of
``segment-anything-hq``'s ``sam_hq_vit_*.pth``) to the layout of ``transformers.SamModel``
(``SamHQModel``) with our own key mapping, and infers the architecture from the
tensors themselves (width, depth, heads, window size, which blocks use global attention,
MLP width), so shrunken or pruned checkpoints load as well as the official ViT-B/L/H.

Only ``torch.load(weights_only=True)`` is used: a file that pickles code is refused.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ...errors import EngineError
from ..checkpoint_io import layer_indices, load_state_dict, mlp_layer_name
from ..meta_device import build_with_tensors

# (pattern, replacement) applied in order to every Meta key; anchored regexes.
_RENAMES: tuple[tuple[str, str], ...] = (
    (r"^image_encoder\.patch_embed\.proj\.", "vision_encoder.patch_embed.projection."),
    (r"^image_encoder\.pos_embed$", "vision_encoder.pos_embed"),
    (r"^image_encoder\.blocks\.(\d+)\.norm1\.", r"vision_encoder.layers.\1.layer_norm1."),
    (r"^image_encoder\.blocks\.(\d+)\.norm2\.", r"vision_encoder.layers.\1.layer_norm2."),
    (r"^image_encoder\.blocks\.(\d+)\.attn\.", r"vision_encoder.layers.\1.attn."),
    (r"^image_encoder\.blocks\.(\d+)\.mlp\.", r"vision_encoder.layers.\1.mlp."),
    (r"^image_encoder\.neck\.0\.", "vision_encoder.neck.conv1."),
    (r"^image_encoder\.neck\.1\.", "vision_encoder.neck.layer_norm1."),
    (r"^image_encoder\.neck\.2\.", "vision_encoder.neck.conv2."),
    (r"^image_encoder\.neck\.3\.", "vision_encoder.neck.layer_norm2."),
    (r"^prompt_encoder\.point_embeddings\.(\d+)\.", r"prompt_encoder.point_embed.\1."),
    (r"^prompt_encoder\.mask_downscaling\.0\.", "prompt_encoder.mask_embed.conv1."),
    (r"^prompt_encoder\.mask_downscaling\.1\.", "prompt_encoder.mask_embed.layer_norm1."),
    (r"^prompt_encoder\.mask_downscaling\.3\.", "prompt_encoder.mask_embed.conv2."),
    (r"^prompt_encoder\.mask_downscaling\.4\.", "prompt_encoder.mask_embed.layer_norm2."),
    (r"^prompt_encoder\.mask_downscaling\.6\.", "prompt_encoder.mask_embed.conv3."),
    (r"^mask_decoder\.transformer\.layers\.(\d+)\.norm(\d)\.", r"mask_decoder.transformer.layers.\1.layer_norm\2."),
    (r"^mask_decoder\.transformer\.norm_final_attn\.", "mask_decoder.transformer.layer_norm_final_attn."),
    (r"^mask_decoder\.output_upscaling\.0\.", "mask_decoder.upscale_conv1."),
    (r"^mask_decoder\.output_upscaling\.1\.", "mask_decoder.upscale_layer_norm."),
    (r"^mask_decoder\.output_upscaling\.3\.", "mask_decoder.upscale_conv2."),
    (r"^mask_decoder\.(output_hypernetworks_mlps\.\d+|iou_prediction_head)\.layers\.(\d+)\.", r"mask_decoder.\1.@\2."),
    # SAM-HQ's extra decoder parts
    (r"^mask_decoder\.hf_token\.", "mask_decoder.hq_token."),
    (r"^mask_decoder\.hf_mlp\.layers\.(\d+)\.", r"mask_decoder.hq_mask_mlp.@\1."),
    (r"^mask_decoder\.compress_vit_feat\.0\.", "mask_decoder.compress_vit_conv1."),
    (r"^mask_decoder\.compress_vit_feat\.1\.", "mask_decoder.compress_vit_norm."),
    (r"^mask_decoder\.compress_vit_feat\.3\.", "mask_decoder.compress_vit_conv2."),
    (r"^mask_decoder\.embedding_encoder\.0\.", "mask_decoder.encoder_conv1."),
    (r"^mask_decoder\.embedding_encoder\.1\.", "mask_decoder.encoder_norm."),
    (r"^mask_decoder\.embedding_encoder\.3\.", "mask_decoder.encoder_conv2."),
    (r"^mask_decoder\.embedding_maskfeature\.0\.", "mask_decoder.mask_conv1."),
    (r"^mask_decoder\.embedding_maskfeature\.1\.", "mask_decoder.mask_norm."),
    (r"^mask_decoder\.embedding_maskfeature\.3\.", "mask_decoder.mask_conv2."),
)
_PE_KEY = "prompt_encoder.pe_layer.positional_encoding_gaussian_matrix"
_STANDARD = {768: "vit_b", 1024: "vit_l", 1280: "vit_h"}


def infer_config(sd: Mapping[str, Any], source: str = "checkpoint") -> dict[str, Any]:
    """Architecture of a Meta SAM state dict as ``SamConfig`` keyword arguments.

    Raises :class:`EngineError` naming the missing keys when the dict is not a SAM model.
    """
    required = [
        "image_encoder.patch_embed.proj.weight",
        "mask_decoder.mask_tokens.weight",
        _PE_KEY,
        "image_encoder.neck.0.weight",
    ]
    missing = [k for k in required if k not in sd]
    if missing:
        sample = sorted(sd)[:5]
        raise EngineError(
            f"{source} is not a Segment Anything checkpoint: missing keys {missing} "
            f"(found e.g. {sample}); expected Meta's sam_vit_b/l/h format"
        )
    keys = list(sd)
    patch_w = sd["image_encoder.patch_embed.proj.weight"]
    hidden, _, patch, _ = (int(v) for v in patch_w.shape)
    blocks = layer_indices(keys, "image_encoder.blocks.")
    if not blocks:
        raise EngineError(f"{source} has no image encoder blocks (image_encoder.blocks.N.*)")
    if blocks != list(range(len(blocks))):
        gaps = sorted(set(range(blocks[-1] + 1)) - set(blocks))
        raise EngineError(
            f"{source}: image encoder blocks are not contiguous, missing keys for blocks {gaps} "
            f"(image_encoder.blocks.{gaps[0]}.*); the checkpoint is incomplete or mislabelled"
        )
    pos = sd.get("image_encoder.pos_embed")
    grid = int(pos.shape[1]) if pos is not None else None
    image_size = grid * patch if grid else 1024
    grid = grid or image_size // patch
    global_idx: list[int] = []
    window = 14
    head_dim = None
    use_rel_pos = "image_encoder.blocks.0.attn.rel_pos_h" in sd
    for i in blocks:
        rp = sd.get(f"image_encoder.blocks.{i}.attn.rel_pos_h")
        if rp is None:
            continue
        head_dim = int(rp.shape[1])
        span = (int(rp.shape[0]) + 1) // 2
        if span == grid:
            global_idx.append(i)
        else:
            window = span
    if not use_rel_pos:
        global_idx = []  # cannot tell; without relative positions every block is treated alike
    heads = hidden // head_dim if head_dim else max(1, hidden // 64)
    mlp_dim = int(sd["image_encoder.blocks.0.mlp.lin1.weight"].shape[0])
    out_ch = int(sd["image_encoder.neck.0.weight"].shape[0])
    dec_layers = layer_indices(keys, "mask_decoder.transformer.layers.")
    dec_hidden = int(sd["mask_decoder.mask_tokens.weight"].shape[1])
    vision = dict(
        hidden_size=hidden,
        num_hidden_layers=len(blocks),
        num_attention_heads=heads,
        image_size=image_size,
        patch_size=patch,
        output_channels=out_ch,
        mlp_dim=mlp_dim,
        window_size=window,
        global_attn_indexes=global_idx,
        use_abs_pos=pos is not None,
        use_rel_pos=use_rel_pos,
        num_pos_feats=int(sd[_PE_KEY].shape[1]),
        qkv_bias="image_encoder.blocks.0.attn.qkv.bias" in sd,
    )
    prompt = dict(
        hidden_size=dec_hidden,
        image_size=image_size,
        patch_size=patch,
        mask_input_channels=int(sd.get("prompt_encoder.mask_downscaling.3.weight", patch_w.new_zeros(16)).shape[0]),
        num_point_embeddings=len(layer_indices(keys, "prompt_encoder.point_embeddings.")) or 4,
    )
    decoder = dict(
        hidden_size=dec_hidden,
        num_hidden_layers=len(dec_layers) or 2,
        mlp_dim=int(sd.get("mask_decoder.transformer.layers.0.mlp.lin1.weight", patch_w.new_zeros(2048)).shape[0]),
        num_multimask_outputs=int(sd["mask_decoder.mask_tokens.weight"].shape[0]) - 1,
        iou_head_hidden_dim=int(
            sd.get("mask_decoder.iou_prediction_head.layers.0.weight", patch_w.new_zeros(256)).shape[0]
        ),
        # Meta's two-way transformer uses torch's default LayerNorm eps
        layer_norm_eps=1e-5,
    )
    return {"vision_config": vision, "prompt_encoder_config": prompt, "mask_decoder_config": decoder}


def convert_state_dict(sd: Mapping[str, Any]) -> dict[str, Any]:
    """Meta key names -> ``transformers.SamModel`` key names (tensors shared, not copied)."""
    out: dict[str, Any] = {}
    for key, value in sd.items():
        if key in ("pixel_mean", "pixel_std"):
            continue
        if key == _PE_KEY:
            out["shared_image_embedding.positional_embedding"] = value
            out["prompt_encoder.shared_embedding.positional_embedding"] = value
            continue
        new = key
        for pat, rep in _RENAMES:
            new = re.sub(pat, rep, new)
        m = re.match(
            r"^(mask_decoder\.(?:output_hypernetworks_mlps\.\d+|iou_prediction_head|hq_mask_mlp))\.@(\d+)\.(.*)$", new
        )
        if m:
            base, idx, rest = m.group(1), int(m.group(2)), m.group(3)
            depth = 1 + max(
                int(k.split(".layers.")[1].split(".")[0])
                for k in sd
                if k.startswith(key.split(".layers.")[0] + ".layers.")
            )
            new = f"{mlp_layer_name(base, idx, depth)}.{rest}"
        out[new] = value
    return out


def describe_variant(config: Mapping[str, Any]) -> str:
    """``vit_b``/``vit_l``/``vit_h`` for the official widths, else ``custom``."""
    return _STANDARD.get(int(config["vision_config"]["hidden_size"]), "custom")


def build_model_from_checkpoint(
    path: str | Path, dtype: Any = None, state_dict: Mapping[str, Any] | None = None, hq: bool = False
):
    """A ``transformers.SamModel`` (``SamHQModel`` with ``hq``) holding a Meta / SAM-HQ ``.pth``.

    The architecture is inferred from the tensors. Raises :class:`EngineError` naming
    missing or unexpected keys when the tensors do not form a complete SAM (SAM-HQ) model.
    """
    import transformers

    path = Path(path)
    sd = dict(state_dict) if state_dict is not None else load_state_dict(path)
    cfg_kwargs = infer_config(sd, path.name)
    if hq:
        cfg_kwargs["mask_decoder_config"]["vit_dim"] = cfg_kwargs["vision_config"]["hidden_size"]
    # either class pair; typed Any because the two configs' keyword sets differ
    config_cls: Any = transformers.SamHQConfig if hq else transformers.SamConfig
    model_cls: Any = transformers.SamHQModel if hq else transformers.SamModel
    what = "SAM-HQ" if hq else "SAM"
    variant = describe_variant(cfg_kwargs)
    named = re.search(r"vit_([blh])", path.name.lower())
    if named and variant != "custom" and variant != f"vit_{named.group(1)}":
        warnings.warn(
            f"{path.name} is named like vit_{named.group(1)} but its tensors are a {variant} "
            f"(width {cfg_kwargs['vision_config']['hidden_size']}); loading it as {variant}",
            stacklevel=3,
        )
    config = config_cls(**cfg_kwargs, attn_implementation="sdpa")
    model = build_with_tensors(
        lambda: model_cls(config),
        convert_state_dict(sd),
        f"{path.name} does not match the {what} architecture inferred from it ({variant}, "
        f"{cfg_kwargs['vision_config']['num_hidden_layers']} blocks)",
        allow_extra=False,
        float32=True,
    )
    if dtype is not None:
        model = model.to(dtype)
    return model
