"""Output adapters: feed masks to trackers, inpainting, 3D lifting and file formats.

Each function lives in its own module and is imported on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "track": ".tracking",
    "inpaint": ".inpainting",
    "lift_to_3d": ".lifting",
    "PointCloud": ".lifting",
    "export_masks": ".exports",
    "coco_dict": ".exports",
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
