"""``sam_onnx.json``: what an exported folder holds and how to call it without our code.

The manifest is the contract between ``sam-compose export onnx`` and every consumer (our
``onnx:DIR`` engine, a browser page, a phone app). It names the model (id, family and a
fingerprint of its weights), the precision and opset, and for each of the two files
(``encoder``, ``decoder``) its inputs and outputs with dtypes and shapes; the
``preprocess``, ``prompts`` and ``postprocess`` sections spell out the coordinate frames.

Shapes are lists whose entries are ints or symbolic names (``"B"`` prompts, ``"N"``
points per prompt). The same facts are stamped into each ``.onnx`` file's metadata
(:data:`META_KEYS`), so a file copied in from another export is recognised at load.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import EngineError

MANIFEST_NAME = "sam_onnx.json"
FORMAT = "sam-compose-onnx"
FORMAT_VERSION = 1
ROLES = ("encoder", "decoder")
FAMILIES = ("sam", "sam_hq", "sam2")
PRECISIONS = ("float32", "int8")

META_KEYS = (
    "sam_compose.format",
    "sam_compose.role",
    "sam_compose.model_id",
    "sam_compose.family",
    "sam_compose.fingerprint",
    "sam_compose.precision",
)
"""Metadata written into every exported ``.onnx`` file (``ModelProto.metadata_props``)."""


@dataclass(frozen=True)
class TensorSpec:
    """One graph input or output: name, element type (``float32``...) and shape."""

    name: str
    dtype: str
    shape: tuple[int | str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TensorSpec:
        return cls(str(d["name"]), str(d["dtype"]), tuple(d["shape"]))


@dataclass(frozen=True)
class GraphFile:
    """One exported graph: its file name (relative to the folder), size and tensors."""

    file: str
    bytes: int
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    data_file: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "file": self.file,
            "bytes": self.bytes,
            "inputs": [t.to_dict() for t in self.inputs],
            "outputs": [t.to_dict() for t in self.outputs],
        }
        if self.data_file:
            d["data_file"] = self.data_file
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> GraphFile:
        return cls(
            str(d["file"]),
            int(d["bytes"]),
            tuple(TensorSpec.from_dict(t) for t in d["inputs"]),
            tuple(TensorSpec.from_dict(t) for t in d["outputs"]),
            d.get("data_file"),
        )


@dataclass(frozen=True)
class Manifest:
    """The parsed ``sam_onnx.json`` (see the module docstring; :meth:`to_dict` is the JSON)."""

    model_id: str
    family: str
    fingerprint: str
    precision: str
    opset: int
    encoder: GraphFile
    decoder: GraphFile
    extra: Mapping[str, Any]

    def graph(self, role: str) -> GraphFile:
        return self.encoder if role == "encoder" else self.decoder

    @property
    def lowres_frame(self) -> str:
        """``"sam"`` (padded, like the model input) or ``"full"`` (SAM 2: the whole image)."""
        return "full" if self.family == "sam2" else "sam"

    def metadata(self, role: str) -> dict[str, str]:
        """The key/value pairs stamped into the ``role`` file."""
        values = (FORMAT, role, self.model_id, self.family, self.fingerprint, self.precision)
        return dict(zip(META_KEYS, values))

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "model": {"id": self.model_id, "family": self.family, "fingerprint": self.fingerprint},
            "precision": self.precision,
            "opset": self.opset,
            "encoder": self.encoder.to_dict(),
            "decoder": self.decoder.to_dict(),
        }
        d.update({k: v for k, v in self.extra.items() if k not in d})
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], source: str = MANIFEST_NAME) -> Manifest:
        if not isinstance(d, Mapping) or d.get("format") != FORMAT:
            raise EngineError(
                f'{source} is not a sam-compose ONNX manifest (no "format": "{FORMAT}"); '
                "export the model with `sam-compose export onnx SPEC --out DIR`"
            )
        version = d.get("format_version")
        if version != FORMAT_VERSION:
            raise EngineError(
                f"{source} has format_version {version!r}; this sam-compose reads version "
                f"{FORMAT_VERSION}: re-export with this version or upgrade sam-compose"
            )
        try:
            model = d["model"]
            family = str(model["family"])
            precision = str(d["precision"])
            m = cls(
                model_id=str(model["id"]),
                family=family,
                fingerprint=str(model["fingerprint"]),
                precision=precision,
                opset=int(d["opset"]),
                encoder=GraphFile.from_dict(d["encoder"]),
                decoder=GraphFile.from_dict(d["decoder"]),
                extra={
                    k: v
                    for k, v in d.items()
                    if k not in ("model", "precision", "opset", "encoder", "decoder", "format", "format_version")
                },
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise EngineError(
                f"{source} is incomplete or malformed ({type(exc).__name__}: {exc}); "
                "re-export with `sam-compose export onnx`"
            ) from exc
        if family not in FAMILIES:
            raise EngineError(f"{source}: unknown model family {family!r}; expected one of {FAMILIES}")
        if precision not in PRECISIONS:
            raise EngineError(f"{source}: unknown precision {precision!r}; expected one of {PRECISIONS}")
        return m


def read_manifest(folder: str | os.PathLike) -> Manifest:
    """Parse ``folder/sam_onnx.json``; :class:`EngineError` says what is missing or wrong."""
    folder = Path(folder)
    if not folder.is_dir():
        raise EngineError(
            f"ONNX export folder not found: {folder} (create one with `sam-compose export onnx SPEC --out DIR`)"
        )
    path = folder / MANIFEST_NAME
    if not path.is_file():
        raise EngineError(
            f"{folder} has no {MANIFEST_NAME}: it is not a sam-compose ONNX export "
            "(create one with `sam-compose export onnx SPEC --out DIR`)"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EngineError(f"could not read {path}: {exc}; re-export with `sam-compose export onnx`") from exc
    return Manifest.from_dict(data, source=str(path))


_FLAT_LIST = re.compile(r"\[\s+([^\[\]{}]*?)\s+\]")


def write_manifest(folder: str | os.PathLike, manifest: Manifest) -> Path:
    """Write ``folder/sam_onnx.json``: indented, with lists of numbers and names on one line."""
    path = Path(folder) / MANIFEST_NAME
    text = json.dumps(manifest.to_dict(), indent=2)
    text = _FLAT_LIST.sub(lambda m: "[" + " ".join(m.group(1).split()) + "]", text)
    path.write_text(text + "\n", encoding="utf-8")
    return path


_ORT_TYPES = {
    "tensor(float)": "float32",
    "tensor(int64)": "int64",
    "tensor(float16)": "float16",
    "tensor(int32)": "int32",
    "tensor(bool)": "bool",
}


def tensor_specs(nodes: Any) -> tuple[TensorSpec, ...]:
    """onnxruntime ``NodeArg`` list -> :class:`TensorSpec` tuple."""
    return tuple(
        TensorSpec(n.name, _ORT_TYPES.get(n.type, n.type), tuple(d if isinstance(d, int) else str(d) for d in n.shape))
        for n in nodes
    )
