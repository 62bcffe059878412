"""Gaze prompt adapter: eye-tracker recordings and live streams -> SAM prompts.

    from sam_compose.adapters.prompts import read_gaze, detect_fixations, gaze_to_prompts
    samples = read_gaze("export/gaze.csv")            # Pupil Core/Neon/Invisible, Tobii G3, generic CSV
    fixations = detect_fixations(samples)              # I-VT (default) or method="idt"
    prompts = gaze_to_prompts(samples, image=img)      # one positive point per fixated place
    masks = engine.segment(img, prompts)

This package's facade; the parts live in its modules:

* :mod:`.samples`: :class:`GazeSamples`, :class:`Fixation`, :class:`GazeError`
* :mod:`.readers`: :func:`read_gaze`, :func:`iter_gaze` (streamed chunks), :func:`detect_format`
  (CSV plumbing in :mod:`.tables`)
* :mod:`.fixations`: :func:`detect_fixations`, :class:`FixationDetector` (I-VT / I-DT)
* :mod:`.live`: :class:`LiveGaze` (push samples one by one)
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
from .fixations import FixationDetector, detect_fixations
from .live import LiveGaze, live_fixations
from .prompts import fixations_in_image, frame_interval, gaze_segment, gaze_to_prompts, group_fixations
from .readers import FORMATS, detect_format, iter_gaze, read_frame_times, read_gaze
from .samples import Fixation, GazeError, GazeSamples, NoFixationError

__all__ = [
    "read_gaze", "iter_gaze", "detect_format", "FORMATS", "read_frame_times",
    "detect_fixations", "FixationDetector", "LiveGaze", "live_fixations",
    "gaze_to_prompts", "gaze_segment", "fixations_in_image", "group_fixations", "frame_interval",
    "calibrated_segment", "candidate_points",
    "SceneToImage", "match_frames", "assign_frames", "px_per_degree",
    "GazeSamples", "Fixation", "GazeError", "NoFixationError",
]
