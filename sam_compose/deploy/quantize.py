"""Dynamic int8 quantisation of an exported folder (``--quantize int8``).

onnxruntime's dynamic quantisation stores the weights of matrix products as int8 (one
scale per output channel) and quantises activations on the fly, so no calibration images
are needed. Only the image encoder is quantised: it holds nearly all the weights and the
time, while the small prompt decoder stays float32 where its mask edges are decided
(quantising it too saves little time and moves mask boundaries; see
``benchmarks/bench_onnx.py``).
"""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from pathlib import Path

from ..engines.onnx.manifest import Manifest, write_manifest
from ..errors import require

QUANTIZED_OPS = ("MatMul", "Gemm")
QUANTIZED_ROLES = ("encoder",)


def _quantize_file(src: Path, dst: Path) -> None:
    require("onnxruntime", "onnxruntime", "int8 quantisation", extra="onnx")
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # int8 weights of even ViT-H (about 650 MB) fit in one file; the advice to pre-process
    # (shape inference) is logged on the root logger at WARNING, and does not apply to dynamic quantisation
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        quantize_dynamic(
            str(src),
            str(dst),
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=list(QUANTIZED_OPS),
            use_external_data_format=False,
            extra_options={"MatMulConstBOnly": True},
        )
    finally:
        root.setLevel(level)


def _stamp(path: Path, key: str, value: str) -> None:
    onnx = require("onnx", "onnx", "int8 quantisation", extra="onnx")
    model = onnx.load(str(path), load_external_data=False)
    props = {p.key: p for p in model.metadata_props}
    if key in props:
        props[key].value = value
    else:
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(path))


def quantize_folder(
    folder: str | os.PathLike, manifest: Manifest, roles: tuple[str, ...] = QUANTIZED_ROLES
) -> Manifest:
    """Quantise the ``roles`` (default: the encoder) of the export in ``folder`` in place; returns
    the updated manifest (precision ``int8``)."""
    from .graph_files import cpu_session, graph_file

    folder = Path(folder)
    files = {}
    for role in ("encoder", "decoder"):
        gf = manifest.graph(role)
        path = folder / gf.file
        if role in roles:
            tmp = path.with_name(path.stem + ".int8.onnx")
            _quantize_file(path, tmp)
            for name in (gf.file, gf.data_file):
                if name:
                    (folder / name).unlink()
            os.replace(tmp, path)
        _stamp(path, "sam_compose.precision", "int8")
        files[role] = graph_file(folder, gf.file, cpu_session(path))
    out = replace(manifest, precision="int8", encoder=files["encoder"], decoder=files["decoder"])
    write_manifest(folder, out)
    return out
