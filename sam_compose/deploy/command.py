"""Export a SAM-family model's image encoder and prompt decoder to ONNX.

    sam-compose export onnx SPEC --out DIR [--quantize int8] [--opset N]

Writes DIR/encoder.onnx, DIR/decoder.onnx and DIR/sam_onnx.json (inputs, outputs,
coordinate frames, model id); prints one JSON object. Use the folder as the engine
spec ``onnx:DIR`` (onnxruntime), or from any ONNX runtime following sam_onnx.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def configure(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="format", metavar="FORMAT")
    onnx = sub.add_parser(
        "onnx",
        help="image encoder + prompt decoder as ONNX files (see sam_onnx.json)",
        description=__doc__.strip().splitlines()[0],
    )
    onnx.add_argument(
        "spec",
        metavar="ENGINE_SPEC",
        help="a SAM-family model: HF id, short name, save_pretrained folder, Meta .pth, or onnx:DIR "
        "(an earlier float32 export, to quantise it)",
    )
    onnx.add_argument("--out", required=True, metavar="DIR", help="folder to write (new, empty, or an earlier export)")
    onnx.add_argument(
        "--quantize",
        choices=["int8"],
        default=None,
        help="int8: dynamic int8 weights for the image encoder (smaller, faster on CPU)",
    )
    onnx.add_argument("--opset", type=int, default=None, help="ONNX opset (default 20)")


def main(args: argparse.Namespace) -> int:
    from ..errors import InputError

    if getattr(args, "format", None) != "onnx":
        raise InputError("say which format to export: `sam-compose export onnx SPEC --out DIR`")
    from .exporter import export_onnx

    t0 = time.perf_counter()
    m = export_onnx(args.spec, args.out, quantize=args.quantize, opset=args.opset)
    out = Path(args.out)
    print(
        json.dumps(
            {
                "out": str(out),
                "engine": f"onnx:{out}",
                "model": m.model_id,
                "family": m.family,
                "fingerprint": m.fingerprint,
                "precision": m.precision,
                "opset": m.opset,
                "files": {
                    role: {"file": str(out / m.graph(role).file), "bytes": m.graph(role).bytes}
                    for role in ("encoder", "decoder")
                },
                "seconds": round(time.perf_counter() - t0, 2),
            }
        )
    )
    return 0
