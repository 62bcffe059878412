"""sam_compose: composable Segment Anything.

    import sam_compose as sc
    img = sc.load_image("photo.jpg")
    eng = sc.shared_engine("opencv")            # or "auto", "facebook/sam-vit-base", a .pth, ...
    res = eng.segment(img, sc.Prompt(box=[200, 150, 450, 380]))
    res.masks, res.scores, res.boxes, res.logits, res.data

Conventions: images are (H, W, 3) uint8 RGB; points (x, y) and boxes (x0, y0, x1, y1)
are pixels of the original image; masks are (N, H, W) bool at the original size.
"""

from __future__ import annotations

from typing import Any

from ._version import __version__
from .engines import Engine, EngineStats, load_engine, resolve_engine, shared_engine
from .errors import (
    EngineError,
    ImageError,
    InputError,
    LimitError,
    MissingDependencyError,
    PromptError,
    SamComposeError,
)
from .types import ImageEmbedding, Masks, Prompt, load_image

__all__ = [
    "Engine",
    "EngineError",
    "EngineStats",
    "Graph",
    "ImageEmbedding",
    "ImageError",
    "InputError",
    "LimitError",
    "Masks",
    "MissingDependencyError",
    "Prompt",
    "PromptError",
    "SamComposeError",
    "__version__",
    "load_engine",
    "load_image",
    "resolve_engine",
    "shared_engine",
]


def __getattr__(name: str) -> Any:
    # The graph runtime imports every node module; load it only when asked for.
    if name == "Graph":
        from .graph import Graph

        return Graph
    raise AttributeError(f"module 'sam_compose' has no attribute {name!r}")
