"""FLOPs of SAM's encoder and decoder, and the GPU count for an SA-1B-sized automatic-mask run.

    .venv/bin/python benchmarks/sam_flops.py                      # ViT-H, 11M images, one day
    .venv/bin/python benchmarks/sam_flops.py --mfu 0.15 --hours 48

FLOPs are counted by ``torch.utils.flop_counter`` on the real module graphs of
``segment_anything`` (the ``test`` extra) built on the meta device: nothing is computed
and no weights are needed. One multiply-add counts as two FLOPs. The plan divides the FLOPs
of one image by an assumed sustained fraction of a GPU's dense bf16 peak (``--mfu``); see
docs/scale.md for where that fraction comes from and what else limits a run.
"""

from __future__ import annotations

import argparse
import math

import torch
from torch.utils.flop_counter import FlopCounterMode

PEAK_BF16_TFLOPS = {"A100": 312.0, "H100 SXM": 989.0, "L40S": 362.0}
"""Dense bf16 tensor-core peaks from the vendors' data sheets (no sparsity)."""


def encoder_tflop(name: str) -> tuple[float, float]:
    from segment_anything import sam_model_registry

    with torch.device("meta"):
        sam = sam_model_registry[name](checkpoint=None)
    with FlopCounterMode(display=False) as fc:
        sam.image_encoder(torch.empty(1, 3, 1024, 1024, device="meta"))
    params = sum(p.numel() for p in sam.image_encoder.parameters()) / 1e6
    return fc.get_total_flops() / 1e12, params


def decoder_gflop_per_prompt(batch: int = 64) -> float:
    """One point prompt, three masks (multimask), as automatic mask generation decodes them."""
    from segment_anything.modeling import MaskDecoder, PromptEncoder, TwoWayTransformer

    pe = PromptEncoder(embed_dim=256, image_embedding_size=(64, 64), input_image_size=(1024, 1024), mask_in_chans=16)
    with torch.inference_mode():
        sparse, dense = pe(points=(torch.rand(batch, 1, 2) * 1024, torch.ones(batch, 1)), boxes=None, masks=None)
        dense_pe = pe.get_dense_pe()
    with torch.device("meta"):
        dec = MaskDecoder(
            num_multimask_outputs=3,
            transformer=TwoWayTransformer(depth=2, embedding_dim=256, mlp_dim=2048, num_heads=8),
            transformer_dim=256,
            iou_head_depth=3,
            iou_head_hidden_dim=256,
        )
    with FlopCounterMode(display=False) as fc:
        dec(
            image_embeddings=torch.empty(1, 256, 64, 64, device="meta"),
            image_pe=dense_pe.to("meta"),
            sparse_prompt_embeddings=sparse.to("meta"),
            dense_prompt_embeddings=dense.to("meta"),
            multimask_output=True,
        )
    return fc.get_total_flops() / 1e9 / batch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="vit_h", choices=("vit_b", "vit_l", "vit_h"))
    ap.add_argument("--images", type=float, default=11e6, help="images to label (SA-1B: 11M)")
    ap.add_argument("--hours", type=float, default=24.0, help="wall time of the run")
    ap.add_argument("--mfu", type=float, default=0.25, help="sustained fraction of the bf16 peak (default 0.25)")
    ap.add_argument("--points-per-side", type=int, default=32)
    args = ap.parse_args()
    for name in ("vit_b", "vit_l", "vit_h"):
        tf, params = encoder_tflop(name)
        print(f"encoder {name}: {params:6.1f} M params, {tf:.3f} TFLOP per 1024x1024 embedding")
    enc, _ = encoder_tflop(args.model)
    dec = decoder_gflop_per_prompt()
    print(f"mask decoder: {dec:.2f} GFLOP per point prompt (3 masks)")
    grid = args.points_per_side**2
    modes = {
        f"one pass, {args.points_per_side}x{args.points_per_side} points": (1, grid),
        "+ crop layer (crop_n_layers=1, downscale 2)": (5, grid + 4 * (args.points_per_side // 2) ** 2),
    }
    rate = args.images / (args.hours * 3600)
    print(
        f"\n{args.images / 1e6:g}M images in {args.hours:g} h = {rate:.1f} images/s; {args.model}; "
        f"sustained {args.mfu:.0%} of bf16 peak"
    )
    for label, (passes, prompts) in modes.items():
        per_image = passes * enc + prompts * dec / 1000
        print(
            f"\n{label}: {passes} encoder pass(es) {passes * enc:.2f} TFLOP + {prompts} prompts "
            f"{prompts * dec / 1000:.2f} TFLOP = {per_image:.2f} TFLOP per image"
        )
        for gpu, peak in PEAK_BF16_TFLOPS.items():
            eff = peak * args.mfu
            per_gpu = eff / per_image
            print(
                f"  {gpu:9s}: {eff / enc:5.1f} embeddings/s, {per_gpu:5.2f} images/s per GPU -> "
                f"{math.ceil(rate / per_gpu):4d} GPUs"
            )


if __name__ == "__main__":
    main()
