"""The interchange types: one per concept, validated at construction.

* :func:`load_image` -> (H, W, 3) uint8 RGB arrays (see :mod:`sam_compose.image_io`).
* :class:`Prompt` -> what SAM is asked: points, labels, one box, a low-res mask; or, for
  engines with native concepts (SAM 3), a text phrase and exemplar boxes.
* :class:`Masks` -> what SAM answers: parallel arrays of masks, scores, boxes, logits
  (see :mod:`sam_compose.masks`).
* :class:`ImageEmbedding` -> an engine's cached image features.

Coordinates are pixels of the original image: points (x, y), boxes (x0, y0, x1, y1),
sizes (height, width).
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import PromptError
from .geometry import LOWRES_SIZE
from .image_io import load_image
from .masks import Masks

__all__ = ["ImageEmbedding", "Masks", "Prompt", "image_key", "load_image"]


def _as_float_array(value: Any, name: str, shape_hint: str) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise PromptError(f"{name} must be numbers shaped {shape_hint}, got {value!r}") from exc
    return arr


def _boxes_array(value: Any, name: str) -> np.ndarray | None:
    """(K, 4) float32 boxes x0, y0, x1, y1 (one box may be given as 4 numbers); None when empty."""
    b = _as_float_array(value, name, "(K, 4)")
    if b.ndim == 1 and b.shape == (4,):
        b = b[None, :]
    if b.size == 0:
        return None
    if b.ndim != 2 or b.shape[1] != 4:
        raise PromptError(f"{name} must be boxes shaped (K, 4) as [[x0, y0, x1, y1], ...], got shape {b.shape}")
    if not np.isfinite(b).all():
        raise PromptError(f"{name} contain NaN or infinite coordinates")
    bad = np.flatnonzero((b[:, 2] <= b[:, 0]) | (b[:, 3] <= b[:, 1]))
    if bad.size:
        raise PromptError(f"{name}[{bad[0]}] = {b[bad[0]].tolist()} is empty or inverted: need x1 > x0 and y1 > y0")
    return b.astype(np.float32)


class Prompt:
    """One request to the engine: any mix of points, one box and one low-res mask; or a concept.

    Args:
        points: (K, 2) (x, y) pixel coordinates in the original image, or None.
        labels: (K,) 1 = foreground, 0 = background. Defaults to all 1 when points are given.
        box: (4,) x0, y0, x1, y1 pixels with x1 > x0 and y1 > y0, or None.
        mask: (256, 256) float32 low-res logits in SAM's padded frame (see
            :mod:`sam_compose.geometry`), e.g. ``Masks.logits[i]`` of an earlier result or
            the output of ``adapters.prompts.mask_to_prompt``; or None.
        data: provenance, e.g. ``{"adapter": "gaze", "fixation": {...}}``; JSON-friendly.
        text: a noun phrase naming a concept ("cat", "yellow school bus"): engines with native
            concepts (SAM 3) return every instance, one row each. Other engines refuse it
            and say which engines have it (or use ``adapters.prompts.text_to_prompts``).
        exemplars: (E, 4) boxes x0, y0, x1, y1 (pixels) showing examples of the concept, alone
            or with ``text``.
        exemplar_labels: (E,) 1 = an example of the concept, 0 = a counter-example (default 1).

    A prompt needs at least one of points, box, mask, text or exemplars; a concept (text or
    exemplars) cannot be mixed with points, box or mask. It is immutable.
    """

    __slots__ = ("box", "data", "exemplar_labels", "exemplars", "labels", "mask", "points", "text")

    points: np.ndarray | None
    labels: np.ndarray | None
    box: np.ndarray | None
    mask: np.ndarray | None
    data: dict[str, Any]
    text: str | None
    exemplars: np.ndarray | None
    exemplar_labels: np.ndarray | None

    def __init__(
        self,
        points: Any = None,
        labels: Any = None,
        box: Any = None,
        mask: Any = None,
        data: Mapping[str, Any] | None = None,
        text: str | None = None,
        exemplars: Any = None,
        exemplar_labels: Any = None,
    ) -> None:
        txt, ex, ex_lab = _concept(text, exemplars, exemplar_labels)
        pts = lab = bx = mk = None
        if points is not None:
            pts = _as_float_array(points, "points", "(K, 2)")
            if pts.ndim == 1 and pts.shape == (2,):
                pts = pts[None, :]
            if pts.ndim != 2 or pts.shape[1] != 2:
                raise PromptError(f"points must have shape (K, 2) as [[x, y], ...], got shape {pts.shape}")
            if not np.isfinite(pts).all():
                raise PromptError("points contain NaN or infinite coordinates")
            if len(pts) == 0:
                pts = None
        lab = _row_labels(labels, pts, "labels", "point", "points", "1 (foreground) or 0 (background)")
        if box is not None:
            b = _as_float_array(box, "box", "(4,)")
            if b.shape == (1, 4):
                b = b[0]
            if b.shape != (4,):
                raise PromptError(f"box must be 4 numbers x0, y0, x1, y1, got shape {b.shape}")
            if not np.isfinite(b).all():
                raise PromptError("box contains NaN or infinite coordinates")
            if b[2] <= b[0] or b[3] <= b[1]:
                raise PromptError(f"box {b.tolist()} is empty or inverted: need x1 > x0 and y1 > y0 (x0, y0, x1, y1)")
            bx = b.astype(np.float32)
        if mask is not None:
            m = _as_float_array(mask, "mask", f"({LOWRES_SIZE}, {LOWRES_SIZE})")
            if m.ndim == 3 and m.shape[0] == 1:
                m = m[0]
            if m.shape != (LOWRES_SIZE, LOWRES_SIZE):
                raise PromptError(
                    f"Prompt.mask must be SAM low-res logits of shape ({LOWRES_SIZE}, {LOWRES_SIZE}), got "
                    f"{m.shape}; convert a full-size mask with sam_compose.adapters.prompts.mask_to_prompt"
                )
            if not np.isfinite(m).all():
                raise PromptError("Prompt.mask contains NaN or infinite values")
            mk = m.astype(np.float32)
        concept = txt is not None or ex is not None
        if not concept and pts is None and bx is None and mk is None:
            raise PromptError("a prompt needs at least one of points, box, mask, text or exemplars")
        if concept and (pts is not None or bx is not None or mk is not None):
            raise PromptError(
                "a concept prompt (text or exemplars) cannot be mixed with points, box or mask: give the concept's "
                "example boxes as exemplars=[[x0, y0, x1, y1], ...], or make separate prompts"
            )
        object.__setattr__(self, "points", None if pts is None else pts.astype(np.float32))
        object.__setattr__(self, "labels", lab)
        object.__setattr__(self, "box", bx)
        object.__setattr__(self, "mask", mk)
        object.__setattr__(self, "data", dict(data or {}))
        object.__setattr__(self, "text", txt)
        object.__setattr__(self, "exemplars", ex)
        object.__setattr__(self, "exemplar_labels", ex_lab)
        for arr in (self.points, self.labels, self.box, self.mask, self.exemplars, self.exemplar_labels):
            if arr is not None:
                arr.setflags(write=False)

    @property
    def is_concept(self) -> bool:
        """True for a concept prompt (text and/or exemplar boxes): every instance is wanted."""
        return self.text is not None or self.exemplars is not None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Prompt is immutable; use Prompt.replace(...) for a changed copy")

    def replace(self, **changes: Any) -> Prompt:
        """A copy with some fields changed, e.g. ``p.replace(mask=res.logits[0])``."""
        kw = {k: getattr(self, k) for k in self.__slots__}
        kw.update(changes)
        return Prompt(**kw)

    def validate_for(self, size: tuple[int, int]) -> Prompt:
        """Check the prompt against an image of ``size`` (H, W) and return it (box clipped).

        Points must lie inside the image. A box must overlap it; a box partly outside is
        clipped with a warning.
        """
        h, w = int(size[0]), int(size[1])
        if self.points is not None:
            bad = (self.points[:, 0] < 0) | (self.points[:, 0] > w) | (self.points[:, 1] < 0) | (self.points[:, 1] > h)
            if bad.any():
                x, y = self.points[np.flatnonzero(bad)[0]]
                raise PromptError(f"point ({x:g}, {y:g}) lies outside the {w}x{h} image (x in 0..{w}, y in 0..{h})")
        if self.box is not None:
            x0, y0, x1, y1 = (float(v) for v in self.box)
            if x1 <= 0 or y1 <= 0 or x0 >= w or y0 >= h:
                raise PromptError(f"box [{x0:g}, {y0:g}, {x1:g}, {y1:g}] lies outside the {w}x{h} image")
            cx0, cy0, cx1, cy1 = max(x0, 0.0), max(y0, 0.0), min(x1, float(w)), min(y1, float(h))
            if (cx0, cy0, cx1, cy1) != (x0, y0, x1, y1):
                warnings.warn(
                    f"box [{x0:g}, {y0:g}, {x1:g}, {y1:g}] extends past the {w}x{h} image; clipped to "
                    f"[{cx0:g}, {cy0:g}, {cx1:g}, {cy1:g}]",
                    stacklevel=2,
                )
                return self.replace(box=[cx0, cy0, cx1, cy1])
        if self.exemplars is not None:
            ex = self.exemplars.astype(np.float64)
            outside = (ex[:, 2] <= 0) | (ex[:, 3] <= 0) | (ex[:, 0] >= w) | (ex[:, 1] >= h)
            if outside.any():
                i = int(np.flatnonzero(outside)[0])
                raise PromptError(
                    f"exemplar box {i} {ex[i].tolist()} lies outside the {w}x{h} image; "
                    "exemplars must overlap the image"
                )
            clipped = np.clip(ex, 0.0, [w, h, w, h])
            if not np.array_equal(clipped, ex):
                warnings.warn(f"exemplar boxes extend past the {w}x{h} image; clipped to it", stacklevel=2)
                return self.replace(exemplars=clipped)
        return self

    def to_dict(self, include_mask: bool = False) -> dict[str, Any]:
        """JSON-friendly form; the 256x256 mask is summarised unless ``include_mask``."""
        out: dict[str, Any] = {}
        if self.points is not None:
            out["points"] = self.points.tolist()
            out["labels"] = self.labels.tolist() if self.labels is not None else None
        if self.box is not None:
            out["box"] = self.box.tolist()
        if self.mask is not None:
            out["mask"] = self.mask.tolist() if include_mask else f"<{LOWRES_SIZE}x{LOWRES_SIZE} logits>"
        if self.text is not None:
            out["text"] = self.text
        if self.exemplars is not None:
            out["exemplars"] = self.exemplars.tolist()
            out["exemplar_labels"] = self.exemplar_labels.tolist() if self.exemplar_labels is not None else None
        if self.data:
            out["data"] = jsonable(self.data)
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Prompt:
        """Inverse of :meth:`to_dict` (with ``include_mask=True``); also reads ``{"point": [x, y]}``."""
        if not isinstance(d, Mapping):
            raise PromptError(f'a prompt must be a JSON object like {{"points": [[x, y]], "labels": [1]}}, got {d!r}')
        fields = {"points", "labels", "box", "mask", "data", "point", "text", "exemplars", "exemplar_labels"}
        unknown = set(d) - fields
        if unknown:
            raise PromptError(
                f"unknown prompt field(s) {sorted(unknown)}; use points, labels, box, mask, text, "
                "exemplars, exemplar_labels, data"
            )
        points = d.get("points")
        if points is None and d.get("point") is not None:
            points = [d["point"]]
        mask = d.get("mask")
        if isinstance(mask, str):
            raise PromptError("the prompt's mask is a summary string, not logits; export it with include_mask=True")
        return cls(
            points=points,
            labels=d.get("labels"),
            box=d.get("box"),
            mask=mask,
            data=d.get("data"),
            text=d.get("text"),
            exemplars=d.get("exemplars"),
            exemplar_labels=d.get("exemplar_labels"),
        )

    def __repr__(self) -> str:
        parts = []
        if self.points is not None:
            parts.append(
                f"points={self.points.tolist()}, labels={None if self.labels is None else self.labels.tolist()}"
            )
        if self.box is not None:
            parts.append(f"box={self.box.tolist()}")
        if self.mask is not None:
            parts.append("mask=<256x256>")
        if self.text is not None:
            parts.append(f"text={self.text!r}")
        if self.exemplars is not None:
            labels = None if self.exemplar_labels is None else self.exemplar_labels.tolist()
            parts.append(f"exemplars={self.exemplars.tolist()}, exemplar_labels={labels}")
        if self.data:
            parts.append(f"data={self.data!r}")
        return f"Prompt({', '.join(parts)})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Prompt):
            return NotImplemented
        for k in ("points", "labels", "box", "mask", "exemplars", "exemplar_labels"):
            a, b = getattr(self, k), getattr(other, k)
            if (a is None) != (b is None) or (a is not None and not np.array_equal(a, b)):
                return False
        return self.text == other.text and self.data == other.data

    # __eq__ without __hash__: Python leaves Prompt unhashable (it holds mutable arrays)


def _row_labels(
    labels: Any, rows: np.ndarray | None, name: str, row: str, rows_name: str, meaning: str
) -> np.ndarray | None:
    """(K,) int64 0/1 labels, one per row of ``rows`` (K, ...); all 1 when ``labels`` is None;
    None when there are no rows. ``name``, ``row``, ``rows_name`` and ``meaning`` word the errors."""
    if labels is not None:
        lab_f = _as_float_array(labels, name, "(K,)").reshape(-1)
        if rows is None:
            if lab_f.size:
                raise PromptError(f"{lab_f.size} {name} given but no {rows_name}")
            return None
        if lab_f.shape[0] != rows.shape[0]:
            raise PromptError(
                f"{name} must have one entry per {row}: {rows.shape[0]} {rows_name}, {lab_f.shape[0]} labels"
            )
        if not np.isin(lab_f, (0, 1)).all():
            raise PromptError(f"{name} must be {meaning}, got {lab_f.tolist()}")
        return lab_f.astype(np.int64)
    return None if rows is None else np.ones(len(rows), dtype=np.int64)


def _concept(text: Any, exemplars: Any, labels: Any) -> tuple[str | None, np.ndarray | None, np.ndarray | None]:
    """Validated (text, exemplar boxes (E, 4), exemplar labels (E,)) of a prompt."""
    txt = None
    if text is not None:
        if not isinstance(text, str):
            raise PromptError(
                f"text must be one phrase (a string), got {type(text).__name__}; for several phrases "
                "make one prompt each: [Prompt(text=t) for t in phrases]"
            )
        txt = " ".join(text.split())
        if not txt:
            raise PromptError("text is empty; give a phrase naming what to segment, e.g. Prompt(text='cat')")
        from .security import limits

        limits.check("text_chars", len(txt), "prompt text", "concept models read a short noun phrase")
    ex = None if exemplars is None else _boxes_array(exemplars, "exemplars")
    if ex is not None:
        from .security import limits

        limits.check("exemplars", len(ex), "prompt exemplars", "give a few example boxes")
    lab = _row_labels(labels, ex, "exemplar_labels", "exemplar box", "exemplars", "1 (example) or 0 (counter-example)")
    return txt, ex, lab


def jsonable(value: Any) -> Any:
    """A JSON-friendly copy: numpy arrays become lists, numpy scalars Python numbers."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def as_prompt_list(
    prompts: Prompt | Mapping[str, Any] | Sequence[Prompt | Mapping[str, Any]],
) -> list[Prompt]:
    """Normalise one prompt or a sequence of prompts (or their dicts) to a non-empty list, checking types."""
    if isinstance(prompts, Prompt):
        return [prompts]
    if isinstance(prompts, Mapping):
        return [Prompt.from_dict(prompts)]
    try:
        items = list(prompts)
    except TypeError as exc:
        raise PromptError(f"expected a Prompt or a list of Prompts, got {type(prompts).__name__}") from exc
    out: list[Prompt] = []
    for i, p in enumerate(items):
        if isinstance(p, Prompt):
            out.append(p)
        elif isinstance(p, Mapping):
            out.append(Prompt.from_dict(p))
        else:
            raise PromptError(f"prompt {i} is a {type(p).__name__}, expected a Prompt")
    if not out:
        raise PromptError("no prompts given: pass at least one Prompt")
    return out


def image_key(image: np.ndarray) -> str:
    """Content hash of an image array (shape and bytes): the embedding cache's key."""
    h = hashlib.blake2b(digest_size=16)
    h.update(str(image.shape).encode())
    h.update(str(image.dtype).encode())
    h.update(np.ascontiguousarray(image).data)
    return h.hexdigest()


@dataclass(frozen=True, eq=False)
class ImageEmbedding:
    """An engine's features for one image, computed once and cached.

    Attributes:
        features: engine-specific payload (torch tensors for SAM, arrays for OpenCV).
        image_size: (H, W) of the original image.
        input_size: (h, w) of the image inside the model's input frame (after resizing).
        engine: the key of the engine that computed it; embeddings do not cross engines.
        image_key: content hash of the image (:func:`image_key`).
        nbytes: memory held by ``features``, for the cache's byte budget.
    """

    features: Any
    image_size: tuple[int, int]
    input_size: tuple[int, int]
    engine: str
    image_key: str
    nbytes: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
