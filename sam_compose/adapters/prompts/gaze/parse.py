"""One gaze sample from whatever a device or a caller hands over: tuples, dicts, SDK objects.

:func:`parse_sample` is shared by the live interface (:mod:`.live`) and the readers of
sample iterables (:mod:`.readers`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .errors import GazeError

__all__ = ["parse_sample"]

_T_KEYS = ("t", "time", "timestamp", "timestamp_s", "timestamp_unix_seconds")
_NS_KEYS = ("timestamp_ns", "timestamp_unix_ns", "timestamp [ns]")


def parse_sample(sample: Any) -> tuple[float, float, float, float, bool]:
    """(t seconds, x, y, confidence (NaN if none), valid) from a tuple, dict or SDK object.

    Accepted: ``(t, x, y)``, ``(t, x, y, confidence)``, ``(t, x, y, confidence, valid)``;
    a mapping with ``t``/``timestamp``/``timestamp_unix_seconds`` (or ``timestamp_ns``),
    ``x``, ``y`` and optional ``confidence``, ``valid`` or ``worn``; an object with those
    attributes (e.g. the Pupil Labs realtime API's gaze datum, a named tuple read by its field
    names).
    """
    if isinstance(sample, (tuple, list, np.ndarray)) and not hasattr(sample, "_fields"):  # named tuples: by name
        vals = list(sample)
        if len(vals) not in (3, 4, 5):
            raise GazeError(
                f"a gaze sample tuple is (t, x, y[, confidence[, valid]]), got {len(vals)} values: {sample!r}"
            )
        try:
            t, x, y = float(vals[0]), float(vals[1]), float(vals[2])
            c = float(vals[3]) if len(vals) > 3 and vals[3] is not None else float("nan")
        except (TypeError, ValueError) as exc:
            raise GazeError(f"gaze sample {sample!r} must hold numbers (t, x, y[, confidence])") from exc
        valid = bool(vals[4]) if len(vals) > 4 else True
        return t, x, y, c, valid

    def get(key: str, default: Any = None) -> Any:
        if isinstance(sample, Mapping):
            return sample.get(key, default)
        return getattr(sample, key, default)

    def has(key: str) -> bool:
        return key in sample if isinstance(sample, Mapping) else hasattr(sample, key)

    raw_t: Any = next((get(k) for k in _T_KEYS if has(k)), None)
    if raw_t is None:
        ns = next((get(k) for k in _NS_KEYS if has(k)), None)
        raw_t = None if ns is None else float(ns) * 1e-9
    if raw_t is None or not has("x") or not has("y"):
        raise GazeError(
            f"gaze sample {sample!r} needs a time (t, timestamp, timestamp_unix_seconds or timestamp_ns) and x, y"
        )
    try:
        x, y, t = float(get("x")), float(get("y")), float(raw_t)
        raw_c = get("confidence")
        c = float("nan") if raw_c is None else float(raw_c)
    except (TypeError, ValueError) as exc:
        raise GazeError(f"gaze sample {sample!r} must hold numbers") from exc
    valid = get("valid", None)
    if valid is None:
        valid = get("worn", True)
    return t, x, y, c, bool(valid)
