"""Video object tracking: ``track(frames, init, engine=..., tracker=...)`` and ``make_tracker``.

    from sam_compose.adapters.outputs import track
    for res in track("clip.mp4", sc.Prompt(box=[40, 30, 90, 80])):
        res.ids, res.masks, res.data["frame"], res.data["lost"]

Trackers (:class:`~.base.Tracker`): ``"flow"`` (:mod:`.flow`, weight-free: optical flow
carries each mask, the engine re-segments it), ``"sam2"`` (:mod:`.sam2_video`, SAM 2 video
through transformers with a bounded memory bank), ``"edgetam"`` (:mod:`.family_video`, the
fast SAM 2-style tracker) and ``"sam3"`` (:mod:`.sam3_video`: text concepts, every
instance, or prompted objects). With a model tracker ``engine=`` is that model's engine
(a spec or a loaded engine). Outputs: :mod:`.files`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import numpy as np

from ....errors import InputError
from ....masks import Masks
from ....types import Prompt
from .base import InitLike, Tracker, split_init

__all__ = ["TRACKERS", "make_tracker", "track"]

TRACKERS = ("flow", "sam2", "edgetam", "sam3")


def make_tracker(tracker: str | Tracker = "flow", engine: Any = "opencv", **options: Any) -> Tracker:
    """A tracker by name: ``"flow"`` (weight-free + ``engine``), or a model tracker ``"sam2"``,
    ``"edgetam"``, ``"sam3"`` (``engine`` is that model's engine: a spec or a loaded engine)."""
    if isinstance(tracker, Tracker):
        if options:
            raise InputError(f"options {sorted(options)} cannot be applied to an existing {type(tracker).__name__}")
        return tracker
    name = str(tracker).strip().lower()
    cls: type[Tracker]
    if name == "flow":
        from .flow import FlowTracker

        cls = FlowTracker
    elif name == "sam2":
        from .sam2_video import Sam2VideoTracker

        cls = Sam2VideoTracker
    elif name == "edgetam":
        from .family_video import EdgeTamVideoTracker

        cls = EdgeTamVideoTracker
    elif name == "sam3":
        from .sam3_video import Sam3VideoTracker

        cls = Sam3VideoTracker
    else:
        raise InputError(f"unknown tracker {tracker!r}; choose one of {', '.join(TRACKERS)} or pass a Tracker")
    import inspect

    accepted = [n for n, p in inspect.signature(cls.__init__).parameters.items() if p.kind == p.KEYWORD_ONLY]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise InputError(f"the {name} tracker does not take {unknown}; accepted options: {', '.join(accepted)}")
    return cls(engine, **options)


def _progress(progress: Any, total: int | None) -> Callable[[int], None] | None:
    if progress is None or progress is False:
        return None
    if callable(progress):
        return lambda i: progress(i, total) if i >= 0 else None
    from tqdm.auto import tqdm  # tqdm comes with transformers and huggingface_hub

    bar = tqdm(total=total, unit="frame", desc="track")
    return lambda i: bar.update(1) if i >= 0 else bar.close()


def track(
    frames: Any,
    init: InitLike | None = None,
    *,
    engine: Any = "opencv",
    tracker: str | Tracker = "flow",
    start_frame: int = 0,
    add: Mapping[int, InitLike] | None = None,
    gaze: Iterable[Any] | None = None,
    fps: float | None = None,
    max_frames: int | None = None,
    progress: bool | Callable[[int, int | None], None] | None = None,
    with_frames: bool = False,
    video_start: float | None = None,
    gaze_t0: float | None = None,
    **options: Any,
) -> Iterator[Any]:
    """Track objects through a video; yields one :class:`Masks` per frame from ``start_frame``.

    Args:
        frames: a video path, a folder/glob of images, a webcam index, an iterable of
            (H, W, 3) frames or a (T, H, W, 3) array (see :func:`sam_compose.video_io.open_video`).
        init: the objects on frame ``start_frame``: ``Masks`` (one object per row, ``ids``
            kept when set), a ``Prompt`` or a list of prompts (segmented by the engine).
        engine: for ``tracker="flow"``, the engine that re-segments each carried mask (a spec
            for ``shared_engine``, an Engine, or None for flow only: the fast path); for
            a model tracker, that model's engine (a spec, a local folder, a checkpoint, or a
            loaded engine; ``"sam2"`` also takes a ``Sam2VideoModel``).
        tracker: ``"flow"``, ``"sam2"``, ``"edgetam"``, ``"sam3"`` or a :class:`Tracker` instance.
        start_frame: index of the first frame to track; earlier frames are skipped.
        add: ``{frame_index: objects}`` added mid-stream (same forms as ``init``).
        gaze: a gaze recording (``GazeSamples``; fixations are detected) or fixations
            (objects or dicts with x, y in frame pixels and start in seconds, or ``frame``)
            that start a track on the object looked at, or refresh the track already there
            (needs ``fps`` from the file or the argument).
        fps: frames per second (overrides the file's), for gaze timing.
        max_frames: stop after this many tracked frames.
        progress: True for a tqdm bar, or ``callback(done, total)`` after each frame.
        with_frames: yield ``(frame, Masks)`` pairs instead of ``Masks`` (for overlays).
        video_start: the gaze clock's time (seconds) at frame 0 (``gaze_t0`` is its deprecated
            name; default: the recording's first sample, or 0 for bare fixations).
        **options: passed to the tracker (e.g. ``lost_area_ratio`` for ``"flow"``).

    Raises :class:`~sam_compose.errors.InputError` for an unreadable or empty video, an empty
    initial mask, frames that change size, or nothing to track.
    """
    from ....video_io import open_video

    if not isinstance(start_frame, (int, np.integer)) or start_frame < 0:
        raise InputError(f"start_frame must be a whole number >= 0, got {start_frame!r}")
    if max_frames is not None and (not isinstance(max_frames, (int, np.integer)) or max_frames < 1):
        raise InputError(f"max_frames must be a whole number >= 1 or None, got {max_frames!r}")
    schedule: dict[int, list[InitLike]] = {}
    if init is not None:
        split_init(init, "init")  # validate now, before anything runs
        schedule.setdefault(int(start_frame), []).append(init)
    for k, v in (add or {}).items():
        if int(k) < start_frame:
            raise InputError(f"add: frame {k} comes before start_frame {start_frame}")
        split_init(v, f"add at frame {k}")
        schedule.setdefault(int(k), []).append(v)
    if not schedule and gaze is None:
        raise InputError("nothing to track: give init (Masks or prompts), add={frame: ...} or gaze fixations")
    source = open_video(frames, fps=fps)
    gaze_at: dict[int, list[Prompt]] = {}
    if gaze is not None:
        from .gaze import gaze_schedule

        if source.fps is None:
            source.close()
            raise InputError("gaze over video needs the frame rate: pass fps=... (frames per second)")
        try:
            from ...prompts.gaze.compat import video_start_arg

            vs = video_start_arg(video_start, "track", stacklevel=4, gaze_t0=gaze_t0)
            gaze_at = gaze_schedule(gaze, source.fps, start_frame=int(start_frame), video_start=vs)
        except BaseException:
            source.close()
            raise
        if not gaze_at and not schedule:
            source.close()
            raise InputError(
                "nothing to track: the gaze holds no fixation on any frame of the video "
                "(check video_start and fps), and no init or add was given"
            )
    try:
        trk = make_tracker(tracker, engine=engine, **options)
    except BaseException:
        source.close()
        raise
    total = None if source.frame_count is None else max(0, source.frame_count - int(start_frame))
    if max_frames is not None:
        total = max_frames if total is None else min(total, max_frames)
    return _run(source, trk, schedule, gaze_at, int(start_frame), max_frames, _progress(progress, total), with_frames)


def _run(
    source: Any,
    trk: Tracker,
    schedule: dict[int, list[InitLike]],
    gaze_at: dict[int, list[Prompt]],
    start_frame: int,
    max_frames: int | None,
    tick: Callable[[int], None] | None,
    with_frames: bool = False,
) -> Iterator[Any]:
    from .gaze import apply_fixations

    done = 0
    last: Masks | None = None
    try:
        with source:
            for i, frame in enumerate(source):
                if i < start_frame:
                    continue
                for objs in schedule.pop(i, []):
                    trk.add(objs)
                if i in gaze_at:
                    apply_fixations(trk, gaze_at.pop(i), last, frame.shape[:2])
                res = trk.step(frame)
                res.data["frame"] = i
                last = res
                done += 1
                if tick is not None:
                    tick(done)
                yield (frame, res) if with_frames else res
                if max_frames is not None and done >= max_frames:
                    break  # before decoding (or waiting for) one more frame
            if done == 0:
                raise InputError(
                    f"the video has {source.frames_read} frames, none at or after start_frame {start_frame}"
                )
    finally:
        if tick is not None:
            tick(-1)
