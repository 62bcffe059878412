"""Tracking nodes: ``track`` (stateful, once per frame) and ``synthetic_video`` (a test stream).

Thin wrappers over :mod:`sam_compose.adapters.outputs.tracking`; see docs/tracking.md.
Example graph (demos/tracking/track_synthetic.json)::

    "video": {"type": "synthetic_video", "params": {"kind": "motion"}},
    "boxes": {"type": "box_prompt", "params": {"boxes": [[10, 22, 50, 51]]}},
    "track": {"type": "track", "inputs": {"image": "video", "prompts": "boxes"},
              "params": {"save": "tracks", "formats": "coco,mot,png,mp4"}}

``prompts`` / ``masks`` start objects on the first frame the node sees (later values are
ignored, so a static prompt node can feed a stream); ``gaze`` fixations start and refresh
tracks on the frames they fall on.
"""

from __future__ import annotations

from typing import Any

from ..errors import InputError
from .api import Param, frame_index, node, output_path
from .ports import Gaze, Image, Masks, Prompts, Video


@node(
    "track",
    category="outputs",
    stateful=True,
    description="Track objects through a video stream with stable ids; optionally write COCO RLE, MOT CSV, PNGs and an overlay MP4.",
)
class TrackNode:
    """One tracker per stream; called once per frame with that frame."""

    def __init__(
        self,
        *,
        engine: str = Param(
            "opencv",
            kind="model",
            description="flow tracker: engine that re-segments (opencv, a SAM spec, "
            "or 'none' for flow only); sam2 tracker: the SAM 2 model",
        ),
        tracker: str = Param(
            "flow",
            choices=("flow", "sam2", "edgetam", "sam3"),
            description="weight-free flow tracker, or SAM 2 / EdgeTAM / SAM 3 video",
        ),
        fps: float = Param(25.0, gt=0, description="frame rate, for gaze timing and the overlay video"),
        video_start: float | None = Param(
            None,
            description="gaze clock time of the first frame (default: the "
            "recording's first sample; 0 for bare fixations)",
        ),
        gaze_t0: float | None = Param(None, description="deprecated name of video_start"),
        save: str | None = Param(
            None,
            kind="path_out",
            description="folder for tracks.json / tracks_mot.csv / masks/ / overlay.mp4 "
            "(relative paths go under --out)",
        ),
        formats: str = Param("coco,mot,png", description="comma-separated outputs: coco, mot, png, mp4"),
    ) -> None:
        from ..adapters.outputs.tracking import make_tracker

        self.tracker = make_tracker(tracker, engine=engine)
        self.fps = float(fps)
        from ..adapters.prompts.gaze.compat import video_start_arg

        self.video_start = video_start_arg(video_start, "track node", stacklevel=3, gaze_t0=gaze_t0)
        self.started = False
        self.last: Any = None
        self.sinks: dict[str, Any] = {}
        if save:
            from ..adapters.outputs.tracking.files import TRACK_FORMATS, open_sinks

            fmts = [f.strip() for f in formats.split(",") if f.strip()]
            bad = sorted(set(fmts) - set(TRACK_FORMATS))
            if bad or not fmts:
                raise InputError(
                    f"track: formats must be a comma-separated subset of {', '.join(TRACK_FORMATS)}, got {formats!r}"
                )
            self.sinks = open_sinks(output_path(save), fmts, self.fps)
        self._gaze_at: dict[int, list[Any]] | None = None
        self._frame = 0

    def __call__(
        self, image: Image, prompts: Prompts | None = None, masks: Masks | None = None, gaze: Gaze | None = None
    ) -> Masks:
        from ..adapters.outputs.tracking.gaze import apply_fixations, gaze_schedule

        idx = frame_index()
        idx = self._frame if idx is None else idx
        if not self.started:
            self.started = True
            if masks is not None and len(masks):
                self.tracker.add(masks)
            if prompts:
                self.tracker.add(prompts)
            if gaze is not None:
                self._gaze_at = gaze_schedule(gaze, self.fps, start_frame=0, video_start=self.video_start)
            if not self.tracker.ids and not self._gaze_at:
                raise InputError(
                    "track: nothing to track on the first frame; wire prompts, masks or gaze into the node"
                )
        if self._gaze_at and idx in self._gaze_at:
            apply_fixations(self.tracker, self._gaze_at.pop(idx), self.last, image.shape[:2])
        res = self.tracker.step(image)
        res.data["frame"] = idx
        for s in self.sinks.values():
            s.write(idx, res, image)
        self.last = res
        self._frame += 1
        return res

    def close(self) -> None:
        for s in self.sinks.values():
            s.close()
        self.sinks = {}


@node(
    "synthetic_video",
    category="inputs",
    cacheable=False,
    description="A synthetic test video (moving, scaling, crossing or leaving objects, an occluder), for demos and tests.",
)
def synthetic_video_node(
    *,
    kind: str = Param(
        "motion", choices=("motion", "cross", "exit", "late", "photo"), description="scenario (see docs/tracking.md)"
    ),
    frames: int = Param(30, ge=2, le=1000, description="number of frames"),
    width: int = Param(160, ge=16, le=4096, description="frame width"),
    height: int = Param(120, ge=16, le=4096, description="frame height"),
    seed: int = Param(0, description="random seed"),
) -> Video:
    from ..adapters.outputs.tracking.synth import synthetic_frames

    # rendered one frame at a time: 1000 frames of 4096x4096 would not fit in memory at once
    return synthetic_frames(kind, n_frames=frames, size=(height, width), seed=seed)
