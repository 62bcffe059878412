"""Video object tracking.

* :mod:`.base`: the :class:`Tracker` interface and :class:`ObjectInit`;
* :mod:`.api`: :func:`track` and :func:`make_tracker`;
* :mod:`.flow` (with :mod:`.colour`): the weight-free optical-flow tracker;
* :mod:`.sam2_video`: SAM 2 video through transformers;
* :mod:`.gaze`: fixations that start and refresh tracks;
* :mod:`.files`: per-frame COCO, MOT, PNG and overlay-video outputs;
* :mod:`.synth`: synthetic clips with known masks (tests, demos, benchmarks).
"""

from __future__ import annotations

from .api import TRACKERS, make_tracker, track
from .base import InitLike, ObjectInit, Tracker, split_init

__all__ = ["TRACKERS", "InitLike", "ObjectInit", "Tracker", "make_tracker", "split_init", "track"]
