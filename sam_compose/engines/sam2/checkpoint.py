"""Meta's SAM 2 / SAM 2.1 checkpoints (``sam2.1_hiera_tiny.pt`` and siblings) on ``transformers``.

Meta's ``sam2`` package saves ``{"model": state_dict}``; this module renames its keys to the
layout of ``transformers.Sam2Model`` (image) and ``Sam2VideoModel`` (video) with our own
rules, and infers the architecture from the tensors: Hiera stage depths and widths, MLP
ratio, background and window position-embedding sizes, FPN channels, decoder, memory
attention and memory encoder sizes, memory length.

Three hyperparameters are not stored in the tensors: the attention heads of the Hiera
trunk, its window sizes after the first stage, and which blocks use global attention.
They are taken, in this order, from Meta's Hydra config saved next to the checkpoint
(``model.yaml`` beside ``model.pt``, as ``sam2``'s training writes it: ``num_heads``,
``window_spec``, ``global_att_blocks`` and ``image_size`` are read), from Meta's configs for
the four official variants (tiny, small, base-plus, large, recognised by their stage
depths and width), or else assumed: one head doubling per stage (as in Hiera), Hiera's
windows, global attention in the last block of the third stage, with a warning saying so.
The image size is 1024 (every released checkpoint) unless the config says otherwise.

Only ``torch.load(weights_only=True)`` is used (see :func:`.meta_checkpoint.load_state_dict`).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ...errors import EngineError
from ..checkpoint_io import is_sam2_state_dict, layer_indices, load_state_dict, mlp_layer_name
from ..meta_device import build_with_tensors

SAM2_IMAGE_SIZE = 1024

# (blocks per stage, width) -> (trunk heads at stage 0, windows per stage, global attention blocks)
_OFFICIAL: dict[tuple[tuple[int, ...], int], tuple[str, int, list[int], list[int]]] = {
    ((1, 2, 7, 2), 96): ("hiera-tiny", 1, [8, 4, 14, 7], [5, 7, 9]),
    ((1, 2, 11, 2), 96): ("hiera-small", 1, [8, 4, 14, 7], [7, 10, 13]),
    ((2, 3, 16, 3), 112): ("hiera-base-plus", 2, [8, 4, 14, 7], [12, 16, 20]),
    ((2, 6, 36, 4), 144): ("hiera-large", 2, [8, 4, 16, 8], [23, 33, 43]),
}

# Ordered renames, Meta key -> transformers key (anchored regexes; MLP layers are handled after).
_RENAMES: tuple[tuple[str, str], ...] = (
    # Hiera trunk and FPN neck
    (r"^image_encoder\.trunk\.patch_embed\.proj\.", "vision_encoder.backbone.patch_embed.projection."),
    (r"^image_encoder\.trunk\.blocks\.(\d+)\.norm(\d)\.", r"vision_encoder.backbone.blocks.\1.layer_norm\2."),
    (r"^image_encoder\.trunk\.", "vision_encoder.backbone."),
    (r"^image_encoder\.neck\.convs\.(\d+)\.conv\.", r"vision_encoder.neck.convs.\1."),
    # prompt encoder
    (r"^sam_prompt_encoder\.mask_downscaling\.0\.", "prompt_encoder.mask_embed.conv1."),
    (r"^sam_prompt_encoder\.mask_downscaling\.1\.", "prompt_encoder.mask_embed.layer_norm1."),
    (r"^sam_prompt_encoder\.mask_downscaling\.3\.", "prompt_encoder.mask_embed.conv2."),
    (r"^sam_prompt_encoder\.mask_downscaling\.4\.", "prompt_encoder.mask_embed.layer_norm2."),
    (r"^sam_prompt_encoder\.mask_downscaling\.6\.", "prompt_encoder.mask_embed.conv3."),
    (r"^sam_prompt_encoder\.", "prompt_encoder."),
    # mask decoder
    (r"^sam_mask_decoder\.output_upscaling\.0\.", "mask_decoder.upscale_conv1."),
    (r"^sam_mask_decoder\.output_upscaling\.1\.", "mask_decoder.upscale_layer_norm."),
    (r"^sam_mask_decoder\.output_upscaling\.3\.", "mask_decoder.upscale_conv2."),
    (r"^sam_mask_decoder\.transformer\.norm_final_attn\.", "mask_decoder.transformer.layer_norm_final_attn."),
    (r"^sam_mask_decoder\.transformer\.layers\.(\d+)\.norm(\d)\.", r"mask_decoder.transformer.layers.\1.layer_norm\2."),
    (r"^sam_mask_decoder\.", "mask_decoder."),
    # memory attention
    (r"^memory_attention\.norm\.", "memory_attention.layer_norm."),
    (r"^memory_attention\.layers\.(\d+)\.norm(\d)\.", r"memory_attention.layers.\1.layer_norm\2."),
    # memory encoder
    (r"^memory_encoder\.pix_feat_proj\.", "memory_encoder.feature_projection."),
    (r"^memory_encoder\.out_proj\.", "memory_encoder.projection."),
    (r"^memory_encoder\.fuser\.layers\.(\d+)\.dwconv\.", r"memory_encoder.memory_fuser.layers.\1.depthwise_conv."),
    (r"^memory_encoder\.fuser\.layers\.(\d+)\.norm\.", r"memory_encoder.memory_fuser.layers.\1.layer_norm."),
    (
        r"^memory_encoder\.fuser\.layers\.(\d+)\.pwconv(\d)\.",
        r"memory_encoder.memory_fuser.layers.\1.pointwise_conv\2.",
    ),
    (r"^memory_encoder\.fuser\.layers\.(\d+)\.gamma$", r"memory_encoder.memory_fuser.layers.\1.scale"),
    # top-level parameters
    (r"^maskmem_tpos_enc$", "memory_temporal_positional_encoding"),
    (r"^no_mem_embed$", "no_memory_embedding"),
    (r"^no_mem_pos_enc$", "no_memory_positional_encoding"),
    (r"^no_obj_ptr$", "no_object_pointer"),
    (r"^no_obj_embed_spatial$", "occlusion_spatial_embedding_parameter"),
    (r"^obj_ptr_tpos_proj\.", "temporal_positional_encoding_projection_layer."),
    (r"^obj_ptr_proj\.", "object_pointer_proj."),
    # attention output projections (decoder and memory attention)
    (
        r"\.(self_attn|cross_attn_image|cross_attn_token_to_image|cross_attn_image_to_token|"
        r"final_attn_token_to_image)\.out_proj\.",
        r".\1.o_proj.",
    ),
)
# MLPs whose Meta layout is ``<prefix>.layers.<i>.`` and transformers' ``proj_in``/``layers.<i-1>``/``proj_out``
_MLP = re.compile(
    r"^(.*(?:\.mlp|iou_prediction_head|output_hypernetworks_mlps\.\d+|pred_obj_score_head|"
    r"^obj_ptr_proj))\.layers\.(\d+)\.(weight|bias)$"
)
_PE_KEY = "sam_prompt_encoder.pe_layer.positional_encoding_gaussian_matrix"
_DOWNSAMPLER = re.compile(r"^memory_encoder\.mask_downsampler\.encoder\.(\d+)\.(weight|bias)$")

#: Keys that only the video model (memory) reads; image mode loads without them.
VIDEO_ONLY_PREFIXES = (
    "memory_attention.",
    "memory_encoder.",
    "maskmem_tpos_enc",
    "no_mem_pos_enc",
    "no_obj_ptr",
    "no_obj_embed_spatial",
    "obj_ptr_proj.",
    "obj_ptr_tpos_proj.",
    "mask_downsample.",
)


def _need(sd: Mapping[str, Any], key: str, source: str) -> Any:
    if key not in sd:
        raise EngineError(
            f"{source} is not a complete SAM 2 checkpoint: missing key {key!r} "
            "(the file is truncated, from another model, or was edited)"
        )
    return sd[key]


def read_sidecar_config(path: str | Path) -> dict[str, Any]:
    """Hyperparameters from Meta's Hydra config saved beside a checkpoint (``x.yaml`` for ``x.pt``).

    Returns the keys found among ``image_size``, ``num_heads``, ``window_spec`` and
    ``global_att_blocks`` (empty when there is no config). Values with Hydra interpolations
    (``${...}``) are ignored.
    """
    import yaml

    path = Path(path)
    for cand in (path.with_suffix(".yaml"), path.with_suffix(".yml")):
        if cand.is_file():
            break
    else:
        return {}
    try:
        doc = yaml.safe_load(cand.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise EngineError(f"could not read the SAM 2 config {cand.name} beside {path.name}: {exc}") from exc
    model = doc.get("model") if isinstance(doc, dict) else None
    if not isinstance(model, dict):
        raise EngineError(f"{cand.name} is not a SAM 2 Hydra config (no 'model:' section)")
    trunk = (
        ((model.get("image_encoder") or {}).get("trunk") or {}) if isinstance(model.get("image_encoder"), dict) else {}
    )
    found = {
        "image_size": model.get("image_size"),
        "num_heads": trunk.get("num_heads"),
        "window_spec": trunk.get("window_spec"),
        "global_att_blocks": trunk.get("global_att_blocks"),
    }
    return {k: v for k, v in found.items() if v is not None and "${" not in str(v)}


def _trunk_config(
    sd: Mapping[str, Any], source: str, sidecar: Mapping[str, Any] | None = None
) -> tuple[dict[str, Any], str, list[str]]:
    """Hiera trunk config, variant name and the hyperparameters that had to be assumed."""
    patch = _need(sd, "image_encoder.trunk.patch_embed.proj.weight", source)
    width, _, kernel, _ = (int(v) for v in patch.shape)
    blocks = layer_indices(sd, "image_encoder.trunk.blocks.")
    if not blocks or blocks != list(range(len(blocks))):
        gaps = sorted(set(range((blocks or [0])[-1] + 1)) - set(blocks)) or [0]
        raise EngineError(
            f"{source}: Hiera blocks are missing or not contiguous: missing key "
            f"'image_encoder.trunk.blocks.{gaps[0]}.*'"
        )
    dims = [int(_need(sd, f"image_encoder.trunk.blocks.{i}.attn.qkv.weight", source).shape[0]) // 3 for i in blocks]
    stages: list[int] = []
    widths: list[int] = []
    for i, d in zip(blocks, dims):
        if not widths or f"image_encoder.trunk.blocks.{i}.proj.weight" in sd:
            stages.append(0)
            widths.append(d)
        stages[-1] += 1
    mlp = _need(sd, "image_encoder.trunk.blocks.0.mlp.layers.0.weight", source)
    pos = _need(sd, "image_encoder.trunk.pos_embed", source)
    pos_win = _need(sd, "image_encoder.trunk.pos_embed_window", source)
    known = _OFFICIAL.get((tuple(stages), width))
    side = dict(sidecar or {})
    assumed: list[str] = []
    if known is not None:
        variant, heads0, windows, global_blocks = known
    else:
        variant, heads0 = "custom", 1
        windows = [int(pos_win.shape[-1]), 4, 14, 7][: len(stages)] + [7] * max(0, len(stages) - 4)
        global_blocks = [sum(stages[:3]) - 1] if len(stages) >= 3 else [len(blocks) - 1]
        assumed = [
            f"{heads0} trunk head(s) doubling per stage" * ("num_heads" not in side),
            f"windows {windows}" * ("window_spec" not in side),
            f"global attention in block(s) {global_blocks}" * ("global_att_blocks" not in side),
        ]
        assumed = [a for a in assumed if a]
    heads0 = int(side.get("num_heads", heads0))
    windows = [int(v) for v in side.get("window_spec", windows)]
    global_blocks = [int(v) for v in side.get("global_att_blocks", global_blocks)]
    size = int(side.get("image_size", SAM2_IMAGE_SIZE))
    windows = [int(pos_win.shape[-1])] + list(windows[1:])
    backbone = dict(
        model_type="sam2_hiera_det_model",
        hidden_size=width,
        num_attention_heads=heads0,
        image_size=[size, size],
        patch_kernel_size=[kernel, kernel],
        patch_stride=[4, 4],
        patch_padding=[kernel // 2, kernel // 2],
        window_positional_embedding_background_size=[int(pos.shape[-2]), int(pos.shape[-1])],
        blocks_per_stage=stages,
        embed_dim_per_stage=widths,
        num_attention_heads_per_stage=[heads0 * 2**s for s in range(len(stages))],
        window_size_per_stage=windows,
        global_attention_blocks=global_blocks,
        num_query_pool_stages=min(3, len(stages) - 1),
        mlp_ratio=float(mlp.shape[0]) / float(mlp.shape[1]),
    )
    return backbone, variant, assumed


def infer_sam2_config(
    sd: Mapping[str, Any], source: str = "checkpoint", sidecar: Mapping[str, Any] | None = None
) -> tuple[dict[str, Any], str, list[str]]:
    """``Sam2VideoConfig`` keyword arguments for a Meta SAM 2 state dict.

    ``sidecar``: hyperparameters from :func:`read_sidecar_config`. Returns (config kwargs,
    variant name, assumed hyperparameters). Raises :class:`EngineError` naming a key the
    architecture needs but the file lacks.
    """
    backbone, variant, assumed = _trunk_config(sd, source, sidecar)
    s = int(backbone["image_size"][0])
    if s % 16:
        raise EngineError(f"{source}: image_size {s} is not a multiple of 16")
    convs = layer_indices(sd, "image_encoder.neck.convs.")
    if not convs:
        _need(sd, "image_encoder.neck.convs.0.conv.weight", source)
    channels = [int(sd[f"image_encoder.neck.convs.{i}.conv.weight"].shape[1]) for i in convs]
    hidden = int(sd[f"image_encoder.neck.convs.{convs[0]}.conv.weight"].shape[0])
    vision = dict(
        model_type="sam2_vision_model",
        backbone_config=backbone,
        backbone_channel_list=channels,
        backbone_feature_sizes=[[s // 4] * 2, [s // 8] * 2, [s // 16] * 2],
        fpn_hidden_size=hidden,
    )
    mask_tokens = _need(sd, "sam_mask_decoder.mask_tokens.weight", source)
    dec_layers = layer_indices(sd, "sam_mask_decoder.transformer.layers.")
    iou_layers = layer_indices(sd, "sam_mask_decoder.iou_prediction_head.layers.")
    decoder = dict(
        hidden_size=hidden,
        num_hidden_layers=len(dec_layers) or 2,
        mlp_dim=int(_need(sd, "sam_mask_decoder.transformer.layers.0.mlp.layers.0.weight", source).shape[0]),
        num_attention_heads=8,
        num_multimask_outputs=int(mask_tokens.shape[0]) - 1,
        iou_head_depth=len(iou_layers) or 3,
        iou_head_hidden_dim=int(_need(sd, "sam_mask_decoder.iou_prediction_head.layers.0.weight", source).shape[0]),
    )
    prompt = dict(
        hidden_size=hidden,
        image_size=s,
        patch_size=16,
        mask_input_channels=int(_need(sd, "sam_prompt_encoder.mask_downscaling.3.weight", source).shape[0]),
        num_point_embeddings=len(layer_indices(sd, "sam_prompt_encoder.point_embeddings.")) or 4,
    )
    cfg: dict[str, Any] = dict(
        vision_config=vision, prompt_encoder_config=prompt, mask_decoder_config=decoder, image_size=s
    )
    if "maskmem_tpos_enc" in sd:  # the memory parts (video); absent keys are reported when video loads
        mem_layers = layer_indices(sd, "memory_attention.layers.")
        down = sorted({int(m.group(1)) for k in sd if (m := _DOWNSAMPLER.match(k))})
        n_down = max(1, (max(down) if down else 12) // 3)
        fuser = layer_indices(sd, "memory_encoder.fuser.layers.")
        get = sd.get
        cfg.update(
            num_maskmem=int(sd["maskmem_tpos_enc"].shape[0]),
            memory_attention_hidden_size=hidden,
            memory_attention_num_layers=len(mem_layers) or 4,
            memory_attention_feed_forward_hidden_size=int(
                get("memory_attention.layers.0.linear1.weight", mask_tokens.new_zeros(2048)).shape[0]
            ),
            memory_attention_rope_feat_sizes=[s // 16, s // 16],
            memory_encoder_hidden_size=int(
                get("memory_encoder.pix_feat_proj.weight", mask_tokens.new_zeros(1, 256)).shape[1]
            ),
            memory_encoder_output_channels=int(sd["maskmem_tpos_enc"].shape[-1]),
            mask_downsampler_embed_dim=int(
                get(f"memory_encoder.mask_downsampler.encoder.{3 * n_down}.weight", mask_tokens.new_zeros(256)).shape[0]
            ),
            mask_downsampler_total_stride=2**n_down,
            memory_fuser_num_layers=len(fuser) or 2,
            memory_fuser_embed_dim=int(
                get("memory_encoder.fuser.layers.0.dwconv.weight", mask_tokens.new_zeros(256)).shape[0]
            ),
            memory_fuser_intermediate_dim=int(
                get("memory_encoder.fuser.layers.0.pwconv1.weight", mask_tokens.new_zeros(1024)).shape[0]
            ),
            enable_occlusion_spatial_embedding="no_obj_embed_spatial" in sd,
        )
        k = get("memory_encoder.fuser.layers.0.dwconv.weight")
        if k is not None:
            cfg.update(memory_fuser_kernel_size=int(k.shape[-1]), memory_fuser_padding=int(k.shape[-1]) // 2)
    return cfg, variant, assumed


def _rename_map(keys: Any) -> dict[str, str]:
    """Meta key -> transformers key for every key but the shared ones (positional matrix, point embeddings)."""
    keys = list(keys)
    depths: dict[str, int] = {}
    for k in keys:
        m = _MLP.match(k)
        if m:
            depths[m.group(1)] = max(depths.get(m.group(1), 0), int(m.group(2)) + 1)
    down = sorted({int(m.group(1)) for k in keys if (m := _DOWNSAMPLER.match(k))})
    final_down = max(down) if down else -1
    out: dict[str, str] = {}
    for key in keys:
        if key == _PE_KEY or key.startswith("sam_prompt_encoder.point_embeddings."):
            continue
        m = _DOWNSAMPLER.match(key)
        if m:
            i = int(m.group(1))
            name = "final_conv" if i == final_down else f"layers.{i // 3}." + ("conv" if i % 3 == 0 else "layer_norm")
            out[key] = f"memory_encoder.mask_downsampler.{name}.{m.group(2)}"
            continue
        m = _MLP.match(key)
        new = mlp_layer_name(m.group(1), int(m.group(2)), depths[m.group(1)]) + "." + m.group(3) if m else key
        for pat, rep in _RENAMES:
            new = re.sub(pat, rep, new)
        out[key] = new
    return out


def convert_sam2_state_dict(sd: Mapping[str, Any]) -> dict[str, Any]:
    """Meta SAM 2 key names -> ``transformers`` ``Sam2VideoModel`` key names (tensors shared)."""
    import torch

    out = {new: sd[old] for old, new in _rename_map(sd).items()}
    if _PE_KEY in sd:
        out["shared_image_embedding.positional_embedding"] = sd[_PE_KEY]
        out["prompt_encoder.shared_embedding.positional_embedding"] = sd[_PE_KEY]
    points = {
        int(m.group(1)): v
        for k, v in sd.items()
        if (m := re.match(r"^sam_prompt_encoder\.point_embeddings\.(\d+)\.weight$", k))
    }
    if points:
        out["prompt_encoder.point_embed.weight"] = torch.cat([points[i].reshape(1, -1) for i in sorted(points)], 0)
    return out


def _meta_names(sd: Mapping[str, Any]) -> dict[str, str]:
    """transformers key -> Meta key, for messages that name what the user's file lacks."""
    names = {new: old for old, new in _rename_map(sd).items()}
    names["prompt_encoder.point_embed.weight"] = "sam_prompt_encoder.point_embeddings.N.weight"
    names["shared_image_embedding.positional_embedding"] = _PE_KEY
    names["prompt_encoder.shared_embedding.positional_embedding"] = _PE_KEY
    return names


def _inverse(rules: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    r"""The reverse of rename rules written as literal names and numbered groups, in the same order.

    ``(r"^a\.(\d+)\.b\.", r"x.\1.y.")`` gives ``(r"^x\.(\d+)\.y\.", r"a.\1.b.")``; a rule with any
    other regex (or groups used out of order) raises ``ValueError``.
    """
    out = []
    for pat, rep in rules:
        body = pat.removeprefix("^").removesuffix("$")
        parts = re.split(r"(\(\\d\+?\))", body)  # literal, group, literal, ...
        literals, groups = [p.replace("\\.", ".") for p in parts[0::2]], parts[1::2]
        rep_parts = re.split(r"\\(\d)", rep)  # literal, group number, literal, ...
        if rep_parts[1::2] != [str(n) for n in range(1, len(groups) + 1)] or any(
            re.search(r"[\\()|\[\]?*+^$]", lit) for lit in literals
        ):
            raise ValueError(f"not a plain rename rule: {pat!r} -> {rep!r}")
        rev_pat = "".join(re.escape(p) if k % 2 == 0 else groups[int(p) - 1] for k, p in enumerate(rep_parts))
        rev_rep = "".join(lit + (f"\\{n}" if n <= len(groups) else "") for n, lit in enumerate(literals, 1))
        out.append(("^" * pat.startswith("^") + rev_pat + "$" * pat.endswith("$"), rev_rep))
    return tuple(out)


# transformers key -> Meta key, for naming keys the file lacks: the renames reversed, plus the
# keys the converter builds in code (point embeddings, the positional matrix, the mask
# downsampler) and the attention output projections (one rule for several modules)
_REVERSE: tuple[tuple[str, str], ...] = (
    (r"^prompt_encoder\.point_embed\.weight$", "sam_prompt_encoder.point_embeddings.N.weight"),
    (r"^(prompt_encoder\.shared_embedding|shared_image_embedding)\.positional_embedding$", _PE_KEY),
    (r"^memory_encoder\.mask_downsampler\.", "memory_encoder.mask_downsampler.encoder.?."),
    *_inverse(_RENAMES[:-1]),
    (r"\.o_proj\.", ".out_proj."),
)


def _expected_meta_name(hf_key: str, expected: Any = ()) -> str:
    """Meta's name for a transformers key the file does not have (for messages).

    ``expected``: every key of the target model, to number MLP layers (``proj_out`` is the
    last of ``layers.N``).
    """
    k = hf_key
    m = re.match(r"^(.*)\.(proj_in|proj_out|layers\.(\d+))\.(weight|bias)$", k)
    if m and not k.startswith("memory_encoder.mask_downsampler"):
        base = m.group(1)
        inner = [int(x.group(1)) for e in expected if (x := re.match(re.escape(base) + r"\.layers\.(\d+)\.", e))]
        depth = (max(inner) + 1 if inner else 0) + 2
        idx = 0 if m.group(2) == "proj_in" else depth - 1 if m.group(2) == "proj_out" else int(m.group(3)) + 1
        k = f"{base}.layers.{idx}.{m.group(4)}"
    for pat, rep in _REVERSE:
        k = re.sub(pat, rep, k)
    return k


def build_sam2_from_checkpoint(
    path: str | Path, video: bool = False, dtype: Any = None, state_dict: Mapping[str, Any] | None = None
):
    """A ``transformers.Sam2Model`` (or ``Sam2VideoModel`` with ``video=True``) holding a Meta ``.pt``.

    Raises :class:`EngineError` naming the first missing keys (in Meta's names) or the first
    tensor whose shape does not fit the inferred architecture.
    """
    import transformers

    path = Path(path)
    sd = dict(state_dict) if state_dict is not None else load_state_dict(path)
    if not is_sam2_state_dict(sd):
        raise EngineError(f"{path.name} is not a SAM 2 checkpoint (no image_encoder.trunk.* / sam_mask_decoder.* keys)")
    cfg_kwargs, variant, assumed = infer_sam2_config(sd, path.name, read_sidecar_config(path))
    if video and "maskmem_tpos_enc" not in sd:
        raise EngineError(
            f"{path.name} has no video memory (missing key 'maskmem_tpos_enc'); it can segment "
            "images but not track video"
        )
    if assumed:
        warnings.warn(
            f"{path.name}: a custom SAM 2 architecture ({backbone_summary(cfg_kwargs)}); hyperparameters "
            f"not stored in the file were assumed: {'; '.join(assumed)}",
            stacklevel=3,
        )
    sdpa: dict[str, Any] = {"attn_implementation": "sdpa"}
    config: Any
    cls: Any
    if video:
        config = transformers.Sam2VideoConfig(**cfg_kwargs, **sdpa)
        cls = transformers.Sam2VideoModel
    else:
        keep = ("vision_config", "prompt_encoder_config", "mask_decoder_config")
        config = transformers.Sam2Config(**{k: cfg_kwargs[k] for k in keep}, **sdpa)
        cls = transformers.Sam2Model

    def meta_names(expected: Mapping[str, Any]) -> dict[str, str]:
        names = {k: _expected_meta_name(k, expected) for k in expected}
        names.update(_meta_names(sd))
        return names

    model = build_with_tensors(
        lambda: cls(config),
        convert_sam2_state_dict(sd),
        f"{path.name} does not hold a complete SAM 2 {'video model' if video else 'model'} (keys in Meta's names)",
        names=meta_names,
        hint="; the file is truncated, from another model, or was edited",
        float32=True,
    )
    setattr(model, "sam_compose_variant", variant)  # noqa: B010  (an attribute transformers does not know)
    if dtype is not None:
        model = model.to(dtype)
    return model


def backbone_summary(cfg_kwargs: Mapping[str, Any]) -> str:
    bb = cfg_kwargs["vision_config"]["backbone_config"]
    return f"Hiera width {bb['hidden_size']}, stages {bb['blocks_per_stage']}"
