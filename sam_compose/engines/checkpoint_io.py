"""Reading checkpoint files safely, and telling which model a state dict holds.

``load_state_dict`` uses ``torch.load(weights_only=True)`` only: a file that pickles code
is refused. ``checkpoint_family`` decides SAM / SAM-HQ / SAM 2 from the keys, so a file
renamed (a SAM 2 ``.pt`` saved as ``.pth``) still loads as what it is.
"""

from __future__ import annotations

import pickle
import re
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..errors import EngineError


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


def load_state_dict(path: str | Path) -> dict[str, Any]:
    """Read a ``.pth`` / ``.pt`` safely (tensors only) and unwrap ``{"model": ...}`` containers."""
    import torch

    from ..security.paths import check_regular_file

    path = Path(path)
    size = check_regular_file(path, "checkpoint").st_size
    if size == 0:
        raise EngineError(
            f"checkpoint {path.name} is empty (0 bytes); download it again "
            "(sam-compose models download NAME) or give another file"
        )
    try:
        with warnings.catch_warnings():  # torch's notes on odd pickle protocols: the error below says it all
            warnings.simplefilter("ignore")
            obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise EngineError(
            f"refusing to load {path.name}: it contains pickled code or objects other than tensors "
            f"(torch.load(weights_only=True) rejected it: {_first_line(exc)}); "
            "use the official checkpoint or re-save its state_dict"
        ) from exc
    except Exception as exc:  # a text file or junk fails anywhere inside torch.load
        raise EngineError(
            f"could not read checkpoint {path.name}: {_first_line(exc)} "
            "(is the file truncated or not a PyTorch checkpoint?)"
        ) from exc
    for wrapper in ("model", "state_dict"):
        if isinstance(obj, Mapping) and wrapper in obj and isinstance(obj[wrapper], Mapping):
            obj = obj[wrapper]
    if not isinstance(obj, Mapping) or not all(isinstance(k, str) for k in obj):
        raise EngineError(f"{path.name} does not hold a state dict (a mapping of names to tensors)")
    return dict(obj)


def layer_indices(keys: Iterable[str], prefix: str) -> list[int]:
    """The sorted numbers ``N`` of the keys ``<prefix>N.*`` (``prefix`` ends with a dot), e.g. a model's blocks."""
    pat = re.compile(re.escape(prefix) + r"(\d+)\.")
    return sorted({int(m.group(1)) for k in keys if (m := pat.match(k))})


def mlp_layer_name(prefix: str, idx: int, depth: int) -> str:
    """``transformers``' name for layer ``idx`` of a ``depth``-layer MLP that Meta names
    ``<prefix>.layers.<idx>``: ``<prefix>.proj_in``, ``<prefix>.layers.<idx - 1>``, ``<prefix>.proj_out``."""
    if idx == 0:
        return f"{prefix}.proj_in"
    if idx == depth - 1:
        return f"{prefix}.proj_out"
    return f"{prefix}.layers.{idx - 1}"


def is_sam2_state_dict(sd: Mapping[str, Any]) -> bool:
    """True for Meta SAM 2 / 2.1 layouts (a Hiera trunk and ``sam_mask_decoder``)."""
    return any(k.startswith("image_encoder.trunk.") for k in sd) and any(k.startswith("sam_mask_decoder.") for k in sd)


def checkpoint_family(sd: Mapping[str, Any]) -> str:
    """Which model a Meta state dict holds, from its keys: ``sam``, ``sam_hq`` or ``sam2``.

    Raises :class:`EngineError` when it is none of them.
    """
    if is_sam2_state_dict(sd):
        return "sam2"
    if "mask_decoder.hf_token.weight" in sd or any(k.startswith("mask_decoder.compress_vit_feat.") for k in sd):
        return "sam_hq"
    if any(k.startswith("image_encoder.blocks.") for k in sd) and "mask_decoder.mask_tokens.weight" in sd:
        return "sam"
    sample = sorted(sd)[:5]
    raise EngineError(
        f"not a Segment Anything checkpoint: expected Meta's SAM (image_encoder.blocks.*), SAM-HQ "
        f"(mask_decoder.hf_token.*) or SAM 2 (image_encoder.trunk.*, sam_mask_decoder.*) keys, found e.g. {sample}"
    )


def family_from_name(filename: str) -> str | None:
    """The family a checkpoint's file name suggests (``sam2.1_hiera_t.pt`` -> sam2), or None."""
    low = Path(filename).name.lower()
    if "sam2" in low or "hiera" in low:
        return "sam2"
    if "hq" in low:
        return "sam_hq"
    if re.search(r"sam_vit_[blh]", low):
        return "sam"
    return None
