"""Prompt adapters: turn other systems' outputs into :class:`~sam_compose.types.Prompt`.

Each function lives in its own module and is imported on first use, so a missing optional
package only matters to the adapter that needs it.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "boxes_to_prompts": ".boxes",
    "mask_to_prompt": ".masks",
    "refine_with_mask": ".masks",
    "text_to_prompts": ".text",
    "read_gaze": ".gaze",
    "detect_fixations": ".gaze",
    "gaze_to_prompts": ".gaze",
    "GazeSamples": ".gaze",
    "Fixation": ".gaze",
    "prompts_from_request": ".request",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
