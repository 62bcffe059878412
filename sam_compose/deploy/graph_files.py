"""An exported ``.onnx`` file opened on the CPU and described for ``sam_onnx.json``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..engines.onnx.manifest import GraphFile, tensor_specs
from ..errors import require


def cpu_session(path: Path) -> Any:
    """An onnxruntime session on the CPU for the file at ``path`` (the ``onnx`` extra)."""
    ort = require("onnxruntime", "onnxruntime", "ONNX models", extra="onnx")
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def graph_file(folder: Path, name: str, session: Any) -> GraphFile:
    """The manifest entry of ``folder/name``: size, inputs and outputs as ``session`` reads them,
    and its external-data file when there is one."""
    path = folder / name
    data = path.with_name(path.name + ".data")
    return GraphFile(
        file=name,
        bytes=path.stat().st_size,
        inputs=tensor_specs(session.get_inputs()),
        outputs=tensor_specs(session.get_outputs()),
        data_file=data.name if data.exists() else None,
    )
