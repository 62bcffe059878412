"""``Masks``: the result type, parallel arrays in the style of ``supervision.Detections``.

Row ``i`` of every array describes one mask:

* ``masks[i]``  (H, W) bool at the original image size;
* ``scores[i]`` predicted quality (SAM's IoU prediction, or the engine's own score);
* ``boxes[i]``  x0, y0, x1, y1 pixels (derived from the mask when not given; x1 and y1
  are one past the last column and row);
* ``logits[i]`` (256, 256) low-res logits in SAM's padded frame, ready to be fed back as
  ``Prompt(mask=...)`` (None for results that have none);
* ``prompt_index[i]`` index into ``data["prompts"]`` of the prompt that produced the row
  (-1 when none did, e.g. automatic masks);
* ``ids[i]`` optional object id (tracking);
* ``rows[name][i]`` any further per-row value (e.g. automatic masks' ``stability_score``,
  ``point_coords``, ``crop_box``): arrays whose first axis has one entry per mask, kept
  aligned with the rows by indexing, slicing, ``best()`` and ``concat`` (like
  ``supervision.Detections.data``).

``data`` holds facts about the whole result, never per-row values: ``engine``, ``prompts``
(list of :class:`~sam_compose.types.Prompt`), ``adapter``, ``params`` and anything adapters add.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from .errors import InputError
from .geometry import LOWRES_SIZE, masks_to_boxes


class _ResultData(dict):
    """``Masks.data``: reading a per-row key that moved to ``Masks.rows`` still works, with a
    ``DeprecationWarning`` (until 0.3)."""

    __slots__ = ("_rows",)

    def __init__(self, data: Mapping[str, Any], rows: Mapping[str, np.ndarray]) -> None:
        super().__init__(data)
        self._rows = rows

    _RENAMED: ClassVar[dict[str, str]] = {"crop_boxes": "crop_box"}

    def __missing__(self, key: str) -> Any:
        name = self._RENAMED.get(key, key)
        if name in self._rows:
            warnings.warn(
                f"Masks.data[{key!r}] is deprecated: per-row values live in Masks.rows[{name!r}]",
                DeprecationWarning,
                stacklevel=2,
            )
            return self._rows[name]
        raise KeyError(key)


class Masks:
    """N masks for one image, with scores, boxes, low-res logits, per-row extras and provenance."""

    __slots__ = ("boxes", "data", "ids", "logits", "masks", "prompt_index", "rows", "scores")

    def __init__(
        self,
        masks: Any,
        scores: Any = None,
        boxes: Any = None,
        logits: Any = None,
        prompt_index: Any = None,
        ids: Any = None,
        data: Mapping[str, Any] | None = None,
        rows: Mapping[str, Any] | None = None,
    ) -> None:
        m = np.asarray(masks)
        if m.ndim == 2:
            m = m[None]
        if m.ndim != 3:
            raise InputError(f"masks must have shape (N, H, W), got {m.shape}")
        if m.dtype != bool:
            if np.issubdtype(m.dtype, np.floating) and not np.isin(m, (0.0, 1.0)).all():
                raise InputError(
                    "float masks must hold only 0 and 1; threshold soft masks or logits first (e.g. logits > 0)"
                )
            if not (np.issubdtype(m.dtype, np.number) or m.dtype == bool):
                raise InputError(f"masks must be boolean, got dtype {m.dtype}")
            m = m != 0
        n = m.shape[0]
        self.masks: np.ndarray = m
        self.scores: np.ndarray = self._vector(scores, n, "scores", np.float32, default=1.0)
        if boxes is None:
            b = masks_to_boxes(m)
        else:
            b = np.asarray(boxes, dtype=np.float32)
            if b.size == 0:
                b = b.reshape(0, 4)
            if b.shape != (n, 4):
                raise InputError(f"boxes must have shape ({n}, 4) to match {n} masks, got {b.shape}")
        self.boxes: np.ndarray = b
        if logits is not None:
            lg = np.asarray(logits, dtype=np.float32)
            if lg.shape != (n, LOWRES_SIZE, LOWRES_SIZE):
                raise InputError(
                    f"logits must have shape ({n}, {LOWRES_SIZE}, {LOWRES_SIZE}) to match {n} masks, got {lg.shape}"
                )
            self.logits: np.ndarray | None = lg
        else:
            self.logits = None
        self.prompt_index: np.ndarray = self._vector(prompt_index, n, "prompt_index", np.int64, default=-1)
        self.ids: np.ndarray | None = None if ids is None else self._vector(ids, n, "ids", np.int64, default=0)
        self.rows: dict[str, np.ndarray] = self._rows(rows, n)
        self.data: dict[str, Any] = _ResultData(data or {}, self.rows)

    @staticmethod
    def _rows(rows: Mapping[str, Any] | None, n: int) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for name, value in (rows or {}).items():
            arr = np.asarray(value)
            if arr.ndim == 0 or arr.shape[0] != n:
                raise InputError(f"rows[{name!r}] must have one entry per mask: first axis {n}, got shape {arr.shape}")
            out[str(name)] = arr
        return out

    @staticmethod
    def _vector(value: Any, n: int, name: str, dtype: Any, default: float) -> np.ndarray:
        if value is None:
            return np.full(n, default, dtype=dtype)
        v = np.asarray(value, dtype=dtype).reshape(-1)
        if v.shape != (n,):
            raise InputError(f"{name} must have shape ({n},) to match {n} masks, got {np.shape(value)}")
        return v

    # --- construction -------------------------------------------------------------------
    @classmethod
    def empty(cls, size: tuple[int, int], data: Mapping[str, Any] | None = None) -> Masks:
        """No masks, for an image of ``size`` (H, W)."""
        return cls(np.zeros((0, int(size[0]), int(size[1])), dtype=bool), data=data)

    @classmethod
    def concat(cls, items: Sequence[Masks]) -> Masks:
        """Stack results for the same image; prompt lists are merged and indices shifted."""
        items = list(items)
        if not items:
            raise InputError("Masks.concat needs at least one Masks")
        size = items[0].image_size
        for it in items[1:]:
            if it.image_size != size:
                raise InputError(f"cannot concatenate masks of size {it.image_size} with masks of size {size}")
        prompts: list[Any] = []
        pidx = []
        for it in items:
            own = list(it.data.get("prompts", []))
            shifted = np.where(it.prompt_index >= 0, it.prompt_index + len(prompts), -1)
            pidx.append(shifted)
            prompts.extend(own)
        logits = [it.logits for it in items if it.logits is not None]
        ids = [it.ids for it in items if it.ids is not None]
        shared_rows = set(items[0].rows).intersection(*(it.rows for it in items[1:]))
        data = dict(items[0].data)
        for it in items[1:]:
            for k, v in it.data.items():
                data.setdefault(k, v)
        data["prompts"] = prompts
        return cls(
            np.concatenate([it.masks for it in items]),
            scores=np.concatenate([it.scores for it in items]),
            boxes=np.concatenate([it.boxes for it in items]),
            logits=np.concatenate(logits) if len(logits) == len(items) else None,
            prompt_index=np.concatenate(pidx),
            ids=np.concatenate(ids) if len(ids) == len(items) else None,
            data=data,
            rows={k: np.concatenate([it.rows[k] for it in items]) for k in sorted(shared_rows)},
        )

    # --- array-like behaviour -----------------------------------------------------------
    def __len__(self) -> int:
        return int(self.masks.shape[0])

    def __iter__(self) -> Iterator[Masks]:
        for i in range(len(self)):
            yield self[i]

    def __getitem__(self, index: Any) -> Masks:
        """Rows by int, slice, boolean array or integer array; always returns ``Masks``."""
        if isinstance(index, (int, np.integer)):
            n = len(self)
            if not -n <= int(index) < n:
                raise IndexError(f"mask index {index} out of range for {n} masks")
            index = [int(index)]
        elif isinstance(index, slice):
            pass
        else:
            index = np.asarray(index)
            if index.dtype == bool and index.shape != (len(self),):
                raise IndexError(f"boolean index must have shape ({len(self)},), got {index.shape}")
        return Masks(
            self.masks[index],
            scores=self.scores[index],
            boxes=self.boxes[index],
            logits=None if self.logits is None else self.logits[index],
            prompt_index=self.prompt_index[index],
            ids=None if self.ids is None else self.ids[index],
            data=dict(self.data),
            rows={k: v[index] for k, v in self.rows.items()},
        )

    @property
    def image_size(self) -> tuple[int, int]:
        """(H, W) of the image the masks belong to."""
        return int(self.masks.shape[1]), int(self.masks.shape[2])

    @property
    def areas(self) -> np.ndarray:
        """(N,) pixel count of each mask."""
        if len(self) == 0:
            return np.zeros(0, dtype=np.int64)
        return self.masks.reshape(len(self), -1).sum(axis=1).astype(np.int64)

    @property
    def prompts(self) -> list[Any]:
        """The prompts that produced this result (``data["prompts"]``)."""
        return list(self.data.get("prompts", []))

    def prompt_of(self, i: int) -> Any:
        """The prompt that produced row ``i``, or None."""
        j = int(self.prompt_index[i])
        prompts = self.data.get("prompts", [])
        return prompts[j] if 0 <= j < len(prompts) else None

    def best(self) -> Masks:
        """The highest-scoring row for each prompt (one row for a single prompt).

        Rows without a prompt (automatic masks) count as one group. Order follows the prompts.
        """
        if len(self) == 0:
            return self
        keep = []
        for p in np.unique(self.prompt_index):
            rows = np.flatnonzero(self.prompt_index == p)
            keep.append(rows[int(np.argmax(self.scores[rows]))])
        return self[np.asarray(sorted(keep, key=lambda r: self.prompt_index[r]), dtype=np.int64)]

    def union(self) -> np.ndarray:
        """(H, W) bool: any mask covers the pixel."""
        return np.asarray(self.masks.any(axis=0)) if len(self) else np.zeros(self.image_size, dtype=bool)

    def __repr__(self) -> str:
        h, w = self.image_size
        return f"Masks(n={len(self)}, size={w}x{h}, scores={np.round(self.scores, 3).tolist()})"

    # --- interchange ----------------------------------------------------------------------
    def to_rle(self) -> list[dict[str, Any]]:
        """COCO run-length encodings, one per mask: ``{"size": [H, W], "counts": str}``.

        The format pycocotools' ``mask.decode`` and COCO annotation files use.
        """
        from pycocotools import mask as mask_utils

        if len(self) == 0:
            return []
        rles = mask_utils.encode(np.asfortranarray(self.masks.transpose(1, 2, 0).astype(np.uint8)))
        out = []
        for r in rles:
            counts = r["counts"]
            out.append(
                {
                    "size": [int(r["size"][0]), int(r["size"][1])],
                    "counts": counts.decode("ascii") if isinstance(counts, bytes) else counts,
                }
            )
        return out

    @classmethod
    def from_rle(
        cls, rles: Iterable[Mapping[str, Any]], scores: Any = None, data: Mapping[str, Any] | None = None
    ) -> Masks:
        """Decode COCO RLEs (compressed string or uncompressed list counts) into ``Masks``."""
        from pycocotools import mask as mask_utils

        rles = list(rles)
        if not rles:
            raise InputError("no RLEs given; use Masks.empty(size) for an empty result")
        decoded = []
        for i, r in enumerate(rles):
            if not isinstance(r, Mapping) or "size" not in r or "counts" not in r:
                raise InputError(f"RLE {i} must be a dict with 'size' [H, W] and 'counts'")
            h, w = (int(v) for v in r["size"])
            counts = r["counts"]
            if isinstance(counts, list):
                rle = mask_utils.frPyObjects({"size": [h, w], "counts": counts}, h, w)
            else:
                rle = {"size": [h, w], "counts": counts.encode("ascii") if isinstance(counts, str) else counts}
            decoded.append(mask_utils.decode(rle).astype(bool))
        sizes = {d.shape for d in decoded}
        if len(sizes) != 1:
            raise InputError(f"RLEs describe different image sizes: {sorted(sizes)}")
        return cls(np.stack(decoded), scores=scores, data=data)

    def to_supervision(self) -> Any:
        """A ``supervision.Detections`` with ``mask``, ``xyxy``, ``confidence`` and ``tracker_id``.

        ``data["prompt_index"]`` carries the prompt of each row and every ``rows`` entry
        travels as a per-row ``data`` array. Needs ``pip install supervision``.
        """
        from .errors import require

        sv = require("supervision", feature="Masks.to_supervision")
        data = {k: v.copy() for k, v in self.rows.items()}
        data["prompt_index"] = self.prompt_index.copy()
        return sv.Detections(
            xyxy=self.boxes.astype(np.float32).reshape(-1, 4),
            mask=self.masks.copy(),
            confidence=self.scores.astype(np.float32),
            tracker_id=None if self.ids is None else self.ids.copy(),
            data=data,
        )

    @classmethod
    def from_supervision(cls, detections: Any) -> Masks:
        """Build from a ``supervision.Detections`` that carries masks.

        Detections with boxes only are prompts, not masks: use
        ``adapters.prompts.boxes_to_prompts`` and segment them.
        """
        mask = getattr(detections, "mask", None)
        if mask is None:
            raise InputError(
                "these Detections have no masks; turn their boxes into prompts with "
                "sam_compose.adapters.prompts.boxes_to_prompts and segment them"
            )
        data = dict(getattr(detections, "data", {}) or {})
        pidx = data.pop("prompt_index", None)
        return cls(
            np.asarray(mask, dtype=bool),
            scores=getattr(detections, "confidence", None),
            boxes=getattr(detections, "xyxy", None),
            prompt_index=pidx,
            ids=getattr(detections, "tracker_id", None),
            data={"adapter": "supervision"},
            rows=data,
        )

    def summary(self) -> list[dict[str, Any]]:
        """Per-mask JSON-friendly facts: score, area, box (and id / prompt index when set)."""
        out = []
        areas = self.areas
        for i in range(len(self)):
            row: dict[str, Any] = {
                "score": round(float(self.scores[i]), 4),
                "area": int(areas[i]),
                "box": [round(float(v), 2) for v in self.boxes[i]],
            }
            if self.prompt_index[i] >= 0:
                row["prompt_index"] = int(self.prompt_index[i])
            if self.ids is not None:
                row["id"] = int(self.ids[i])
            out.append(row)
        return out
