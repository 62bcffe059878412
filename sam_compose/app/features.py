"""Which library parts this installation has: the demo's tabs ask here before using an adapter.

Adapters are imported lazily; when one is missing (an older build, a partial install) the
tab shows :class:`~sam_compose.app.errors.FeatureUnavailable`'s message instead of failing.
"""

from __future__ import annotations

import importlib
from typing import Any

from ..errors import missing_dependency
from .errors import FeatureUnavailable

FEATURES: dict[str, tuple[str, str, str]] = {
    # key: (module, attribute, what the user is told is missing)
    "inpaint": ("sam_compose.adapters.outputs.inpainting", "inpaint", "inpainting"),
    "lift_to_3d": ("sam_compose.adapters.outputs.lifting", "lift_to_3d", "3D lifting"),
    "track": ("sam_compose.adapters.outputs.tracking", "track", "video tracking"),
    "export_masks": ("sam_compose.adapters.outputs.exports", "export_masks", "mask export"),
    "text_to_prompts": ("sam_compose.adapters.prompts.text", "text_to_prompts", "text prompts"),
    "read_gaze": ("sam_compose.adapters.prompts.gaze", "read_gaze", "gaze recordings"),
    "detect_fixations": ("sam_compose.adapters.prompts.gaze", "detect_fixations", "gaze fixations"),
    "fixations_in_image": ("sam_compose.adapters.prompts.gaze", "fixations_in_image", "gaze fixations"),
    "gaze_to_prompts": ("sam_compose.adapters.prompts.gaze", "gaze_to_prompts", "gaze prompts"),
    "GazeSamples": ("sam_compose.adapters.prompts.gaze", "GazeSamples", "gaze samples"),
    "mask_to_prompt": ("sam_compose.adapters.prompts.masks", "mask_to_prompt", "prior-mask prompts"),
    "Graph": ("sam_compose.graph", "Graph", "graph runs"),
}


def feature(key: str) -> Any:
    """The library object behind ``key`` (see :data:`FEATURES`), or :class:`FeatureUnavailable`."""
    module_name, attr, what = FEATURES[key]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        dep = missing_dependency(exc, what)
        if dep is None:
            raise
        raise FeatureUnavailable(f"{dep}; the other tabs still work") from exc
    try:
        return getattr(module, attr)
    except AttributeError as exc:
        raise FeatureUnavailable(f"{what} is not available: {module_name} has no {attr}") from exc


def available(key: str) -> bool:
    """True when :func:`feature` would succeed."""
    try:
        feature(key)
        return True
    except FeatureUnavailable:
        return False


def availability() -> dict[str, bool]:
    """``{key: available}`` for every entry of :data:`FEATURES` (shown in the About tab)."""
    return {k: available(k) for k in FEATURES}
