"""Gaze prompt adapter: eye-tracker recordings and live streams -> SAM prompts.

    from sam_compose.adapters.prompts import read_gaze, detect_fixations, gaze_to_prompts
    samples = read_gaze("export/gaze.csv")            # Pupil Core/Neon/Invisible, Tobii, generic CSV, Neon native
    fixations = detect_fixations(samples)              # the device's own, else I-VT (default) or method="idt"
    prompts = gaze_to_prompts(samples, image=img)      # one positive point per fixated place
    masks = engine.segment(img, prompts)

This package's facade; the parts live in its modules (each imports only those before it:
errors, units, compat, samples, ...; no cycles):

* :mod:`.errors`: :class:`GazeError`, :class:`NoFixationError`, :class:`GazeLimitError`
* :mod:`.units`, :mod:`.compat`: units at the boundary, deprecated spellings
* :mod:`.samples`: :class:`GazeSamples`, :class:`Fixation`
* :mod:`.devices`: scene cameras of the devices (sizes, fields of view), Neon vs Invisible
* :mod:`.readers`: :func:`read_gaze`, :func:`iter_gaze` (streamed chunks), :func:`detect_format`
  (per-format parsing in :mod:`.formats`, CSV plumbing and bounds in :mod:`.tables` /
  :mod:`.limits`, Neon native folders in :mod:`.neon_native`)
* :mod:`.fixations`: :func:`detect_fixations`, :class:`FixationDetector` (I-VT / I-DT,
  noise-adaptive; the numpy pieces in :mod:`.classify`); :mod:`.metrics` (F1, kappa)
* :mod:`.live`: :class:`LiveGaze` (push samples one by one), :mod:`.neon_live` (Pupil Labs
  realtime API)
* :mod:`.coords`: :class:`SceneToImage` (resize, crop), :func:`match_frames`,
  :func:`assign_frames` (video), :func:`px_per_degree`
* :mod:`.prompts`: :func:`gaze_to_prompts`, :func:`gaze_segment`, :func:`fixations_in_image`
* :mod:`.calibrate`: :func:`calibrated_segment` (accuracy-aware prompting with an engine)
* :mod:`.synth`: synthetic recordings with known fixations, writers for each file format

See docs/gaze.md for formats, thresholds and examples.
"""

from __future__ import annotations

from .calibrate import calibrated_segment, candidate_points
from .coords import SceneToImage, assign_frames, match_frames, px_per_degree
from .detect import detect_fixations
from .devices import DEVICES, Device
from .errors import GazeError, GazeLimitError, NoFixationError
from .fixations import FixationDetector
from .live import LiveGaze, live_fixations
from .prompts import fixations_in_image, frame_interval, gaze_segment, gaze_to_prompts, group_fixations
from .readers import FORMATS, detect_format, iter_gaze, read_frame_times, read_gaze
from .samples import Fixation, GazeSamples

__all__ = [
    "DEVICES",
    "FORMATS",
    "Device",
    "Fixation",
    "FixationDetector",
    "GazeError",
    "GazeLimitError",
    "GazeSamples",
    "LiveGaze",
    "NoFixationError",
    "SceneToImage",
    "assign_frames",
    "calibrated_segment",
    "candidate_points",
    "detect_fixations",
    "detect_format",
    "fixations_in_image",
    "frame_interval",
    "gaze_segment",
    "gaze_to_prompts",
    "group_fixations",
    "iter_gaze",
    "live_fixations",
    "match_frames",
    "px_per_degree",
    "read_frame_times",
    "read_gaze",
]
