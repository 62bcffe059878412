"""Prompt adapters: turn other systems' outputs into :class:`~sam_compose.types.Prompt`.

Each function lives in its own module and is imported on first use, so a missing optional
package only matters to the adapter that needs it.
"""

from __future__ import annotations

from ..._lazy import lazy_exports

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
    "text_gaze_prompts": ".text_gaze",
    "NoMatchError": ".text_gaze",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
