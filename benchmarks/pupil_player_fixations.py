"""Pupil Player's offline fixation detector, re-implemented as the reference for bench_gaze.py.

Pupil Player (Pupil Core's desktop software, v2/v3) documents its detector as
dispersion-duration based: gaze samples with confidence above the minimum data confidence
(0.6) are scanned in time order; a window of at least ``min_duration`` (80 ms) whose
**dispersion** (the largest angle between any two of its gaze directions) is at most
``max_dispersion`` (1.5 deg) starts a fixation; the fixation is then extended as far as
the dispersion allows, but to at most ``max_duration`` (220 ms) after its first sample
(found by bisection); the scan continues after it, otherwise one sample on. Gaze
directions are the 3-D gaze points (``gaze_point_3d_*``) when the export has them, else
the 2-D positions unprojected through a pinhole camera of the given field of view.

This is written from that description (Pupil Labs' documentation and the behaviour of
``fixation_detector.py`` in pupil-labs/pupil), not copied; it is benchmark code, not part
of the library. A Pupil Core export with ``fixations.csv`` can be compared directly.
"""

from __future__ import annotations

import numpy as np

__all__ = ["pupil_player_fixations", "unproject"]


def unproject(x: np.ndarray, y: np.ndarray, scene_size: tuple[int, int], fov: tuple[float, float]) -> np.ndarray:
    """(N, 3) unit directions of scene pixels through an ideal pinhole camera of ``fov`` degrees."""
    h, w = scene_size
    fx = (w / 2) / np.tan(np.deg2rad(fov[0]) / 2)
    fy = (h / 2) / np.tan(np.deg2rad(fov[1]) / 2)
    v = np.stack([(x - w / 2) / fx, (y - h / 2) / fy, np.ones_like(x)], 1)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _dispersion(v: np.ndarray) -> float:
    """Largest angle (radians) between any two unit vectors of v (n, 3)."""
    if len(v) < 2:
        return 0.0
    g = np.clip(v @ v.T, -1.0, 1.0)
    return float(np.arccos(g.min()))


def pupil_player_fixations(t: np.ndarray, directions: np.ndarray, max_dispersion_deg: float = 1.5,
                           min_duration: float = 0.08, max_duration: float = 0.22) -> list[tuple[int, int]]:
    """Fixations as [first, last] sample index pairs (inclusive) of ``t`` (seconds, increasing)
    and ``directions`` (N, 3), for samples already filtered by confidence."""
    v = directions / np.linalg.norm(directions, axis=1, keepdims=True)
    max_disp = np.deg2rad(max_dispersion_deg)
    n = len(t)
    out: list[tuple[int, int]] = []
    i = 0
    while i < n:
        # smallest window from i that spans min_duration (and has two samples)
        j = int(np.searchsorted(t, t[i] + min_duration, side="left"))
        j = max(j, i + 1)
        if j >= n:
            break
        if _dispersion(v[i:j + 1]) > max_disp:
            i += 1
            continue
        # the longest extension within max_duration
        k_max = int(np.searchsorted(t, t[i] + max_duration, side="right")) - 1
        k_max = max(min(k_max, n - 1), j)
        if _dispersion(v[i:k_max + 1]) <= max_disp:
            end = k_max
        else:
            lo, hi = j, k_max  # dispersion(i..lo) ok, (i..hi) not
            while lo + 1 < hi:
                mid = (lo + hi) // 2
                if _dispersion(v[i:mid + 1]) <= max_disp:
                    lo = mid
                else:
                    hi = mid
            end = lo
        out.append((i, end))
        i = end + 1
    return out
