"""Video object tracking: ``track(frames, init)`` and the :class:`Tracker` interface.

    from sam_compose.adapters.outputs import track
    for res in track("clip.mp4", sc.Prompt(box=[40, 30, 90, 80])):
        res.ids, res.masks, res.data["frame"], res.data["lost"]

A tracker is stateful and works one frame at a time:

* :meth:`Tracker.add` queues new objects (``Masks`` rows, or prompts segmented by the
  engine) and returns their ids; they start on the frame passed to the next
  :meth:`Tracker.step`. Objects can be added on any frame.
* :meth:`Tracker.remove` stops an object; :meth:`Tracker.correct` replaces an object's
  mask with a new prompt (or mask) on the next frame.
* :meth:`Tracker.step` takes an (H, W, 3) uint8 RGB frame and returns :class:`Masks`
  with one row per *visible* object, ``ids`` set; ``data`` holds ``frame`` (index),
  ``lost`` (ids that are tracked but not found in this frame), ``lost_reasons``,
  ``reacquired`` and ``added`` (ids), ``tracker`` and ``engine``.

Two trackers: ``"flow"`` (:mod:`.tracking_flow`, weight-free: optical flow carries each
mask, the engine re-segments it) and ``"sam2"`` (:mod:`.tracking_sam2`, SAM 2 video
through transformers with a bounded memory bank). Outputs: :mod:`.tracking_io`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence, Union

import numpy as np

from ...errors import InputError
from ...image_io import load_image
from ...masks import Masks
from ...types import Prompt, as_prompt_list

__all__ = ["track", "Tracker", "ObjectInit", "make_tracker", "TRACKERS"]

InitLike = Union[Masks, Prompt, Sequence[Prompt], Mapping[str, Any]]
TRACKERS = ("flow", "sam2")


@dataclass(frozen=True)
class ObjectInit:
    """One object to start tracking: a full-size mask or a prompt, and its id."""

    obj_id: int
    mask: np.ndarray | None = None      # (H, W) bool
    prompt: Prompt | None = None
    logits: np.ndarray | None = None    # (256, 256), when the mask came with logits


def split_init(init: InitLike, what: str = "init") -> list[tuple[int | None, np.ndarray | None, Prompt | None, np.ndarray | None]]:
    """Normalise ``init`` to (id or None, mask, prompt, logits) items, one per object.

    ``Masks`` give one object per row (ids from ``Masks.ids`` when set); an empty mask is
    refused. A ``Prompt`` (or dict) is one object; a list of prompts is one object each.
    """
    if isinstance(init, Masks):
        if len(init) == 0:
            raise InputError(f"{what}: the Masks hold no rows; pass at least one object mask")
        areas = init.areas
        out = []
        for i in range(len(init)):
            if areas[i] == 0:
                raise InputError(
                    f"{what}: mask {i} is empty (no pixel set); draw the object or pass a prompt instead"
                )
            oid = None if init.ids is None else int(init.ids[i])
            out.append((oid, init.masks[i], None, None if init.logits is None else init.logits[i]))
        return out
    if isinstance(init, np.ndarray):
        arr = init if init.ndim == 3 else init[None]
        return split_init(Masks(arr), what)
    try:
        prompts = as_prompt_list(init)  # type: ignore[arg-type]
    except InputError as exc:
        raise InputError(f"{what} must be Masks, a Prompt or a list of Prompts: {exc}") from exc
    return [(None, None, p, None) for p in prompts]


class Tracker(ABC):
    """Stateful per-stream object tracker (see the module docstring for the protocol)."""

    name = "tracker"

    def __init__(self) -> None:
        self._next_id = 1
        self._known: set[int] = set()
        self._ever: set[int] = set()
        self._pending: list[ObjectInit] = []
        self._corrections: dict[int, ObjectInit] = {}
        self._removals: set[int] = set()
        self.frame_index = -1
        self.size: tuple[int, int] | None = None

    # --- user-facing protocol ------------------------------------------------------------
    def add(self, objects: InitLike, ids: Sequence[int] | None = None) -> list[int]:
        """Queue objects to start on the next frame; returns their ids (stable for the stream).

        ``ids`` overrides the ids (else ``Masks.ids`` or fresh integers from 1 up).
        """
        items = split_init(objects, "add")
        if ids is not None:
            ids = [int(i) for i in ids]
            if len(ids) != len(items):
                raise InputError(f"add: {len(ids)} ids given for {len(items)} objects")
        chosen: list[int] = []
        taken = {k for k in self._known if k not in self._removals}
        for k, (oid, mask, _, _) in enumerate(items):  # check everything before changing state
            if ids is not None:
                oid = ids[k]
            if oid is None:  # fresh ids are never reused, even after remove()
                while self._next_id in self._ever or self._next_id in chosen:
                    self._next_id += 1
                oid = self._next_id
            if oid in taken or oid in chosen:
                raise InputError(f"add: object id {oid} is already tracked; use correct({oid}, ...) to change it")
            self._check_mask_size(mask, f"add: mask for object {oid}")
            chosen.append(int(oid))
        for oid, (_, mask, prompt, logits) in zip(chosen, items):
            self._known.add(oid)
            self._ever.add(oid)
            self._removals.discard(oid)
            self._pending.append(ObjectInit(oid, mask, prompt, logits))
        return chosen

    def remove(self, obj_id: int) -> None:
        """Stop tracking ``obj_id`` (from the next frame on)."""
        obj_id = int(obj_id)
        if obj_id not in self._known:
            raise InputError(f"remove: no object with id {obj_id}; tracked ids are {sorted(self._known)}")
        self._known.discard(obj_id)
        self._pending = [p for p in self._pending if p.obj_id != obj_id]
        self._corrections.pop(obj_id, None)
        self._removals.add(obj_id)

    def correct(self, obj_id: int, prompt: Prompt | Masks | Mapping[str, Any]) -> None:
        """Replace ``obj_id``'s mask on the next frame with the result of ``prompt`` (or a mask)."""
        obj_id = int(obj_id)
        if obj_id not in self._known:
            raise InputError(f"correct: no object with id {obj_id}; tracked ids are {sorted(self._known)}")
        items = split_init(prompt, "correct")
        if len(items) != 1:
            raise InputError(f"correct: give one prompt or one mask for object {obj_id}, got {len(items)}")
        _, mask, p, logits = items[0]
        self._check_mask_size(mask, f"correct: mask for object {obj_id}")
        self._corrections[obj_id] = ObjectInit(obj_id, mask, p, logits)

    @property
    def ids(self) -> list[int]:
        """Ids of every object being tracked (visible or lost)."""
        return sorted(self._known)

    def step(self, frame: Any) -> Masks:
        """Track every object into ``frame`` ((H, W, 3) uint8 RGB); returns its Masks."""
        img = load_image(frame)
        hw = (int(img.shape[0]), int(img.shape[1]))
        if self.size is None:
            self.size = hw
            for p in self._pending + list(self._corrections.values()):
                self._check_mask_size(p.mask, f"mask for object {p.obj_id}")
        elif hw != self.size:
            raise InputError(
                f"frame {self.frame_index + 1} is {hw[1]}x{hw[0]} but the stream started at "
                f"{self.size[1]}x{self.size[0]}; frames must keep one size (resize them first)"
            )
        self.frame_index += 1
        pending, self._pending = self._pending, []
        corrections, self._corrections = self._corrections, {}
        removals, self._removals = self._removals, set()
        for i, p in enumerate(pending):  # a correction of an object not started yet replaces its init
            if p.obj_id in corrections:
                pending[i] = corrections.pop(p.obj_id)
        res = self._step(img, pending, corrections, removals)
        res.data.setdefault("lost", [])
        res.data["frame"] = self.frame_index
        res.data["tracker"] = self.name
        res.data["adapter"] = "track"
        res.data["added"] = [p.obj_id for p in pending]
        return res

    def reset(self) -> None:
        """Forget every object and the stream (the next frame starts a new stream)."""
        Tracker.__init__(self)
        self._reset_state()

    def _check_mask_size(self, mask: np.ndarray | None, what: str) -> None:
        if mask is not None and self.size is not None and tuple(mask.shape) != self.size:
            raise InputError(
                f"{what} is {mask.shape[1]}x{mask.shape[0]} but the frames are {self.size[1]}x{self.size[0]}"
            )

    # --- backend hooks ------------------------------------------------------------------
    @abstractmethod
    def _step(self, frame: np.ndarray, added: list[ObjectInit], corrections: dict[int, ObjectInit],
              removed: set[int]) -> Masks:
        """Propagate tracked objects into ``frame``, then start ``added`` and apply ``corrections``."""

    def _reset_state(self) -> None:
        """Drop backend state (called by :meth:`reset`)."""


def make_tracker(tracker: str | Tracker = "flow", engine: Any = "opencv", **options: Any) -> Tracker:
    """A tracker by name: ``"flow"`` (weight-free + ``engine``) or ``"sam2"`` (``engine`` is the model spec)."""
    if isinstance(tracker, Tracker):
        if options:
            raise InputError(f"options {sorted(options)} cannot be applied to an existing {type(tracker).__name__}")
        return tracker
    name = str(tracker).strip().lower()
    if name == "flow":
        from .tracking_flow import FlowTracker as cls
    elif name == "sam2":
        from .tracking_sam2 import Sam2VideoTracker as cls  # type: ignore[assignment]
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


def track(frames: Any, init: InitLike | None = None, *, engine: Any = "opencv",
          tracker: str | Tracker = "flow", start_frame: int = 0,
          add: Mapping[int, InitLike] | None = None, gaze: Iterable[Any] | None = None,
          fps: float | None = None, max_frames: int | None = None,
          progress: bool | Callable[[int, int | None], None] | None = None,
          with_frames: bool = False, gaze_t0: float | None = None, **options: Any) -> Iterator[Any]:
    """Track objects through a video; yields one :class:`Masks` per frame from ``start_frame``.

    Args:
        frames: a video path, a folder/glob of images, a webcam index, an iterable of
            (H, W, 3) frames or a (T, H, W, 3) array (see :func:`sam_compose.video_io.open_video`).
        init: the objects on frame ``start_frame``: ``Masks`` (one object per row, ``ids``
            kept when set), a ``Prompt`` or a list of prompts (segmented by the engine).
        engine: for ``tracker="flow"``, the engine that re-segments each carried mask (a spec
            for ``shared_engine``, an Engine, or None for flow only: the fast path); for
            ``tracker="sam2"``, the SAM 2 model (a spec, a local folder or a ``Sam2VideoModel``).
        tracker: ``"flow"``, ``"sam2"`` or a :class:`Tracker` instance.
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
        gaze_t0: the gaze clock's time (seconds) at frame 0 (default: the recording's first
            sample, or 0 for bare fixations).
        **options: passed to the tracker (e.g. ``lost_area_ratio`` for ``"flow"``).

    Raises :class:`~sam_compose.errors.InputError` for an unreadable or empty video, an empty
    initial mask, frames that change size, or nothing to track.
    """
    from ...video_io import open_video

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
        from .tracking_gaze import gaze_schedule

        if source.fps is None:
            source.close()
            raise InputError("gaze over video needs the frame rate: pass fps=... (frames per second)")
        try:
            gaze_at = gaze_schedule(gaze, source.fps, start_frame=int(start_frame), t0=gaze_t0)
        except BaseException:
            source.close()
            raise
        if not gaze_at and not schedule:
            source.close()
            raise InputError("nothing to track: the gaze holds no fixation on any frame of the video "
                             "(check gaze_t0 and fps), and no init or add was given")
    try:
        trk = make_tracker(tracker, engine=engine, **options)
    except BaseException:
        source.close()
        raise
    total = None if source.frame_count is None else max(0, source.frame_count - int(start_frame))
    if max_frames is not None:
        total = max_frames if total is None else min(total, max_frames)
    return _run(source, trk, schedule, gaze_at, int(start_frame), max_frames, _progress(progress, total), with_frames)


def _run(source: Any, trk: Tracker, schedule: dict[int, list[InitLike]], gaze_at: dict[int, list[Prompt]],
         start_frame: int, max_frames: int | None, tick: Callable[[int], None] | None,
         with_frames: bool = False) -> Iterator[Any]:
    from .tracking_gaze import apply_fixations

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
