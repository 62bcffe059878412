"""Which ONNX opsets an export may target: what the exporter writes and onnxruntime reads.

``torch.onnx.export(dynamo=True)`` writes opset 18 and newer natively (17 by conversion);
the installed ``onnx`` package knows opsets up to ``onnx.defs.onnx_opset_version()``; the
installed onnxruntime is probed once with a one-node model per opset, which is exact and
takes milliseconds.
"""

from __future__ import annotations

from functools import cache

from ..errors import InputError, require

DEFAULT_OPSET = 20
"""The first with a native ``Gelu`` (the decoder runs about 20% faster than at 18); onnxruntime
1.17 (2024) and newer, web and mobile builds included, read it."""
MIN_OPSET = 17
"""The exporter's native opsets start at 18; 17 is reached by the ONNX version converter."""


@cache
def runtime_supports(opset: int) -> bool:
    """Whether the installed onnxruntime loads a model of the default domain at ``opset``."""
    ort = require("onnxruntime", "onnxruntime", "ONNX models", extra="onnx")
    onnx = require("onnx", "onnx", "ONNX export", extra="onnx")
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "probe",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", int(opset))])
    model.ir_version = min(model.ir_version, onnx.IR_VERSION)
    try:
        ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    except Exception:  # onnxruntime raises its own exception types
        return False
    return True


@cache
def max_opset() -> int:
    """The newest opset both the ``onnx`` package and onnxruntime support."""
    onnx = require("onnx", "onnx", "ONNX export", extra="onnx")
    top = int(onnx.defs.onnx_opset_version())
    while top > MIN_OPSET and not runtime_supports(top):
        top -= 1
    return top


def check_opset(opset: int | None) -> int:
    """``opset`` (default :data:`DEFAULT_OPSET`) if it can be exported and run, else :class:`InputError`."""
    if opset is None:
        return DEFAULT_OPSET
    if isinstance(opset, bool) or not isinstance(opset, (int, str)) or not str(opset).strip().isdigit():
        raise InputError(f"--opset must be a whole number such as {DEFAULT_OPSET}, got {opset!r}")
    value = int(opset)
    import onnxruntime

    hi = max_opset()
    if value < MIN_OPSET:
        raise InputError(
            f"opset {value} is too old: the exporter writes opset {MIN_OPSET} to {hi}; "
            f"use --opset {DEFAULT_OPSET} (the default)"
        )
    if value > hi:
        raise InputError(
            f"opset {value} is not supported by the installed onnxruntime {onnxruntime.__version__} "
            f"(and onnx): use --opset {MIN_OPSET}..{hi}, or upgrade onnxruntime"
        )
    return value
