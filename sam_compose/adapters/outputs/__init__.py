"""Output adapters: feed masks to trackers, inpainting, 3D lifting and file formats.

Each function lives in its own module and is imported on first use.
"""

from __future__ import annotations

from ..._lazy import lazy_exports

_EXPORTS = {
    "track": ".tracking",
    "make_tracker": ".tracking",
    "save_tracks": ".tracking.files",
    "inpaint": ".inpainting",
    "lift_to_3d": ".lifting",
    "PointCloud": ".pointcloud",
    "inpaint_frames": ".inpainting",
    "load_depth": ".depth",
    "depth_from_disparity": ".depth",
    "estimate_depth": ".depth",
    "fuse": ".lifting",
    "lift_views": ".lifting",
    "Intrinsics": ".camera",
    "export_masks": ".exports",
    "coco_dict": ".exports",
    "to_detections": ".exports",
    "read_record": ".exports",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
