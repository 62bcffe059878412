"""The SAM 2 family's other video trackers, on :class:`~.sam2_video.Sam2VideoTracker`'s streaming machinery.

* :class:`EdgeTamVideoTracker` (``tracker="edgetam"``): ``transformers.EdgeTamVideoModel``,
  SAM 2 distilled for speed (EdgeTAM: an efficient image encoder and a 2D spatial
  perceiver over the memory); ``engine=`` is an EdgeTAM engine (``yonigozlan/EdgeTAM-hf``
  or a ``save_pretrained`` folder). Frames are prepared as SAM 2's (EdgeTAM is built on
  Meta's sam2 code).
* :class:`Sam3PromptTracker` (prompted objects under ``tracker="sam3"``):
  ``Sam3TrackerVideoModel`` from the SAM 3 engine's folder, weights shared with the engine;
  frames go through SAM 3's image processor.

Both stream one frame at a time with the same bounded memory (pruned sessions) as SAM 2.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ....errors import InputError
from .sam2_video import Sam2VideoTracker, load_sam2_video

__all__ = ["EdgeTamVideoTracker", "Sam3PromptTracker", "sam3_engine_for"]


class EdgeTamVideoTracker(Sam2VideoTracker):
    """EdgeTAM video propagation (the fast option); see :class:`Sam2VideoTracker` for the options."""

    name = "edgetam"

    def _load_model(self, engine: Any, device: str | None, dtype: str | None) -> Any:
        return load_sam2_video(engine, device=device, dtype=dtype, family="edgetam")

    def _session_class(self) -> Any:
        from transformers.models.edgetam_video.modeling_edgetam_video import EdgeTamVideoInferenceSession

        return EdgeTamVideoInferenceSession


def sam3_engine_for(engine: Any, device: str | None = None, dtype: str | None = None) -> Any:
    """The SAM 3 engine ``engine`` names (spec or engine), or an :class:`InputError`."""
    from ....engines import resolve_engine
    from ....engines.base import Engine

    if not isinstance(engine, (str, Engine)) or (
        isinstance(engine, str) and engine.strip().lower() in ("opencv", "auto", "")
    ):
        raise InputError(
            "the sam3 tracker needs a SAM 3 engine: pass engine='facebook/sam3' (or a SAM 3 "
            f"save_pretrained folder, or an engine from sc.load_engine of one), got {engine!r}"
        )
    eng = resolve_engine(engine, device=device, dtype=dtype)
    if getattr(eng, "family", None) != "sam3":
        raise InputError(
            f"the sam3 tracker needs a SAM 3 engine, got a {eng.name} engine ({eng.spec!r}); "
            "pass engine='facebook/sam3'"
        )
    return eng


class Sam3PromptTracker(Sam2VideoTracker):
    """Objects given as masks, points or boxes, tracked by SAM 3's tracker (``Sam3TrackerVideoModel``)."""

    name = "sam3"

    def _load_model(self, engine: Any, device: str | None, dtype: str | None) -> Any:
        self._engine = sam3_engine_for(engine, device, dtype)
        return self._engine.models.tracker_video()

    def _session_class(self) -> Any:
        from transformers.models.sam3_tracker_video.modeling_sam3_tracker_video import (
            Sam3TrackerVideoInferenceSession,
        )

        return Sam3TrackerVideoInferenceSession

    def _pixels(self, frame: np.ndarray) -> Any:
        pix = self._engine.processor.image_processor(images=frame, return_tensors="pt")["pixel_values"]
        return pix.to(self.model.device, self.model.dtype)
