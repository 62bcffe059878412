"""The fixation detector's parameters, resolved once: methods, thresholds in pixels of the
scene frame (from degrees when the field of view is known), smoothing and merging.

See :mod:`.fixations` for what each parameter does in the pipeline.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .coords import px_per_degree
from .errors import GazeError

__all__ = ["MAX_NOISE_DEG", "METHODS", "SMOOTHING", "FixationParams"]

METHODS = ("ivt", "idt")
SMOOTHING = (None, "none", "median", "mean")
MAX_NOISE_DEG = 3.0  # positional noise (RMS per axis) beyond any eye tracker's: such data holds no fixation


@dataclass(frozen=True)
class FixationParams:
    """Resolved parameters, thresholds in pixels of the frame (see the module docstring)."""

    method: str
    velocity_px_s: float
    dispersion_px: float
    merge_px: float
    min_duration: float
    max_gap: float
    merge_gap: float
    smoothing: str | None
    smooth_window: int
    min_confidence: float | None
    velocity_span: float | None
    adaptive: bool
    max_span: float
    block: float
    max_noise_px: float

    @classmethod
    def resolve(
        cls,
        scene_size: tuple[int, int] | None,
        *,
        method: str = "ivt",
        velocity_threshold: float | None = None,
        dispersion_threshold: float | None = None,
        merge_distance: float | None = None,
        fov: Sequence[float] | float | None = None,
        min_duration: float = 0.06,
        max_gap: float = 0.075,
        merge_gap: float = 0.075,
        smoothing: str | None = "median",
        smooth_window: int = 3,
        min_confidence: float | None = None,
        image_size: tuple[int, int] | None = None,
        velocity_span: float | None = None,
        adaptive: bool = True,
        max_span: float = 0.06,
        block: float = 2.0,
        max_noise: float | None = None,
    ) -> FixationParams:
        if method not in METHODS:
            raise GazeError(f"fixation method must be 'ivt' (velocity) or 'idt' (dispersion), got {method!r}")
        if smoothing not in SMOOTHING:
            raise GazeError(f"smoothing must be 'median', 'mean' or None, got {smoothing!r}")
        for name, v in (
            ("min_duration", min_duration),
            ("max_gap", max_gap),
            ("merge_gap", merge_gap),
            ("max_span", max_span),
            ("block", block),
        ):
            if v is None or not np.isfinite(v) or v < 0:
                raise GazeError(f"{name} is in seconds and must be >= 0, got {v!r}")
        if velocity_span is not None and (not np.isfinite(velocity_span) or velocity_span <= 0):
            raise GazeError(
                f"velocity_span is in seconds and must be > 0 (or None: adapt to the noise), got {velocity_span!r}"
            )
        if int(smooth_window) < 1:
            raise GazeError(f"smooth_window is a number of samples >= 1, got {smooth_window!r}")
        size = scene_size if scene_size is not None else image_size
        if fov is not None:
            if size is None:
                raise GazeError("fov (degrees) needs the scene frame size: pass scene_size or read a device format")
            ppd = px_per_degree(size, fov)
            vel = (30.0 if velocity_threshold is None else velocity_threshold) * ppd
            disp = (1.0 if dispersion_threshold is None else dispersion_threshold) * ppd
            merge = (0.5 if merge_distance is None else merge_distance) * ppd
            noise_cap = (MAX_NOISE_DEG if max_noise is None else max_noise) * ppd
        else:
            if size is None and None in (velocity_threshold, dispersion_threshold, merge_distance):
                raise GazeError(
                    "gaze in image pixels without a known image size: give the image "
                    "(or image_size) or explicit pixel thresholds"
                )
            diag = float(np.hypot(*size)) if size is not None else 0.0
            vel = 0.25 * diag if velocity_threshold is None else velocity_threshold
            disp = 0.01 * diag if dispersion_threshold is None else dispersion_threshold
            merge = 0.005 * diag if merge_distance is None else merge_distance
            noise_cap = (
                (MAX_NOISE_DEG * 0.01 * diag if size is not None else np.inf) if max_noise is None else max_noise
            )
        for name, v in (("velocity_threshold", vel), ("dispersion_threshold", disp)):
            if not np.isfinite(v) or v <= 0:
                raise GazeError(f"{name} must be a positive number, got {v!r}")
        win = int(smooth_window)
        win += 1 - win % 2  # odd, centred
        smooth = None if smoothing in (None, "none") or win == 1 else smoothing
        return cls(
            method,
            float(vel),
            float(disp),
            float(max(merge, 0.0)),
            float(min_duration),
            float(max_gap),
            float(merge_gap),
            smooth,
            win,
            min_confidence,
            None if velocity_span is None else float(velocity_span),
            bool(adaptive),
            float(max_span),
            float(block),
            float(noise_cap),
        )
