"""Keeping a ``transformers`` video session's memory bounded (SAM 2, EdgeTAM and SAM 3 trackers).

The streaming video models keep, per object, an output dict with ``cond_frame_outputs``
(frames where the object was prompted) and ``non_cond_frame_outputs`` (frames it was
tracked on), plus per-frame bookkeeping keyed by frame index. A tracker that prunes
after every frame keeps only what the next frame can read: memories from ``horizon`` on
and a bounded number of prompted frames.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

__all__ = ["drop_before", "prune_object_outputs"]


def drop_before(store: MutableMapping[int, Any], frame: int) -> None:
    """Remove the entries of ``store`` (keyed by frame index) for frames before ``frame``."""
    for k in [k for k in store if k < frame]:
        del store[k]


def prune_object_outputs(out: MutableMapping[str, Any], horizon: int, max_cond_frames: int) -> None:
    """One object's output dict: drop tracked frames before ``horizon``; of the prompted frames keep
    the first and the latest ``max_cond_frames - 1`` (only the latest when ``max_cond_frames`` is 1)."""
    drop_before(out["non_cond_frame_outputs"], horizon)
    cond = sorted(out["cond_frame_outputs"])
    if len(cond) > max_cond_frames:
        keep = {cond[0], *cond[-(max_cond_frames - 1) :]} if max_cond_frames > 1 else {cond[-1]}
        for k in cond:
            if k not in keep:
                del out["cond_frame_outputs"][k]
