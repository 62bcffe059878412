"""Opening an exported folder: the manifest, two onnxruntime sessions, and the checks between them.

Everything that can be wrong with a folder is reported at load, in one line, before any
image is seen: a missing or truncated file, a file onnxruntime cannot parse or whose opset
it does not support, a file from another export (model id or weights fingerprint in its
metadata differ from ``sam_onnx.json``), inputs and outputs that differ from the manifest,
and an encoder whose outputs do not fit the decoder's inputs.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import EngineError, MissingDependencyError
from .manifest import FORMAT, GraphFile, Manifest, read_manifest

RE_OPSET = re.compile(r"[Oo]pset (\d+)")


def onnxruntime() -> Any:
    """The ``onnxruntime`` module, or :class:`MissingDependencyError` naming the ``onnx`` extra."""
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise MissingDependencyError("onnxruntime", "the onnx: engine", extra="onnx") from exc
    return ort


@dataclass
class OnnxBundle:
    """A checked export: ``manifest`` plus ``encoder`` and ``decoder`` inference sessions."""

    folder: Path
    manifest: Manifest
    encoder: Any
    decoder: Any
    providers: tuple[str, ...]


SESSION_CONFIG = {"optimization.disable_specified_optimizers": "SkipLayerNormFusion"}
"""onnxruntime's fused Add + LayerNormalization kernel is several times slower than the two
ops apart on the decoder's (B, 4096, 256) image tokens (measured on CPU, onnxruntime 1.32);
the manifest passes the same hint on to other runtimes (``runtime_hints``)."""


def session_options(threads: int | None = None, arena: bool = True) -> Any:
    """onnxruntime options: all graph optimisations, ``SAM_COMPOSE_ORT_THREADS`` threads (0: one per
    core), :data:`SESSION_CONFIG`. ``arena=False`` returns the encoder's large activations to the
    system after each image instead of keeping its peak for the process lifetime."""
    ort = onnxruntime()
    so = ort.SessionOptions()
    so.enable_cpu_mem_arena = arena
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    env = os.environ.get("SAM_COMPOSE_ORT_THREADS")
    n = threads if threads is not None else (int(env) if env and env.isdigit() else 0)
    so.intra_op_num_threads = n
    for key, value in SESSION_CONFIG.items():
        so.add_session_config_entry(key, value)
    return so


def _open_session(folder: Path, gf: GraphFile, role: str, providers: tuple[str, ...]) -> Any:
    ort = onnxruntime()
    path = folder / gf.file
    if not path.is_file():
        raise EngineError(f"{path} is missing: the {role} of this export; re-export with `sam-compose export onnx`")
    try:
        return ort.InferenceSession(str(path), session_options(arena=role != "encoder"), providers=list(providers))
    except Exception as exc:  # onnxruntime raises its own exception types
        msg = " ".join(str(exc).split())
        m = RE_OPSET.search(msg)
        if m and ("support" in msg or "under development" in msg):
            raise EngineError(f"{path.name} uses opset {m.group(1)}, which onnxruntime {ort.__version__} does not "
                              "support: upgrade onnxruntime or re-export with an older --opset (e.g. 18)") from exc
        size = path.stat().st_size
        if size < gf.bytes:
            raise EngineError(f"{path} is truncated ({size} of {gf.bytes} bytes, per sam_onnx.json): copy it again "
                              "or re-export with `sam-compose export onnx`") from exc
        raise EngineError(f"onnxruntime could not load {path}: the file is corrupt or not an ONNX model "
                          f"({msg[:160]}); re-export with `sam-compose export onnx`") from exc


def _check_identity(session: Any, path: Path, role: str, manifest: Manifest) -> None:
    meta = dict(session.get_modelmeta().custom_metadata_map)
    if meta.get("sam_compose.format") != FORMAT:
        raise EngineError(f"{path} was not written by `sam-compose export onnx` (no sam_compose metadata); "
                          "export the model with sam-compose, its inputs and outputs differ from other exporters'")
    if meta.get("sam_compose.role") != role:
        raise EngineError(f"{path} is a {meta.get('sam_compose.role')}, not the {role}")
    want = (manifest.model_id, manifest.fingerprint)
    got = (meta.get("sam_compose.model_id"), meta.get("sam_compose.fingerprint"))
    if got != want:
        raise EngineError(f"{path} comes from another model ({got[0]}, weights {got[1]}) than sam_onnx.json "
                          f"({want[0]}, weights {want[1]}): encoder and decoder must come from one export; "
                          "re-export both with `sam-compose export onnx`")


def _check_io(session: Any, path: Path, gf: GraphFile) -> None:
    from .exporter import tensor_specs

    for kind, got, want in (("inputs", tensor_specs(session.get_inputs()), gf.inputs),
                            ("outputs", tensor_specs(session.get_outputs()), gf.outputs)):
        if tuple(got) != tuple(want):
            brief = [(t.name, list(t.shape)) for t in got]
            exp = [(t.name, list(t.shape)) for t in want]
            raise EngineError(f"{path} {kind} {brief} differ from sam_onnx.json {exp}; re-export with "
                              "`sam-compose export onnx`")


def _check_pair(manifest: Manifest, encoder: Any, decoder: Any, folder: Path) -> None:
    from .exporter import tensor_specs

    dec_inputs = {t.name: t for t in tensor_specs(decoder.get_inputs())}
    for out in tensor_specs(encoder.get_outputs()):
        inp = dec_inputs.get(out.name)
        if inp is None:
            raise EngineError(f"{folder}: the decoder has no input {out.name!r} for the encoder's output; encoder "
                              "and decoder must come from one export")
        if (inp.dtype, tuple(inp.shape)) != (out.dtype, tuple(out.shape)):
            raise EngineError(f"{folder}: the encoder's {out.name} is {out.dtype}{list(out.shape)} but the decoder "
                              f"expects {inp.dtype}{list(inp.shape)}: encoder and decoder come from different "
                              "models; re-export both with `sam-compose export onnx`")


def open_bundle(folder: str | os.PathLike, providers: tuple[str, ...] = ("CPUExecutionProvider",)) -> OnnxBundle:
    """Read ``folder/sam_onnx.json``, load both files and check them against it and each other."""
    folder = Path(os.path.expanduser(str(folder)))
    onnxruntime()
    manifest = read_manifest(folder)
    sessions = {}
    for role in ("encoder", "decoder"):
        gf = manifest.graph(role)
        session = _open_session(folder, gf, role, providers)
        _check_identity(session, folder / gf.file, role, manifest)
        _check_io(session, folder / gf.file, gf)
        sessions[role] = session
    _check_pair(manifest, sessions["encoder"], sessions["decoder"], folder)
    return OnnxBundle(folder, manifest, sessions["encoder"], sessions["decoder"], tuple(providers))
