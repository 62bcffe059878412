"""Deploying models outside PyTorch: ONNX export of the image encoder and the prompt decoder.

    from sam_compose.deploy import export_onnx
    export_onnx("facebook/sam-vit-base", "exports/sam-vit-base", quantize=None, opset=None)
    eng = sam_compose.load_engine("onnx:exports/sam-vit-base")   # onnxruntime, same Engine API

``sam_onnx.json`` in the folder (:mod:`.manifest`) describes inputs, outputs and coordinate
frames for any ONNX runtime (browser, phone, server). Needs the ``onnx`` extra.
"""

from __future__ import annotations

from typing import Any

__all__ = ["MANIFEST_NAME", "Manifest", "export_onnx", "read_manifest"]


def __getattr__(name: str) -> Any:
    if name == "export_onnx":
        from .exporter import export_onnx

        return export_onnx
    if name in ("read_manifest", "Manifest", "MANIFEST_NAME"):
        from ..engines.onnx import manifest

        return getattr(manifest, name)
    raise AttributeError(f"module 'sam_compose.deploy' has no attribute {name!r}")
