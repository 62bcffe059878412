"""Vendor detectors, for recordings whose export lacks the device software's own fixations.

When a device's fixations are not in the export, the closest thing to them is what the
vendor's software would have computed. :func:`pupil_player_fixations` follows Pupil
Player's documented offline detector for Pupil Core (dispersion-duration based; written
from its documentation, not copied): samples with confidence above ``min_confidence``
(0.6) are scanned in time order; a window of at least ``min_duration`` (80 ms) whose
**dispersion** (the largest angle between two of its gaze directions) is at most
``max_dispersion`` (1.5 deg) starts a fixation, extended as far as the dispersion allows
but to at most ``max_duration`` (220 ms) after its first sample; the scan continues after
it, otherwise one sample on. Gaze directions come from the scene pixels through an ideal
pinhole camera of the device's field of view.

:func:`detect_fixations` uses it with ``profile="pupil_player"``, and by default
(``profile="auto"``) for Pupil Core recordings; ``profile="generic"`` is the
noise-adaptive detector of :mod:`.fixations` for every device.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .devices import DEVICES
from .errors import GazeError
from .samples import Fixation, GazeSamples

__all__ = ["DEVICE_PROFILE", "PROFILES", "pupil_player_fixations", "pupil_player_windows", "unproject"]

PROFILES = ("auto", "generic", "pupil_player")
DEVICE_PROFILE = {"pupil_core": "pupil_player"}
"""The vendor profile ``profile="auto"`` picks for a recording of each device."""


def unproject(x: np.ndarray, y: np.ndarray, scene_size: tuple[int, int], fov: Sequence[float]) -> np.ndarray:
    """(N, 3) unit directions of scene pixels through an ideal pinhole camera of ``fov`` degrees."""
    h, w = scene_size
    fx = (w / 2) / np.tan(np.deg2rad(fov[0]) / 2)
    fy = (h / 2) / np.tan(np.deg2rad(fov[1]) / 2)
    v = np.stack([(x - w / 2) / fx, (y - h / 2) / fy, np.ones_like(x)], 1)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _dispersion(v: np.ndarray) -> float:
    if len(v) < 2:
        return 0.0
    return float(np.arccos(np.clip((v @ v.T).min(), -1.0, 1.0)))


def pupil_player_fixations(
    samples: GazeSamples,
    *,
    fov: Sequence[float] | None = None,
    max_dispersion: float = 1.5,
    min_duration: float = 0.08,
    max_duration: float = 0.22,
    min_confidence: float = 0.6,
) -> list[Fixation]:
    """Fixations as Pupil Player computes them for Pupil Core (see the module docstring).

    ``fov`` defaults to the recording's device (Pupil Core: 99 x 53 deg); times in seconds,
    positions the mean of each fixation's scene pixels.
    """
    if samples.scene_size is None:
        raise GazeError("profile='pupil_player' needs the scene camera size (a Pupil Core recording)")
    f = fov if fov is not None else samples.meta.get("fov", DEVICES["pupil_core"].fov)
    ok = samples.valid & ~(np.isfinite(samples.confidence) & (samples.confidence <= min_confidence))
    t, x, y = samples.t[ok], samples.x[ok], samples.y[ok]
    out: list[Fixation] = []
    for i, k in pupil_player_windows(
        t,
        unproject(x, y, samples.scene_size, f),
        max_dispersion=max_dispersion,
        min_duration=min_duration,
        max_duration=max_duration,
    ):
        xs, ys = x[i : k + 1], y[i : k + 1]
        out.append(
            Fixation(
                x=float(xs.mean()),
                y=float(ys.mean()),
                start=float(t[i]),
                end=float(t[k]),
                duration=float(t[k] - t[i]),
                n_samples=k - i + 1,
                dispersion=float(np.ptp(xs) + np.ptp(ys)),
            )
        )
    return out


def pupil_player_windows(
    t: np.ndarray,
    directions: np.ndarray,
    *,
    max_dispersion: float = 1.5,
    min_duration: float = 0.08,
    max_duration: float = 0.22,
) -> list[tuple[int, int]]:
    """Pupil Player's fixations as ``(first, last)`` sample indices (inclusive) of ``t``.

    ``t``: (N,) seconds, increasing; ``directions``: (N, 3) gaze directions (any length; 3-D
    gaze points or :func:`unproject`'s rays) of samples already filtered by confidence;
    ``max_dispersion`` in degrees, durations in seconds (see the module docstring).
    """
    v = directions / np.linalg.norm(directions, axis=1, keepdims=True)
    max_disp = np.deg2rad(max_dispersion)
    n = len(t)
    out: list[tuple[int, int]] = []
    i = 0
    while i < n:
        j = max(int(np.searchsorted(t, t[i] + min_duration, side="left")), i + 1)
        if j >= n:
            break
        if _dispersion(v[i : j + 1]) > max_disp:
            i += 1
            continue
        k = max(min(int(np.searchsorted(t, t[i] + max_duration, side="right")) - 1, n - 1), j)
        if _dispersion(v[i : k + 1]) > max_disp:
            lo, hi = j, k  # dispersion(i..lo) fits, (i..hi) does not
            while lo + 1 < hi:
                mid = (lo + hi) // 2
                if _dispersion(v[i : mid + 1]) <= max_disp:
                    lo = mid
                else:
                    hi = mid
            k = lo
        out.append((i, k))
        i = k + 1
    return out
