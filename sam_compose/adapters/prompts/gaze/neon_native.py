"""Neon native recordings: the folder the Neon Companion app writes, read with ``pupil-labs-neon-recording``.

The folder holds binary streams (``gaze ps1.raw`` / ``.time`` or ``gaze_200hz.raw``, worn,
blinks, fixations) and ``info.json``. :func:`iter_neon_native` returns the gaze in scene
camera pixels (1200x1600, from the recording's camera calibration when present), seconds
on the recording's clock (Unix time), samples not worn or inside a blink marked invalid,
and the device's fixations (mean gaze point, start and stop) for
:func:`.fixations.detect_fixations` to use unless asked to detect.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ....errors import require
from .devices import DEVICES
from .errors import GazeError
from .limits import check_rows
from .samples import Fixation, GazeSamples

__all__ = ["iter_neon_native"]


def iter_neon_native(
    path: str | os.PathLike, *, chunk_size: int = 65536, scene_size: tuple[int, int] | None = None
) -> Iterator[GazeSamples]:
    """A Neon native recording folder as :class:`GazeSamples` chunks (see the module docstring)."""
    nr = require("pupil_labs.neon_recording", feature="Neon native recordings")
    folder = Path(path)
    try:
        rec = nr.open(folder)
        gaze = rec.gaze
    except (FileNotFoundError, OSError, ValueError, KeyError, AttributeError, nr.NeonRecording.SensorError) as exc:
        raise GazeError(
            f"{folder}: not a readable Neon recording ({' '.join(str(exc).split())[:160]}); expected the "
            "folder the Companion app writes (info.json, gaze ps1.raw, gaze ps1.time)"
        ) from exc
    n = len(gaze)
    if n == 0:
        raise GazeError(f"{folder}: the Neon recording holds no gaze samples")
    check_rows(n, folder)
    t_ns = np.asarray(gaze.time, dtype=np.int64)
    xy = np.asarray(gaze.point, dtype=np.float64).reshape(-1, 2)
    valid = np.ones(n, bool)
    dropped: dict[str, np.ndarray] = {}
    try:
        worn = rec.worn
        if len(worn) == n:
            dropped["not_worn"] = np.asarray(worn.worn, np.float64) <= 0
    except (nr.NeonRecording.SensorError, AttributeError):
        pass
    try:
        blinks = rec.blinks
        blink = np.zeros(n, bool)
        for s, e in zip(np.asarray(blinks.start_time), np.asarray(blinks.stop_time)):
            a, b = np.searchsorted(t_ns, [s, e], side="left")
            blink[a:b] = True
        dropped["blink"] = blink
    except (nr.NeonRecording.SensorError, AttributeError):
        pass
    fixations: list[Fixation] | None = None
    try:
        fx = rec.fixations
        st, et = np.asarray(fx.start_time, np.int64), np.asarray(fx.stop_time, np.int64)
        mean = np.asarray(fx.mean_gaze_point, np.float64).reshape(-1, 2)
        fixations = [
            Fixation(
                x=float(p[0]),
                y=float(p[1]),
                start=s * 1e-9,
                end=e * 1e-9,
                duration=(e - s) * 1e-9,
                n_samples=int(np.searchsorted(t_ns, e, "right") - np.searchsorted(t_ns, s, "left")),
                id=i + 1,
            )
            for i, (s, e, p) in enumerate(zip(st, et, mean))
            if np.isfinite(p).all()
        ]
    except (nr.NeonRecording.SensorError, AttributeError, KeyError):
        fixations = None
    size = (int(scene_size[0]), int(scene_size[1])) if scene_size is not None else DEVICES["neon"].scene_size
    h, w = size
    t = t_ns * 1e-9
    for a in range(0, n, chunk_size):
        b = min(a + chunk_size, n)
        v = valid[a:b].copy()
        counts: dict[str, int] = {}
        for reason, bad in dropped.items():
            bad = bad[a:b] & v
            if bad.any():
                counts[reason] = int(bad.sum())
                v &= ~bad
        x, y = xy[a:b, 0], xy[a:b, 1]
        off = v & ~((x >= 0) & (x <= w) & (y >= 0) & (y <= h))
        if off.any():
            counts["off_scene"] = int(off.sum())
            v &= ~off
        chunk = GazeSamples(
            t=t[a:b],
            x=x,
            y=y,
            scene_size=size,
            valid=v,
            source="neon_native",
            fixations=(fixations if a == 0 else []) if fixations is not None else None,
            dropped=counts,
            meta={
                "path": str(folder),
                "format": "neon_native",
                "device": "neon",
                "fov": DEVICES["neon"].fov,
                "device_from": "the native recording",
            },
        )
        yield chunk
