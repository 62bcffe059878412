"""Building ``transformers`` models without initialising weights that are about to be replaced.

A model is created on PyTorch's ``meta`` device (no memory, no random init), its tensors
assigned from a checkpoint or from another loaded model (storage shared, not copied), and
the buffers its ``__init__`` computes but checkpoints do not hold are rebuilt on the CPU.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..errors import EngineError


def materialize_buffers(model: Any) -> None:
    """Give real values to buffers left on the meta device (computed in ``__init__``, not saved).

    They are taken from a fresh CPU instance of the submodule that owns them, built from that
    submodule's own config (rotary frequencies, position ids).
    """
    import torch

    for name, module in model.named_modules():
        metas = [b for b, t in module.named_buffers(recurse=False) if t is not None and t.is_meta]
        if not metas:
            continue
        cfg = getattr(module, "config", None)
        if cfg is None:
            raise EngineError(f"cannot rebuild buffers {metas} of {name or type(module).__name__}: no config")
        with torch.device("cpu"):
            fresh = type(module)(cfg)
        for b in metas:
            module._buffers[b] = fresh._buffers[b]


def build_with_tensors(make: Callable[[], Any], tensors: Mapping[str, Any], what: str) -> Any:
    """``make()`` on the meta device, then ``tensors`` assigned to it (shared, not copied), eval mode.

    Raises :class:`EngineError` naming missing tensors or the first shape that does not fit.
    """
    import torch

    with torch.device("meta"):
        model = make()
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    if missing:
        raise EngineError(f"{what}: missing tensors {missing[:4]}" + (f" and {len(missing) - 4} more" if len(missing) > 4 else ""))
    for k, v in expected.items():
        if tuple(v.shape) != tuple(tensors[k].shape):
            raise EngineError(f"{what}: tensor {k} has shape {tuple(tensors[k].shape)}, expected {tuple(v.shape)}")
    model.load_state_dict({k: tensors[k] for k in expected}, strict=True, assign=True)
    materialize_buffers(model)
    return model.eval()
