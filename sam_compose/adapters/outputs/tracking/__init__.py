"""Video object tracking.

* :mod:`.base`: the :class:`Tracker` interface and :class:`ObjectInit`;
* :mod:`.api`: :func:`track` and :func:`make_tracker`;
* :mod:`.flow`: the weight-free tracker, built from :mod:`.motion` (dense flow that carries
  masks), :mod:`.local` (one object re-segmented in a window on the engine's region
  structure), :mod:`.appearance` (colour models learnt on the first frame; re-detection),
  :mod:`.engine_refine` (carried masks as prompts for SAM engines) and :mod:`.colour`
  (the flow-only colour snap);
* :mod:`.sam2_video`: SAM 2 video through transformers; :mod:`.family_video` (EdgeTAM) and
  :mod:`.sam3_video` (SAM 3 concepts) on the same streaming machinery;
* :mod:`.gaze`: fixations that start and refresh tracks;
* :mod:`.files`: per-frame COCO, MOT, PNG and overlay-video outputs;
* :mod:`.synth`: synthetic clips with known masks (tests, demos, benchmarks).
"""

from __future__ import annotations

from .api import TRACKERS, make_tracker, track
from .base import InitLike, ObjectInit, Tracker, split_init

__all__ = ["TRACKERS", "InitLike", "ObjectInit", "Tracker", "make_tracker", "split_init", "track"]
