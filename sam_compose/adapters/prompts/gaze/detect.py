"""``detect_fixations``: the device's own fixations when a recording carries them, else the
streaming detector (:class:`.fixations.FixationDetector`, generic or a vendor's profile)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from .errors import GazeError
from .fixations import FixationDetector
from .samples import Fixation, GazeSamples

__all__ = ["FIXATION_SOURCES", "detect_fixations"]

FIXATION_SOURCES = ("auto", "device", "detect")


def detect_fixations(
    samples: GazeSamples | Iterable[GazeSamples],
    method: str | None = None,
    *,
    velocity_threshold: float | None = None,
    dispersion_threshold: float | None = None,
    min_duration: float = 0.06,
    fov: Sequence[float] | float | None = None,
    max_gap: float = 0.075,
    merge_gap: float = 0.075,
    merge_distance: float | None = None,
    smoothing: str | None = "median",
    smooth_window: int = 3,
    min_confidence: float | None = None,
    image_size: tuple[int, int] | None = None,
    velocity_span: float | None = None,
    adaptive: bool = True,
    max_span: float = 0.06,
    fixations: str = "auto",
    use_file_fixations: bool | None = None,
    profile: str = "auto",
) -> list[Fixation]:
    """Fixations (x, y in scene-frame pixels; start, end, duration in seconds), in time order.

    ``samples`` is a :class:`GazeSamples` or an iterable of chunks (e.g. ``iter_gaze(path)``:
    streamed, bounded memory). ``method`` "ivt" (velocity threshold) or "idt" (dispersion
    threshold); thresholds in pixels (px/s, px) or degrees (deg/s, deg) when ``fov`` is
    given or known for the device; see the module docstring for every parameter and
    default. ``image_size`` (H, W) sets the pixel scale of recordings already in image pixels.

    ``fixations``: "auto" (default) returns the device's own fixations, as the device gave
    them, when the recording carries them (Pupil Cloud ``fixation id`` / ``fixations.csv``,
    Pupil Player ``fixations.csv``, Tobii Pro Lab events, Neon native), and detects otherwise; "detect" always detects; "device" requires the device's.
    (``use_file_fixations=False`` is the older spelling of ``fixations="detect"``.)

    ``profile``: "generic" is this module's noise-adaptive I-VT / I-DT; "pupil_player" is
    Pupil Player's documented detector (:mod:`.vendor_detectors`); "auto" (default) uses
    the vendor's detector for a recording of a device that has one (Pupil Core) when no
    ``method`` or threshold is given, the generic one otherwise. Returns [] when nothing
    qualifies.
    """
    from .vendor_detectors import DEVICE_PROFILE, PROFILES, pupil_player_fixations

    if profile not in PROFILES:
        raise GazeError(f"profile must be one of {PROFILES}, got {profile!r}")
    explicit = method is not None or velocity_threshold is not None or dispersion_threshold is not None
    method = method or "ivt"
    if fixations not in FIXATION_SOURCES:
        raise GazeError(f"fixations must be one of {FIXATION_SOURCES}, got {fixations!r}")
    if use_file_fixations is not None:
        fixations = "auto" if use_file_fixations else "detect"
    chunks: Iterable[GazeSamples] = [samples] if isinstance(samples, GazeSamples) else samples
    vendor_parts: list[GazeSamples] = []
    det: FixationDetector | None = None
    out: list[Fixation] = []
    file_fix: list[Fixation] = []
    has_file = False
    for chunk in chunks:
        if not isinstance(chunk, GazeSamples):
            raise GazeError(
                f"detect_fixations takes GazeSamples (or chunks of them), got {type(chunk).__name__}; "
                "use read_gaze first"
            )
        if chunk.fixations is not None and fixations != "detect":
            has_file = True
            file_fix.extend(chunk.fixations)
            continue
        if fixations == "device":
            raise GazeError(
                "fixations='device' but this recording carries no fixations of the device; "
                "use fixations='auto' or 'detect' to detect them"
            )
        vendor = (
            profile if profile != "auto" else (None if explicit else DEVICE_PROFILE.get(str(chunk.meta.get("device"))))
        )
        if vendor == "pupil_player" or (vendor_parts and det is None):
            vendor_parts.append(chunk)
            continue
        if det is None:
            f = fov if fov is not None else chunk.meta.get("fov")
            det = FixationDetector(
                scene_size=chunk.scene_size,
                image_size=image_size,
                method=method,
                velocity_threshold=velocity_threshold,
                dispersion_threshold=dispersion_threshold,
                min_duration=min_duration,
                fov=f,
                max_gap=max_gap,
                merge_gap=merge_gap,
                merge_distance=merge_distance,
                smoothing=smoothing,
                smooth_window=smooth_window,
                min_confidence=min_confidence,
                velocity_span=velocity_span,
                adaptive=adaptive,
                max_span=max_span,
            )
        out.extend(det.feed(chunk))
    if has_file:
        from .samples import merge_fixation_parts

        return merge_fixation_parts(file_fix)  # the device's own, as it gave them
    if vendor_parts:
        fv = None if fov is None else tuple(np.atleast_1d(np.asarray(fov, np.float64)).tolist())
        return pupil_player_fixations(GazeSamples.concat(vendor_parts), fov=fv)
    if det is not None:
        out.extend(det.flush())
    return out
