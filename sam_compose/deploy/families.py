"""Per model family: the export wrappers, tensor names, trace inputs and the written contract.

A :class:`FamilyExport` tells the exporter how to trace one family's encoder and decoder
and tells consumers (through the manifest's ``preprocess`` / ``prompts`` / ``postprocess``
sections, :func:`contract`) how to feed them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..engines.sam.transforms import PIXEL_MEAN, PIXEL_STD
from ..errors import InputError
from ..geometry import LOWRES_SIZE, SAM_INPUT_SIZE

PROMPT_INPUTS = ("point_coords", "point_labels", "mask_input", "has_mask_input")
DECODER_OUTPUTS = ("low_res_masks", "iou_predictions")
TRACE_PROMPTS, TRACE_POINTS = 2, 3
"""Trace-time batch and point counts (neither 0 nor 1, which ``torch.export`` would specialise)."""


@dataclass(frozen=True)
class FamilyExport:
    """How to export one family: wrappers, names and whether a padding point is always added."""

    family: str
    encoder_outputs: tuple[str, ...]
    make_encoder: Callable[[Any], Any]
    make_decoder: Callable[[Any], Any]
    pad_always: bool
    trace_context: Callable[[Any], Any] | None = None
    """Called with the model around tracing (e.g. swapping in traceable attention)."""

    @property
    def decoder_inputs(self) -> tuple[str, ...]:
        return self.encoder_outputs + PROMPT_INPUTS


def family_export(engine: Any) -> FamilyExport:
    """The :class:`FamilyExport` for a loaded engine; :class:`InputError` for engines without one."""
    family = getattr(engine, "family", None) if getattr(engine, "model", None) is not None else None
    if family == "sam":
        from .graphs_sam import (
            SamDecoderGraph,
            SamEncoderGraph,
            traceable_vision_attention,
        )

        return FamilyExport(
            "sam",
            ("image_embeddings",),
            SamEncoderGraph,
            SamDecoderGraph,
            pad_always=False,
            trace_context=traceable_vision_attention,
        )
    if family == "sam_hq":
        from .graphs_sam import (
            SamHQDecoderGraph,
            SamHQEncoderGraph,
            traceable_vision_attention,
        )

        return FamilyExport(
            "sam_hq",
            ("image_embeddings", "intermediate_embeddings"),
            SamHQEncoderGraph,
            SamHQDecoderGraph,
            pad_always=False,
            trace_context=traceable_vision_attention,
        )
    if family == "sam2":
        from .graphs_sam2 import Sam2DecoderGraph, Sam2EncoderGraph

        return FamilyExport(
            "sam2",
            ("high_res_feats_0", "high_res_feats_1", "image_embeddings"),
            Sam2EncoderGraph,
            Sam2DecoderGraph,
            pad_always=True,
        )
    name = getattr(engine, "name", type(engine).__name__)
    if name == "opencv":
        raise InputError(
            "the opencv engine is classical image processing with no neural network, so there is "
            "nothing to export to ONNX; export a SAM-family model instead, e.g. "
            "`sam-compose export onnx facebook/sam-vit-base --out DIR`"
        )
    raise InputError(
        f"cannot export the {name!r} engine to ONNX: only SAM v1 (ViT-B/L/H, SlimSAM), SAM-HQ and "
        "SAM 2.1 image models are supported"
    )


def contract(fam: FamilyExport) -> dict[str, Any]:
    """The manifest's ``preprocess``, ``prompts`` and ``postprocess`` sections for ``fam``."""
    sam2 = fam.family == "sam2"
    s = SAM_INPUT_SIZE
    if sam2:
        resize = f"stretch the RGB image to {s}x{s} (bilinear, antialiased when shrinking); no padding"
        to_input = f"x * {s} / W, y * {s} / H (W, H: original width and height)"
        lowres = (
            f"the {LOWRES_SIZE}x{LOWRES_SIZE} logits cover the whole image (stretched): resize them "
            "bilinearly to (H, W)"
        )
    else:
        resize = (
            f"scale the RGB image so its longest side is {s} (bilinear, antialiased when shrinking; new "
            f"size round(H * {s} / max(H, W)), round(W * {s} / max(H, W))) and zero-pad it at the bottom "
            f"and right to {s}x{s} after normalising"
        )
        to_input = f"x * {s} / max(H, W), y * {s} / max(H, W)"
        lowres = (
            f"the {LOWRES_SIZE}x{LOWRES_SIZE} logits are in the padded frame: resize bilinearly to "
            f"{s}x{s}, crop the top-left resized size, resize bilinearly to (H, W)"
        )
    pad = (
        "append one padding point (0, 0) with label -1 after the box corners and points; a prompt with only a "
        "mask has no points (N = 0)"
        if sam2
        else "append one padding point (0, 0) with label -1 when the prompt has no box; with a box, none; a prompt "
        "with only a mask has no points (N = 0)"
    )
    order = (
        "box corners first, then the points (as SAM 2's image predictor)"
        if sam2
        else "the points first, then the box corners"
    )
    return {
        "preprocess": {
            "input": "pixel_values",
            "layout": "NCHW",
            "channels": "RGB",
            "dtype": "float32",
            "size": [s, s],
            "resize": resize,
            "normalize": {
                "mean": [float(v) for v in PIXEL_MEAN],
                "std": [float(v) for v in PIXEL_STD],
                "formula": "(pixel_0_255 - mean) / std per channel",
            },
        },
        "prompts": {
            "frame": "model input frame: original pixel (x, y) mapped to the 1024 x 1024 input",
            "to_input_frame": to_input,
            "point_coords": "(B, N, 2) float32 (x, y) in the model input frame; B prompts, N points each",
            "point_labels": "(B, N) float32: 1 foreground, 0 background, 2 box top-left, 3 box bottom-right, "
            "-1 padding",
            "box": "two points (x0, y0) label 2 and (x1, y1) label 3",
            "order": order,
            "padding_point": pad,
            "pad_always": fam.pad_always,
            "mask_input": f"(B, 1, {LOWRES_SIZE}, {LOWRES_SIZE}) float32 low-res logits of an earlier result "
            "(same frame as low_res_masks), zeros when unused",
            "has_mask_input": "(B,) float32: 1 to use mask_input, 0 to ignore it",
            "encoder_outputs": "pass every encoder output to the decoder under the same name",
        },
        "postprocess": {
            "low_res_masks": f"(B, 4, {LOWRES_SIZE}, {LOWRES_SIZE}) float32 logits; mask = logits > 0",
            "iou_predictions": "(B, 4) float32 predicted IoU per row",
            "rows": {
                "0": "the single mask (multimask off)"
                + ("; replaced by the best candidate when unstable, as SAM 2 does" if sam2 else ""),
                "1-3": "three candidates of different extent (multimask on)"
                + (
                    "; each includes the HQ mask; sam-compose lists them best IoU first"
                    if fam.family == "sam_hq"
                    else ""
                ),
            },
            "logit_range": [-32.0, 32.0] if sam2 else None,
            "lowres_frame": "full" if sam2 else "padded",
            "to_image": lowres,
            "threshold": 0.0,
        },
    }
