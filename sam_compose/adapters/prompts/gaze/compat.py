"""Deprecated spellings of the gaze API, accepted until 0.3 with a ``DeprecationWarning``.

See docs/conventions.md: ``frame_size=(W, H)`` -> ``scene_size=(H, W)``; ``start=``,
``t0=``, ``gaze_t0=`` -> ``video_start=``; a positional engine -> ``engine=``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

from .errors import GazeError
from .units import as_size

__all__ = ["positional_engine", "scene_size_arg", "video_start_arg"]


def scene_size_arg(scene_size: Any, frame_size: Any, where: str, stacklevel: int = 3) -> tuple[int, int] | None:
    """The (H, W) scene size from ``scene_size`` or the deprecated ``frame_size=(W, H)``."""
    size = None if scene_size is None else as_size(scene_size, "scene_size")
    if frame_size is None:
        return size
    warnings.warn(
        f"{where}: frame_size=(W, H) is deprecated; pass scene_size=(H, W) (sizes are (height, width) "
        "everywhere in sam_compose)",
        DeprecationWarning,
        stacklevel=stacklevel,
    )
    w, h = as_size(frame_size, "frame_size")  # the old order: (width, height)
    old = (h, w)
    if size is not None and size != old:
        raise GazeError(
            f"{where}: scene_size={size} and frame_size={tuple(frame_size)} (W, H) disagree; "
            "pass only scene_size=(H, W)"
        )
    return old


def video_start_arg(video_start: float | None, where: str, stacklevel: int = 3, **old: Any) -> float | None:
    """``video_start`` or the first of the deprecated ``start=``/``t0=``/``gaze_t0=`` given."""
    given = {k: v for k, v in old.items() if v is not None}
    if not given:
        return None if video_start is None else float(video_start)
    names = ", ".join(f"{k}=" for k in given)
    warnings.warn(
        f"{where}: {names} is deprecated; pass video_start= (the gaze-clock time of video frame 0, seconds)",
        DeprecationWarning,
        stacklevel=stacklevel,
    )
    vals = {float(v) for v in given.values()}
    if video_start is not None:
        vals.add(float(video_start))
    if len(vals) > 1:
        raise GazeError(f"{where}: video_start and {names} disagree ({sorted(vals)}); pass only video_start=")
    return vals.pop()


def positional_engine(
    args: Sequence[Any], engine: Any, where: str, names: Sequence[str] = ("engine",), stacklevel: int = 3
) -> tuple[Any, ...]:
    """Values of ``names`` given positionally (deprecated) merged with the keyword ``engine``.

    Returns a tuple as long as ``names`` (missing ones None); the first is the engine.
    """
    if not args:
        return (engine,) + (None,) * (len(names) - 1)
    if len(args) > len(names):
        raise GazeError(f"{where}: too many positional arguments; pass {', '.join(n + '=' for n in names)} by keyword")
    warnings.warn(
        f"{where}: passing {', '.join(names[: len(args)])} positionally is deprecated; pass engine=... "
        "(a spec string or an Engine) by keyword",
        DeprecationWarning,
        stacklevel=stacklevel,
    )
    if engine is not None:
        raise GazeError(f"{where}: the engine is given twice (positionally and as engine=); pass engine= only")
    vals = tuple(args) + (None,) * (len(names) - len(args))
    return vals
