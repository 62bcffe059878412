"""Gaze in the demo: a clicked path becomes a simulated eye-tracker recording.

Each click is a place the eyes rest. :func:`simulate_samples` turns the clicks into a
120 Hz sample stream (a dwell with small jitter at each centre, a quick saccade between),
which goes through the same adapter as a real recording (``read_gaze`` ->
``detect_fixations`` -> ``gaze_to_prompts``). Positions are (x, y) image pixels, times
in seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .features import available, feature
from .render import gaze_heat
from .state import SessionState

RATE_HZ = 120.0
DWELL_S = 0.35
SACCADE_S = 0.04
JITTER_PX = 2.0


def simulate_samples(
    centres: Sequence[tuple[float, float]],
    rate: float = RATE_HZ,
    dwell: float = DWELL_S,
    saccade: float = SACCADE_S,
    jitter: float = JITTER_PX,
    seed: int = 0,
) -> np.ndarray:
    """(N, 3) samples ``[t, x, y]`` of eyes resting ``dwell`` s on each centre in turn.

    Between centres the gaze moves linearly in ``saccade`` s; during a dwell it jitters
    with Gaussian noise of ``jitter`` pixels (a real eye's fixational drift).
    """
    rng = np.random.default_rng(seed)
    rows: list[tuple[float, float, float]] = []
    t = 0.0
    step = 1.0 / rate
    prev = None
    for cx, cy in centres:
        if prev is not None:
            n = max(1, int(round(saccade * rate)))
            for k in range(1, n + 1):
                a = k / (n + 1)
                rows.append((t, prev[0] + a * (cx - prev[0]), prev[1] + a * (cy - prev[1])))
                t += step
        for _ in range(max(2, int(round(dwell * rate)))):
            rows.append((t, cx + rng.normal(0, jitter), cy + rng.normal(0, jitter)))
            t += step
        prev = (cx, cy)
    return np.asarray(rows, dtype=np.float64).reshape(-1, 3)


def _clip_samples(samples: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    h, w = size
    out = samples.copy()
    out[:, 1] = np.clip(out[:, 1], 0, w - 1)
    out[:, 2] = np.clip(out[:, 2], 0, h - 1)
    return out


def samples_for_state(state: SessionState) -> Any:
    """The session's gaze as the adapter's samples: the loaded recording or the simulated path."""
    if state.gaze is not None:
        return state.gaze
    h, w = state.size
    raw = _clip_samples(simulate_samples(state.gaze_clicks), (h, w))
    return feature("read_gaze")(raw, scene_size=(h, w))


def fixations_for_state(state: SessionState) -> list[Any]:
    """Fixations (adapter ``Fixation`` objects) of the session's gaze, in image pixels."""
    return list(feature("fixations_in_image")(samples_for_state(state), state.size))


def _fixation_tuples(fixations: Any) -> list[tuple[float, float, float]]:
    out = []
    for f in fixations:
        x, y = float(f.x), float(f.y)
        dur = float(getattr(f, "duration", DWELL_S) or DWELL_S)
        out.append((x, y, dur))
    return out


def heat_for_state(picture: np.ndarray, state: SessionState) -> np.ndarray:
    """``picture`` with the session's fixations as a heat overlay.

    Uses the gaze adapter's fixation detection when it is installed; otherwise each
    clicked centre counts as one fixation of :data:`DWELL_S` seconds.
    """
    fix: list[tuple[float, float, float]] = []
    if available("fixations_in_image") and available("read_gaze"):
        try:
            fix = _fixation_tuples(fixations_for_state(state))
        except (ValueError, TypeError):
            fix = []
    if not fix:
        fix = [(x, y, DWELL_S) for x, y in state.gaze_clicks]
    return gaze_heat(picture, fix)
