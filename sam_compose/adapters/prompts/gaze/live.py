"""Live gaze: push samples one by one (headset SDK, webcam gaze estimator, Pupil Labs realtime API).

    live = LiveGaze(scene_size=(1200, 1600))          # scene camera (H, W), pixels, top-left origin
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

from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from .compat import scene_size_arg
from .fixations import FixationDetector
from .parse import parse_sample
from .samples import Fixation, GazeError, GazeSamples
from .units import to_scene_pixels

__all__ = ["LiveGaze", "live_fixations", "parse_sample"]


class LiveGaze:
    """Fixations from samples pushed one at a time (or in small batches).

    ``scene_size`` (height, width) of the scene frame (None: coordinates are image pixels,
    then give ``image_size`` (H, W) or pixel thresholds); ``units`` "px" or "norm" and
    ``origin`` "top-left" or "bottom-left" of the pushed values; other keyword arguments
    are :func:`detect_fixations` parameters (``method``, thresholds, ``fov``, ...).
    ``frame_size=(W, H)`` is the deprecated spelling of ``scene_size``.
    """

    def __init__(
        self,
        scene_size: tuple[int, int] | None = None,
        *,
        units: str = "px",
        origin: str = "top-left",
        image_size: tuple[int, int] | None = None,
        frame_size: tuple[int, int] | None = None,
        **params: Any,
    ) -> None:
        self.scene_size = scene_size_arg(scene_size, frame_size, "LiveGaze")
        if units == "norm" and self.scene_size is None:
            raise GazeError("normalised live gaze needs scene_size=(H, W) of the scene camera")
        self.units, self.origin = units, origin
        to_scene_pixels(np.zeros(1), np.zeros(1), self.scene_size or (1, 1), units, origin)  # validates
        self.detector = FixationDetector(scene_size=self.scene_size, image_size=image_size, **params)
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
            raise GazeError(
                f"live gaze sample at {t[0] if t[0] < self._last_t else t[np.flatnonzero(np.diff(t) < 0)[0] + 1]:.6f}s "
                "goes back in time; push samples in time order"
            )
        self._last_t = t[-1]
        if self.scene_size is None:
            x, y = arr[:, 1], arr[:, 2]
        else:
            x, y = to_scene_pixels(arr[:, 1], arr[:, 2], self.scene_size, self.units, self.origin)
        chunk = GazeSamples(t=t, x=x, y=y, scene_size=self.scene_size, valid=valid, confidence=arr[:, 3], source="live")
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
    API). ``options`` go to :class:`LiveGaze` (``scene_size``, ``units``, thresholds, ...).
    """
    live = LiveGaze(**options)
    for sample in source:
        if sample is None:
            break
        yield from live.push(sample)
    yield from live.close()
