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
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import EngineError, MissingDependencyError
from .manifest import FORMAT, GraphFile, Manifest, read_manifest, tensor_specs

RE_OPSET = re.compile(r"[Oo]pset (\d+)")


def onnxruntime() -> Any:
    """The ``onnxruntime`` module, or :class:`MissingDependencyError` naming the ``onnx`` extra."""
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise MissingDependencyError("onnxruntime", "the onnx: engine", extra="onnx") from exc
    return ort


@dataclass
class SplitSessions:
    """``decoder.onnx`` cut in two (:mod:`.split`): ``image_session`` runs once per image on
    ``image_inputs`` and returns ``frontier``; ``prompt_session`` takes those, the ``passthrough``
    encoder outputs and the points (prompts without a mask input)."""

    image_session: Any
    prompt_session: Any
    image_inputs: tuple[str, ...]
    frontier: tuple[str, ...]
    passthrough: tuple[str, ...]


@dataclass
class OnnxBundle:
    """A checked export: ``manifest`` plus ``encoder`` and ``decoder`` inference sessions, and the
    decoder split for prompts without a mask (``None`` when it could not be split)."""

    folder: Path
    manifest: Manifest
    encoder: Any
    decoder: Any
    providers: tuple[str, ...]
    split: SplitSessions | None = None


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
            raise EngineError(
                f"{path.name} uses opset {m.group(1)}, which onnxruntime {ort.__version__} does not "
                "support: upgrade onnxruntime or re-export with an older --opset (e.g. 18)"
            ) from exc
        size = path.stat().st_size
        if size < gf.bytes:
            raise EngineError(
                f"{path} is truncated ({size} of {gf.bytes} bytes, per sam_onnx.json): copy it again "
                "or re-export with `sam-compose export onnx`"
            ) from exc
        raise EngineError(
            f"onnxruntime could not load {path}: the file is corrupt or not an ONNX model "
            f"({msg[:160]}); re-export with `sam-compose export onnx`"
        ) from exc


def _check_identity(session: Any, path: Path, role: str, manifest: Manifest) -> None:
    meta = dict(session.get_modelmeta().custom_metadata_map)
    if meta.get("sam_compose.format") != FORMAT:
        raise EngineError(
            f"{path} was not written by `sam-compose export onnx` (no sam_compose metadata); "
            "export the model with sam-compose, its inputs and outputs differ from other exporters'"
        )
    if meta.get("sam_compose.role") != role:
        raise EngineError(f"{path} is a {meta.get('sam_compose.role')}, not the {role}")
    want = (manifest.model_id, manifest.fingerprint)
    got = (meta.get("sam_compose.model_id"), meta.get("sam_compose.fingerprint"))
    if got != want:
        raise EngineError(
            f"{path} comes from another model ({got[0]}, weights {got[1]}) than sam_onnx.json "
            f"({want[0]}, weights {want[1]}): encoder and decoder must come from one export; "
            "re-export both with `sam-compose export onnx`"
        )


def _check_io(session: Any, path: Path, gf: GraphFile) -> None:
    for kind, got, want in (
        ("inputs", tensor_specs(session.get_inputs()), gf.inputs),
        ("outputs", tensor_specs(session.get_outputs()), gf.outputs),
    ):
        if tuple(got) != tuple(want):
            brief = [(t.name, list(t.shape)) for t in got]
            exp = [(t.name, list(t.shape)) for t in want]
            raise EngineError(
                f"{path} {kind} {brief} differ from sam_onnx.json {exp}; re-export with `sam-compose export onnx`"
            )


def _check_pair(manifest: Manifest, encoder: Any, decoder: Any, folder: Path) -> None:
    dec_inputs = {t.name: t for t in tensor_specs(decoder.get_inputs())}
    for out in tensor_specs(encoder.get_outputs()):
        inp = dec_inputs.get(out.name)
        if inp is None:
            raise EngineError(
                f"{folder}: the decoder has no input {out.name!r} for the encoder's output; encoder "
                "and decoder must come from one export"
            )
        if (inp.dtype, tuple(inp.shape)) != (out.dtype, tuple(out.shape)):
            raise EngineError(
                f"{folder}: the encoder's {out.name} is {out.dtype}{list(out.shape)} but the decoder "
                f"expects {inp.dtype}{list(inp.shape)}: encoder and decoder come from different "
                "models; re-export both with `sam-compose export onnx`"
            )


def _split_sessions(
    path: Path, gf: GraphFile, image_inputs: tuple[str, ...], providers: tuple[str, ...]
) -> SplitSessions | None:
    """Sessions for the decoder split into its image-only and per-prompt parts (an optimisation:
    ``None``, with a warning, when the graph cannot be split; the whole decoder then runs)."""
    from .split import split_decoder

    if gf.data_file:
        return None
    ort = onnxruntime()
    try:
        sp = split_decoder(path.read_bytes(), image_inputs)
        if sp is None:
            return None
        image = ort.InferenceSession(sp.image_side, session_options(), providers=list(providers))
        prompt = ort.InferenceSession(sp.prompt_side, session_options(), providers=list(providers))
    except Exception as exc:  # onnx / onnxruntime raise their own types
        warnings.warn(
            f"{path}: could not split the decoder into image and prompt parts "
            f"({type(exc).__name__}: {str(exc)[:120]}); every prompt runs the whole decoder",
            RuntimeWarning,
            stacklevel=3,
        )
        return None
    return SplitSessions(image, prompt, sp.image_inputs, sp.frontier, sp.passthrough)


def open_bundle(
    folder: str | os.PathLike, providers: tuple[str, ...] = ("CPUExecutionProvider",), split_decoder: bool = True
) -> OnnxBundle:
    """Read ``folder/sam_onnx.json``, load both files and check them against it and each other;
    ``split_decoder``: also prepare :class:`SplitSessions` for the engine."""
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
    image_inputs = tuple(o.name for o in sessions["encoder"].get_outputs())
    split = (
        _split_sessions(
            folder / manifest.graph("decoder").file, manifest.graph("decoder"), image_inputs, tuple(providers)
        )
        if split_decoder
        else None
    )
    return OnnxBundle(folder, manifest, sessions["encoder"], sessions["decoder"], tuple(providers), split)
