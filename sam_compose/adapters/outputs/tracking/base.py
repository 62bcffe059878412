"""The :class:`Tracker` interface and what starts an object: :class:`ObjectInit`, ``split_init``.

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
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ....errors import InputError
from ....image_io import load_image
from ....masks import Masks
from ....types import Prompt, as_prompt_list

__all__ = ["InitLike", "ObjectInit", "Tracker", "split_init"]

InitLike = Masks | Prompt | Sequence[Prompt] | Mapping[str, Any]

InitItem = tuple[int | None, np.ndarray | None, Prompt | None, np.ndarray | None]
"""One object from :func:`split_init`: (id or None, (H, W) mask, prompt, (256, 256) logits)."""


@dataclass(frozen=True)
class ObjectInit:
    """One object to start tracking: a full-size mask or a prompt, and its id."""

    obj_id: int
    mask: np.ndarray | None = None  # (H, W) bool
    prompt: Prompt | None = None
    logits: np.ndarray | None = None  # (256, 256), when the mask came with logits


def split_init(init: InitLike, what: str = "init") -> list[InitItem]:
    """Normalise ``init`` to (id or None, mask, prompt, logits) items, one per object.

    ``Masks`` give one object per row (ids from ``Masks.ids`` when set); an empty mask is
    refused. A ``Prompt`` (or dict) is one object; a list of prompts is one object each.
    """
    if isinstance(init, Masks):
        if len(init) == 0:
            raise InputError(f"{what}: the Masks hold no rows; pass at least one object mask")
        areas = init.areas
        out: list[InitItem] = []
        for i in range(len(init)):
            if areas[i] == 0:
                raise InputError(f"{what}: mask {i} is empty (no pixel set); draw the object or pass a prompt instead")
            oid = None if init.ids is None else int(init.ids[i])
            out.append((oid, init.masks[i], None, None if init.logits is None else init.logits[i]))
        return out
    if isinstance(init, np.ndarray):
        arr = init if init.ndim == 3 else init[None]
        return split_init(Masks(arr), what)
    try:
        prompts = as_prompt_list(init)
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
    def _step(
        self, frame: np.ndarray, added: list[ObjectInit], corrections: dict[int, ObjectInit], removed: set[int]
    ) -> Masks:
        """Propagate tracked objects into ``frame``, then start ``added`` and apply ``corrections``."""

    def _reset_state(self) -> None:  # noqa: B027 - an optional hook: trackers without state keep this no-op
        """Drop backend state (called by :meth:`reset`)."""
