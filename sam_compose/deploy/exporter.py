"""``export_onnx``: a SAM-family engine -> ``encoder.onnx``, ``decoder.onnx``, ``sam_onnx.json``.

The graphs are traced with ``torch.onnx.export(..., dynamo=True)`` (``torch.export`` +
onnxscript). That exporter is the maintained one; it handles the shape arithmetic of our
decoder (``int(round(L ** 0.5))`` of a traced size) which the TorchScript exporter
(``dynamo=False``) fails on, and it keeps the numbers of prompts and points symbolic.

The folder is written through :func:`sam_compose.security.atomic.staged_output`: everything
goes into a staging folder and is checked (every file loads in onnxruntime, the decoder
reproduces the PyTorch wrapper on random prompts) before the files are renamed into ``out``;
files of an earlier export that this one does not write are removed, files sam-compose did
not write are never touched, and a failed export leaves ``out`` as it was.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ..engines.onnx.manifest import (
    GraphFile,
    Manifest,
    read_manifest,
    write_manifest,
)
from ..errors import EngineError, InputError, require
from .families import (
    DECODER_OUTPUTS,
    TRACE_POINTS,
    TRACE_PROMPTS,
    FamilyExport,
    contract,
    family_export,
)
from .graph_files import cpu_session, graph_file
from .opsets import check_opset

QUANTIZATIONS = ("int8",)
EXPORTER = "torch.onnx.export(dynamo=True)"
VERIFY_TOLERANCE = 1e-3
"""Largest decoder difference (ONNX vs PyTorch), relative to the logits' range, accepted at export."""


def weights_fingerprint(model: Any) -> str:
    """A short hash of a model's parameters and buffers (names, shapes, values)."""
    import torch

    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def model_id(spec: str) -> str:
    """What a manifest calls the model: the repository id for known names, else the spec's last part."""
    from ..engines.catalog import find_known

    known = find_known(spec)
    if known is not None:
        return known.repo_id
    path = Path(os.path.expanduser(spec))
    if path.exists():
        return path.name or str(path)
    return spec


def _check_out(out: str | os.PathLike) -> Path:
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} exists and is not a folder")
    return out


@contextlib.contextmanager
def _quiet_exporter():
    """The exporter prints progress on stdout and warns about axis names; keep the CLI's stdout clean."""
    buf = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(buf):
        warnings.simplefilter("ignore")
        yield buf


def _export_graph(
    module: Any,
    args: tuple,
    names_in: tuple[str, ...],
    names_out: tuple[str, ...],
    dynamic: dict[str, Any],
    path: Path,
    opset: int,
    metadata: dict[str, str],
    dim_names: dict[str, dict[int, str]],
) -> None:
    import torch

    module.eval()
    with _quiet_exporter() as log:
        try:
            program = torch.onnx.export(
                module,
                args,
                None,
                input_names=list(names_in),
                output_names=list(names_out),
                dynamic_shapes=dynamic,
                dynamo=True,
                opset_version=opset,
                external_data=True,
                optimize=True,
                verbose=False,
            )
        except Exception as exc:
            tail = " ".join(log.getvalue().split()[-30:])
            raise EngineError(
                f"ONNX export of {path.name} failed: {type(exc).__name__}: "
                f"{str(exc).strip().splitlines()[0][:300]} {tail}".strip()
            ) from exc
        if program is None:
            raise EngineError(f"ONNX export of {path.name} produced no model; please report this with the versions")
        model = program.model
        got = model.opset_imports.get("", None)
        if got != opset:
            raise InputError(
                f"the exporter could not write opset {opset} (it produced {got}); use --opset 20 (the default) or newer"
            )
        model.metadata_props.update(metadata)
        _name_dims(model, dim_names)
        program.save(str(path), external_data=None)


def _name_dims(model: Any, dim_names: dict[str, dict[int, str]]) -> None:
    """Give the symbolic dimensions of the graph's inputs and outputs their documented names."""
    import onnx_ir as ir

    for value in list(model.graph.inputs) + list(model.graph.outputs):
        names = dim_names.get(value.name)
        if not names or value.shape is None:
            continue
        dims = list(value.shape)
        for axis, label in names.items():
            dims[axis] = ir.SymbolicDim(label)
        value.shape = ir.Shape(dims)


def _trace_prompts(b: int = TRACE_PROMPTS, n: int = TRACE_POINTS, seed: int = 0):
    """Random prompts in the input frame: points, a box on half of the rows, masks on half."""
    import torch

    g = torch.Generator().manual_seed(seed)
    coords = torch.rand((b, n, 2), generator=g) * 1000.0
    labels = torch.randint(0, 2, (b, n), generator=g).float()
    labels[0, -2:] = torch.tensor([2.0, 3.0])
    labels[-1, -1] = -1.0
    masks = torch.randn((b, 1, 256, 256), generator=g) * 5.0
    has = torch.zeros(b)
    has[0] = 1.0
    return coords, labels, masks, has


def _export_encoder(engine: Any, fam: FamilyExport, folder: Path, opset: int, meta: dict[str, str]) -> Any:
    import torch

    enc = fam.make_encoder(engine.model)
    pixels = torch.randn(1, 3, 1024, 1024, generator=torch.Generator().manual_seed(0))
    _export_graph(
        enc,
        (pixels,),
        ("pixel_values",),
        fam.encoder_outputs,
        {"pixel_values": None},
        folder / "encoder.onnx",
        opset,
        meta,
        {},
    )
    return cpu_session(folder / "encoder.onnx")


def _export_decoder(
    engine: Any, fam: FamilyExport, folder: Path, opset: int, meta: dict[str, str], enc_session: Any
) -> Any:
    import torch

    dec = fam.make_decoder(engine.model).eval()
    g = torch.Generator().manual_seed(1)
    feats = tuple(torch.randn(tuple(o.shape), generator=g) for o in enc_session.get_outputs())
    prompts = _trace_prompts()
    args = feats + prompts
    bdim = torch.export.Dim("B", min=1, max=4096)
    ndim = torch.export.Dim("N", min=1, max=1 << 20)
    dynamic: dict[str, Any] = {name: None for name in fam.encoder_outputs}
    dynamic.update(
        {
            "point_coords": {0: bdim, 1: ndim},
            "point_labels": {0: bdim, 1: ndim},
            "mask_input": {0: bdim},
            "has_mask_input": {0: bdim},
        }
    )
    dim_names = {
        "point_coords": {0: "B", 1: "N"},
        "point_labels": {0: "B", 1: "N"},
        "mask_input": {0: "B"},
        "has_mask_input": {0: "B"},
        "low_res_masks": {0: "B"},
        "iou_predictions": {0: "B"},
    }
    path = folder / "decoder.onnx"
    _export_graph(dec, args, fam.decoder_inputs, DECODER_OUTPUTS, dynamic, path, opset, meta, dim_names)
    session = cpu_session(path)
    # the exported decoder must reproduce the PyTorch wrapper (other prompts than the traced ones)
    check = feats + _trace_prompts(b=3, n=5, seed=7)
    with torch.inference_mode():
        ref = [t.numpy() for t in dec(*check)]
    got = session.run(None, {name: t.numpy() for name, t in zip(fam.decoder_inputs, check)})
    span = float(ref[0].max() - ref[0].min()) or 1.0
    err = float(np.abs(got[0] - ref[0]).max()) / span
    if not err < VERIFY_TOLERANCE:
        raise EngineError(
            f"the exported decoder differs from PyTorch by {err:.2e} of the logit range "
            f"(limit {VERIFY_TOLERANCE:g}); please report this with the model and versions"
        )
    return session


def _source_engine(engine: Any) -> Any:
    from ..engines import resolve_engine

    if isinstance(engine, str):
        return resolve_engine(engine, device="cpu", dtype="float32")
    return resolve_engine(engine)


def export_onnx(
    engine: Any, out: str | os.PathLike, *, quantize: str | None = None, opset: int | None = None
) -> Manifest:
    """Export ``engine``'s image encoder and prompt decoder to ONNX files in the folder ``out``.

    Args:
        engine: a spec (``facebook/sam-vit-base``, a folder, a Meta ``.pth``, ``onnx:DIR`` to
            quantize an earlier export) or a loaded SAM-family engine (float32).
        out: the folder to write: ``encoder.onnx``, ``decoder.onnx`` and ``sam_onnx.json``.
        quantize: ``None`` (float32) or ``"int8"`` (dynamic int8 weights, see :mod:`.quantize`).
        opset: the ONNX opset (default 20); checked against the installed onnxruntime.
    Returns:
        The written :class:`Manifest`. Load the folder with ``sc.load_engine("onnx:" + out)``.
    """
    require("onnx", "onnx", "ONNX export", extra="onnx")
    require("onnxscript", "onnxscript", "ONNX export", extra="onnx")
    require("onnxruntime", "onnxruntime", "ONNX export", extra="onnx")
    if quantize is not None and quantize not in QUANTIZATIONS:
        raise InputError(f"--quantize must be one of {list(QUANTIZATIONS)}, got {quantize!r}")
    if isinstance(engine, str) and engine.strip().lower().startswith("onnx:"):
        return _requantize(engine.strip()[5:], out, quantize, opset)
    eng = _source_engine(engine)
    if getattr(eng, "name", "") == "onnx":
        return _requantize(str(eng.folder), out, quantize, opset)
    opset = check_opset(opset)
    fam = family_export(eng)
    if getattr(eng, "dtype", "float32") != "float32":
        raise InputError(f"export a float32 engine (got dtype {eng.dtype!r}); use --quantize int8 for smaller files")
    out = _check_out(out)
    import torch

    from ..security.atomic import staged_output

    model = eng.model
    if next(model.parameters()).device.type != "cpu":
        raise InputError("export from an engine on the CPU: load it with device='cpu'")
    fingerprint = weights_fingerprint(model)
    mid = model_id(eng.spec)
    base = Manifest(
        model_id=mid,
        family=fam.family,
        fingerprint=fingerprint,
        precision="float32",
        opset=opset,
        encoder=GraphFile("encoder.onnx", 0, (), ()),
        decoder=GraphFile("decoder.onnx", 0, (), ()),
        extra={},
    )
    with staged_output(out, what=f"sam-compose export onnx {mid}") as tmp:
        ctx = fam.trace_context(model) if fam.trace_context is not None else contextlib.nullcontext()
        with torch.inference_mode(False), torch.no_grad(), ctx:
            enc = _export_encoder(eng, fam, tmp, opset, base.metadata("encoder"))
            dec = _export_decoder(eng, fam, tmp, opset, base.metadata("decoder"), enc)
        del enc, dec  # close the sessions before the files move
        manifest = _finish(tmp, base, fam)
        if quantize == "int8":
            from .quantize import quantize_folder

            manifest = quantize_folder(tmp, manifest)
    return manifest


def _finish(folder: Path, base: Manifest, fam: FamilyExport) -> Manifest:
    import torch

    from .. import __version__

    extra = contract(fam)
    extra["exported_with"] = {
        "sam_compose": __version__,
        "torch": torch.__version__,
        "onnx": require("onnx", "onnx").__version__,
        "onnxruntime": require("onnxruntime", "onnxruntime").__version__,
        "exporter": EXPORTER,
    }
    manifest = Manifest(
        model_id=base.model_id,
        family=base.family,
        fingerprint=base.fingerprint,
        precision=base.precision,
        opset=base.opset,
        encoder=graph_file(folder, "encoder.onnx", cpu_session(folder / "encoder.onnx")),
        decoder=graph_file(folder, "decoder.onnx", cpu_session(folder / "decoder.onnx")),
        extra=extra,
    )
    write_manifest(folder, manifest)
    return manifest


def _requantize(src: str, out: str | os.PathLike, quantize: str | None, opset: int | None) -> Manifest:
    """Copy (``quantize=None``) or quantize an earlier float32 export into ``out``."""
    from ..security.atomic import staged_output

    src_path = Path(os.path.expanduser(src.strip()))
    manifest = read_manifest(src_path)
    if opset is not None and check_opset(opset) != manifest.opset:
        raise InputError(
            f"{src_path} was exported at opset {manifest.opset}; an existing export keeps its opset: "
            "export from the original model to change it"
        )
    out = _check_out(out)
    if out.exists() and out.resolve() == src_path.resolve():
        raise InputError("--out must differ from the source export folder")
    if quantize == "int8" and manifest.precision != "float32":
        raise InputError(f"{src_path} is already {manifest.precision}; quantize a float32 export")
    with staged_output(out, what=f"sam-compose export onnx onnx:{src_path.name}") as tmp:
        for role in ("encoder", "decoder"):
            gf = manifest.graph(role)
            for name in (gf.file, gf.data_file):
                if name:
                    shutil.copy2(src_path / name, tmp / name)
        write_manifest(tmp, manifest)
        if quantize == "int8":
            from .quantize import quantize_folder

            manifest = quantize_folder(tmp, manifest)
    return manifest
