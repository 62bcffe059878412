"""Loading a SAM-family engine for a spec: ``load_sam_family(spec, device=..., dtype=...)``.

Accepts a Hugging Face id, a catalog short name (``sam-vit-base``), a folder written by
``save_pretrained`` (SAM, SAM-HQ, SAM 2) or a Meta checkpoint file (SAM ``.pth``, SAM-HQ
``.pth``, SAM 2 ``.pt``; which one is decided by the tensors, not the name), and returns
the matching :class:`~sam_compose.engines.base.Engine`.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

from ...errors import EngineError
from ..base import Engine
from ..cache import EmbeddingCache
from ..sam2.image import Sam2Engine
from .family import SamEngine, _torch_dtype, check_device
from .variants import SamHQEngine


def _model_family(config: dict[str, Any]) -> str:
    mt = str(config.get("model_type", ""))
    if mt in ("sam", "sam_hq", "sam3", "sam3_video"):
        return mt
    if mt.startswith("sam2"):
        return "sam2"
    if mt.startswith("edgetam"):
        return "edgetam"
    raise EngineError(
        f"config model_type {mt!r} is not a SAM-family model (expected sam, sam_hq, sam2, sam3, sam3_video or edgetam)"
    )


def _load_pretrained(folder: Path, family: str, torch_dtype: Any):
    from ..hub import check_weights

    check_weights(folder)
    import transformers

    cls = {"sam": "SamModel", "sam_hq": "SamHQModel", "sam2": "Sam2Model", "edgetam": "EdgeTamModel"}[family]
    model_cls = getattr(transformers, cls)
    from transformers.utils import logging as hf_logging

    bar_was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        model = model_cls.from_pretrained(
            str(folder), local_files_only=True, dtype=torch_dtype, attn_implementation="sdpa"
        )
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        msg = str(exc).strip().splitlines()[0][:240] if str(exc).strip() else type(exc).__name__
        raise EngineError(f"could not load {cls} from {folder}: {msg}") from exc
    finally:
        if bar_was_enabled:
            hf_logging.enable_progress_bar()
    return model.eval()


def _load_meta_checkpoint(path: Path, spec: str, device: str, dtype: str, cache: EmbeddingCache | None) -> Engine:
    """An engine for a Meta ``.pth``/``.pt``: SAM, SAM-HQ or SAM 2, decided by its tensors."""
    from ..checkpoint_io import checkpoint_family, family_from_name, load_state_dict

    sd = load_state_dict(path)
    try:
        family = checkpoint_family(sd)
    except EngineError as exc:
        raise EngineError(f"{path.name}: {exc}") from exc
    named = family_from_name(path.name)
    labels = {"sam": "SAM", "sam_hq": "SAM-HQ", "sam2": "SAM 2"}
    if named is not None and named != family:
        warnings.warn(
            f"{path.name} is named like a {labels[named]} checkpoint but its tensors are {labels[family]}; "
            f"loading it as {labels[family]}",
            stacklevel=4,
        )
    tdt = _torch_dtype(dtype)
    if family == "sam2":
        from ..sam2.checkpoint import build_sam2_from_checkpoint

        model = build_sam2_from_checkpoint(path, dtype=tdt, state_dict=sd).to(device)
        return Sam2Engine(model, spec, device, dtype, cache, family="sam2")
    if family == "sam_hq":
        from .meta_checkpoint import build_model_from_checkpoint

        model = build_model_from_checkpoint(path, dtype=tdt, state_dict=sd, hq=True).to(device)
        return SamHQEngine(model, spec, device, dtype, cache, family="sam_hq")
    from .meta_checkpoint import build_model_from_checkpoint

    model = build_model_from_checkpoint(path, dtype=tdt, state_dict=sd).to(device)
    return SamEngine(model, spec, device, dtype, cache, family="sam")


def load_sam_family(
    spec: str, *, device: str = "cpu", dtype: str = "float32", cache: EmbeddingCache | None = None
) -> Engine:
    """Load a SAM-family engine from an id, short name, folder or Meta ``.pth``.

    Raises :class:`EngineError` with the fix (download command, expected keys, ...) when
    the model cannot be loaded.
    """
    device = check_device(device, dtype)
    tdt = _torch_dtype(dtype)
    path = Path(os.path.expanduser(spec))
    if path.is_file():
        if path.suffix.lower() in (".pth", ".pt", ".bin"):
            return _load_meta_checkpoint(path, spec, device, dtype, cache)
        if path.suffix.lower() == ".safetensors":
            raise EngineError(f"{path} is a bare safetensors file; pass the folder that holds it and its config.json")
        raise EngineError(f"{path} is not a checkpoint: expected a Meta .pth file or a save_pretrained folder")
    from ..hub import read_config, resolve_model_dir

    folder = resolve_model_dir(spec)
    family = _model_family(read_config(folder))
    if family in ("sam3", "sam3_video"):
        from ..sam3.engine import Sam3Engine
        from ..sam3.models import load_sam3

        return Sam3Engine(load_sam3(folder, family, device, tdt), spec, device, dtype, cache)
    model = _load_pretrained(folder, family, tdt).to(device)
    if family == "sam":
        return SamEngine(model, spec, device, dtype, cache, family="sam")
    cls = SamHQEngine if family == "sam_hq" else Sam2Engine  # EdgeTAM's image model is SAM 2's interface
    return cls(model, spec, device, dtype, cache, family=family)


__all__ = ["load_sam_family"]
