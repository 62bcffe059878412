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


def _listed(keys: list[str], n: int = 6) -> str:
    if not keys:
        return "none"
    more = f" and {len(keys) - n} more" if len(keys) > n else ""
    return "[" + ", ".join(keys[:n]) + "]" + more


NameMap = Callable[[Mapping[str, Any]], Mapping[str, str]]
"""Given a model's state dict, the name the user's file has for each of its keys (for messages)."""


def check_tensors(
    expected: Mapping[str, Any],
    tensors: Mapping[str, Any],
    what: str,
    *,
    names: NameMap | None = None,
    allow_extra: bool = True,
    hint: str = "",
) -> None:
    """Raise :class:`EngineError` unless ``tensors`` fill the state dict ``expected`` with the same shapes.

    ``what`` starts the message (the file and the model); ``names`` gives the file's names of
    the keys (default: the keys; computed only for a message); ``allow_extra=False`` also
    refuses keys the model does not have; ``hint`` ends the message about missing keys.
    """
    missing = sorted(set(expected) - set(tensors))
    extra = [] if allow_extra else sorted(set(tensors) - set(expected))
    bad = [k for k, v in expected.items() if k in tensors and tuple(v.shape) != tuple(tensors[k].shape)]
    if not (missing or extra or bad):
        return
    known = names(expected) if names is not None else {}

    def show(k: str) -> str:
        return known.get(k, k)

    if missing or extra:
        unexpected = "" if allow_extra else f"; unexpected keys {_listed(extra)}"
        raise EngineError(f"{what}: missing keys {_listed([show(k) for k in missing])}{unexpected}{hint}")
    k = bad[0]
    raise EngineError(
        f"{what}: tensor {show(k)} has shape {tuple(tensors[k].shape)}, expected "
        f"{tuple(expected[k].shape)} ({len(bad)} mismatched tensor(s))"
    )


def build_with_tensors(
    make: Callable[[], Any],
    tensors: Mapping[str, Any],
    what: str,
    *,
    names: NameMap | None = None,
    allow_extra: bool = True,
    hint: str = "",
    float32: bool = False,
) -> Any:
    """``make()`` on the meta device, then ``tensors`` assigned to it (shared, not copied), eval mode.

    The tensors are checked first by :func:`check_tensors` (``what``, ``names``, ``allow_extra``
    and ``hint`` go to it); keys the model does not have are ignored. ``float32``: floating
    tensors are converted to float32 (checkpoints saved in half precision).
    """
    import torch

    with torch.device("meta"):
        model = make()
    expected = model.state_dict()
    check_tensors(expected, tensors, what, names=names, allow_extra=allow_extra, hint=hint)
    model.load_state_dict(
        {k: tensors[k].float() if float32 and tensors[k].is_floating_point() else tensors[k] for k in expected},
        strict=True,
        assign=True,
    )
    materialize_buffers(model)
    return model.eval()
