"""Live gaze: push samples one by one (headset SDK, webcam gaze estimator, Pupil Labs realtime API).

    live = LiveGaze(frame_size=(1600, 1200))          # scene camera pixels, top-left origin
    for sample in device:                              # (t, x, y) / dict / SDK object
        for fix in live.push(sample):                  # fixations as soon as they are final
            prompt = fixation_prompt(fix, image)        # -> segment
    live.close()                                       # the last fixation

:class:`LiveGaze` wraps the streaming :class:`~.fixations.FixationDetector`, so it
returns exactly the fixations :func:`detect_fixations` finds on the same samples as a file.
A fixation is reported once it has ended (the next saccade or gap is seen), a few samples
after the end (smoothing window) or ``merge_gap`` later when merging is on.
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator, Mapping

import numpy as np

from .coords import to_frame_pixels
from .fixations import FixationDetector
from .samples import Fixation, GazeError, GazeSamples

__all__ = ["LiveGaze", "parse_sample", "live_fixations"]

_T_KEYS = ("t", "time", "timestamp", "timestamp_s", "timestamp_unix_seconds")
_NS_KEYS = ("timestamp_ns", "timestamp_unix_ns", "timestamp [ns]")


def parse_sample(sample: Any) -> tuple[float, float, float, float, bool]:
    """(t seconds, x, y, confidence (NaN if none), valid) from a tuple, dict or SDK object.

    Accepted: ``(t, x, y)``, ``(t, x, y, confidence)``, ``(t, x, y, confidence, valid)``;
    a mapping with ``t``/``timestamp``/``timestamp_unix_seconds`` (or ``timestamp_ns``),
    ``x``, ``y`` and optional ``confidence``, ``valid`` or ``worn``; an object with those
    attributes (e.g. the Pupil Labs realtime API's gaze datum).
    """
    if isinstance(sample, (tuple, list, np.ndarray)):
        vals = list(sample)
        if len(vals) not in (3, 4, 5):
            raise GazeError(f"a gaze sample tuple is (t, x, y[, confidence[, valid]]), got {len(vals)} values: {sample!r}")
        try:
            t, x, y = float(vals[0]), float(vals[1]), float(vals[2])
            c = float(vals[3]) if len(vals) > 3 and vals[3] is not None else float("nan")
        except (TypeError, ValueError) as exc:
            raise GazeError(f"gaze sample {sample!r} must hold numbers (t, x, y[, confidence])") from exc
        valid = bool(vals[4]) if len(vals) > 4 else True
        return t, x, y, c, valid
    if isinstance(sample, Mapping):
        get = sample.get
        has = sample.__contains__
    else:
        get = lambda k, d=None: getattr(sample, k, d)  # noqa: E731
        has = lambda k: hasattr(sample, k)  # noqa: E731
    t = next((get(k) for k in _T_KEYS if has(k)), None)
    if t is None:
        ns = next((get(k) for k in _NS_KEYS if has(k)), None)
        t = None if ns is None else float(ns) * 1e-9
    if t is None or not has("x") or not has("y"):
        raise GazeError(f"gaze sample {sample!r} needs a time (t, timestamp, timestamp_unix_seconds or "
                        "timestamp_ns) and x, y")
    try:
        x, y, t = float(get("x")), float(get("y")), float(t)
        c = get("confidence")
        c = float("nan") if c is None else float(c)
    except (TypeError, ValueError) as exc:
        raise GazeError(f"gaze sample {sample!r} must hold numbers") from exc
    valid = get("valid", None)
    if valid is None:
        valid = get("worn", True)
    return t, x, y, c, bool(valid)


class LiveGaze:
    """Fixations from samples pushed one at a time (or in small batches).

    ``frame_size`` (width, height) of the scene frame (None: coordinates are image pixels,
    then give ``image_size`` (H, W) or pixel thresholds); ``units`` "px" or "norm" and
    ``origin`` "top-left" or "bottom-left" of the pushed values; other keyword arguments
    are :func:`detect_fixations` parameters (``method``, thresholds, ``fov``, ...).
    """

    def __init__(self, frame_size: tuple[int, int] | None = None, *, units: str = "px", origin: str = "top-left",
                 image_size: tuple[int, int] | None = None, **params: Any) -> None:
        if units == "norm" and frame_size is None:
            raise GazeError("normalised live gaze needs frame_size=(W, H) of the scene camera")
        self.frame_size = None if frame_size is None else (int(frame_size[0]), int(frame_size[1]))
        self.units, self.origin = units, origin
        to_frame_pixels(np.zeros(1), np.zeros(1), self.frame_size or (1, 1), units, origin)  # validates
        self.detector = FixationDetector(self.frame_size, image_size=image_size, **params)
        self.fixations: list[Fixation] = []
        self._last_t = -np.inf
        self._closed = False

    def push(self, sample: Any) -> list[Fixation]:
        """Add one sample; return the fixations that ended with it (usually none)."""
        return self.push_many([sample])

    def push_many(self, samples: Iterable[Any]) -> list[Fixation]:
        """Add several samples in time order; return the fixations that ended."""
        if self._closed:
            raise GazeError("this LiveGaze stream is closed; start a new one")
        rows = [parse_sample(s) for s in samples]
        if not rows:
            return []
        arr = np.array([r[:4] for r in rows], dtype=np.float64)
        valid = np.array([r[4] for r in rows], dtype=bool)
        t = arr[:, 0]
        if t[0] < self._last_t or (np.diff(t) < 0).any():
            raise GazeError(f"live gaze sample at {t[0] if t[0] < self._last_t else t[np.flatnonzero(np.diff(t) < 0)[0] + 1]:.6f}s "
                            "goes back in time; push samples in time order")
        self._last_t = t[-1]
        if self.frame_size is None:
            x, y = arr[:, 1], arr[:, 2]
        else:
            x, y = to_frame_pixels(arr[:, 1], arr[:, 2], self.frame_size, self.units, self.origin)
        chunk = GazeSamples(t=t, x=x, y=y, frame_size=self.frame_size, valid=valid, confidence=arr[:, 3], source="live")
        new = self.detector.feed(chunk)
        self.fixations.extend(new)
        return new

    def close(self) -> list[Fixation]:
        """End of the stream: return the fixation still in progress, if it qualifies."""
        if self._closed:
            return []
        self._closed = True
        new = self.detector.flush()
        self.fixations.extend(new)
        return new

    @property
    def buffered(self) -> int:
        """Samples held in memory (bounded by the current fixation's length)."""
        return self.detector.buffered


def live_fixations(source: Iterable[Any], **options: Any) -> Iterator[Fixation]:
    """Yield fixations as they end while consuming a (possibly endless) sample iterator.

    ``source`` yields samples in any form :func:`parse_sample` accepts; ``None`` ends the
    stream (so ``iter(device.receive_gaze_datum, None)`` works for the Pupil Labs realtime
    API). ``options`` go to :class:`LiveGaze` (``frame_size``, ``units``, thresholds, ...).
    """
    live = LiveGaze(**options)
    for sample in source:
        if sample is None:
            break
        yield from live.push(sample)
    yield from live.close()
