"""Detector boxes as SAM prompts: ``boxes_to_prompts``.

Every source becomes one :class:`~sam_compose.types.Prompt` per box (x0, y0, x1, y1
pixels of the original image), in the order the source lists them, with the box's
provenance in ``Prompt.data``: ``adapter="boxes"``, ``format``, ``index`` (row in the
source), and ``score``, ``class_id``, ``class_name`` when the source has them. Segment
them all in one engine call: ``engine.segment(image, prompts)``.

Sources:

* arrays (N, 4) or (4,) (numpy, lists, torch tensors) in ``format`` ``"xyxy"`` (default),
  ``"xywh"`` (top-left corner, width, height) or ``"cxcywh"`` (centre, width, height),
  in pixels or normalised to [0, 1] (``normalized=True``; auto-detected otherwise);
* COCO: an annotation list (``[{"bbox": [x, y, w, h], "category_id": ..}, ...]``, also the
  results format with ``"score"``), a dataset dict (``images``, ``annotations``,
  ``categories``) or a ``.json`` file; pick the image with ``image_id`` (an id or a file name);
* YOLO ``.txt`` label files: ``class cx cy w h [confidence]`` per line, normalised;
* Pascal VOC ``.xml`` annotation files (``bndbox`` xmin/ymin/xmax/ymax as written);
* ``supervision.Detections`` (``xyxy``, ``confidence``, ``class_id``, ``data["class_name"]``);
* transformers ``post_process_object_detection`` / ``post_process_grounded_object_detection``
  outputs and torchvision detection outputs: a dict with ``boxes`` (xyxy), ``scores``,
  ``labels`` (ids or strings), or a one-element list of them.

Filters: ``min_score`` and ``classes`` (names or ids). Boxes partly outside the image are
clipped with a warning; zero-area or inverted boxes raise :class:`PromptError`.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ...errors import PromptError
from ...types import Prompt

if TYPE_CHECKING:
    from xml.etree.ElementTree import Element

__all__ = ["BOX_FORMATS", "box_iou", "boxes_to_prompts", "convert_boxes"]

BOX_FORMATS = ("xyxy", "xywh", "cxcywh")


@dataclass
class _Parsed:
    """Boxes read from a source, before scaling, filtering and validation."""

    boxes: np.ndarray  # (N, 4) in ``fmt``
    fmt: str = "xyxy"
    source: str = "array"
    normalized: bool | None = None  # None: decide from the values
    scores: np.ndarray | None = None
    class_ids: list[int | None] | None = None
    class_names: list[str | None] | None = None
    extra: list[dict[str, Any]] = field(default_factory=list)
    image_size: tuple[int, int] | None = None  # (H, W) from the file, when it says


def _numpy(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):
        value = value.detach().cpu()
        if str(getattr(value, "dtype", "")) == "torch.bfloat16":
            value = value.float()
        value = value.numpy()
    return np.asarray(value)


def convert_boxes(boxes: Any, fmt: str = "xyxy") -> np.ndarray:
    """(N, 4) boxes in ``fmt`` (xyxy, xywh, cxcywh) -> (N, 4) float64 xyxy, same units."""
    if fmt not in BOX_FORMATS:
        raise PromptError(f"unknown box format {fmt!r}; use one of {', '.join(BOX_FORMATS)}")
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4).copy()
    if fmt == "xywh":
        b[:, 2:] += b[:, :2]
    elif fmt == "cxcywh":
        c, wh = b[:, :2].copy(), b[:, 2:].copy()
        b[:, :2] = c - wh / 2
        b[:, 2:] = c + wh / 2
    return b


def box_iou(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> float:
    """Intersection over union of two xyxy boxes (any units); 0.0 when the union is empty."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


# --- readers ---------------------------------------------------------------------------
def _from_array(value: Any, fmt: str) -> _Parsed:
    try:
        arr = _numpy(value).astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise PromptError(f"boxes must be numbers shaped (N, 4), got {type(value).__name__}") from exc
    if arr.ndim == 1 and arr.shape[0] == 4:
        arr = arr[None]
    if arr.size == 0:
        arr = arr.reshape(0, 4)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise PromptError(f"boxes must have shape (N, 4) ({fmt}), got {arr.shape}")
    return _Parsed(arr, fmt=fmt)


def _label_list(labels: Any, n: int) -> tuple[list[int | None] | None, list[str | None] | None]:
    if labels is None:
        return None, None
    if isinstance(labels, (list, tuple)) and labels and isinstance(labels[0], str):
        if len(labels) != n:
            raise PromptError(f"{len(labels)} labels for {n} boxes")
        return [None] * n, [str(v) for v in labels]
    arr = _numpy(labels).reshape(-1)
    if arr.shape[0] != n:
        raise PromptError(f"{arr.shape[0]} labels for {n} boxes")
    if arr.dtype.kind in "US":
        return [None] * n, [str(v) for v in arr]
    return [int(v) for v in arr], None


def _from_detector_dict(d: Mapping[str, Any], fmt: str) -> _Parsed:
    parsed = _from_array(d["boxes"], fmt)
    n = len(parsed.boxes)
    parsed.source = "detector"
    if d.get("scores") is not None:
        s = _numpy(d["scores"]).astype(np.float64).reshape(-1)
        if s.shape[0] != n:
            raise PromptError(f"detector output has {n} boxes but {s.shape[0]} scores")
        parsed.scores = s
    ids, names = _label_list(d.get("labels"), n)
    text = d.get("text_labels")
    if text is not None:
        _, names = _label_list(list(text), n)
    parsed.class_ids, parsed.class_names = ids, names
    return parsed


def _from_supervision(det: Any) -> _Parsed:
    parsed = _from_array(det.xyxy, "xyxy")
    n = len(parsed.boxes)
    parsed.source = "supervision"
    if getattr(det, "confidence", None) is not None:
        parsed.scores = np.asarray(det.confidence, dtype=np.float64).reshape(-1)
    if getattr(det, "class_id", None) is not None:
        parsed.class_ids = [int(v) for v in np.asarray(det.class_id).reshape(-1)]
    names = (getattr(det, "data", None) or {}).get("class_name")
    if names is not None and len(names) == n:
        parsed.class_names = [str(v) for v in names]
    return parsed


def _coco_image_size(images: Iterable[Mapping[str, Any]], image_id: Any) -> tuple[int, int] | None:
    for im in images:
        if im.get("id") == image_id and "height" in im and "width" in im:
            return int(im["height"]), int(im["width"])
    return None


def _from_coco(data: Any, image_id: Any, where: str) -> _Parsed:
    images: list[Mapping[str, Any]] = []
    categories: dict[int, str] = {}
    if isinstance(data, Mapping):
        if "annotations" not in data:
            raise PromptError(f"{where} is not a COCO dataset: it has no 'annotations' list")
        anns = list(data.get("annotations") or [])
        images = list(data.get("images") or [])
        categories = {int(c["id"]): str(c.get("name", c["id"])) for c in data.get("categories") or [] if "id" in c}
    else:
        anns = list(data)
    if not anns:
        raise PromptError(f"{where} has no annotations: there are no boxes to prompt with")
    if isinstance(image_id, str):  # a file name: find its id
        wanted = [
            im.get("id")
            for im in images
            if str(im.get("file_name")) == image_id
            or os.path.basename(str(im.get("file_name"))) == os.path.basename(image_id)
        ]
        if not wanted:
            names = [im.get("file_name") for im in images][:5]
            raise PromptError(f"{where} lists no image named {image_id!r} (first names: {names})")
        image_id = wanted[0]
    for i, a in enumerate(anns):
        if not isinstance(a, Mapping) or "bbox" not in a:
            raise PromptError(f"{where}: annotation {i} has no 'bbox' [x, y, width, height]")
    ids_present = sorted({a.get("image_id") for a in anns}, key=lambda v: (str(type(v)), v))
    if image_id is None:
        if len(ids_present) > 1:
            raise PromptError(
                f"{where} annotates {len(ids_present)} images; choose one with image_id= "
                f"(an id such as {ids_present[0]!r}, or a file name)"
            )
        image_id = ids_present[0]
    selected = [a for a in anns if a.get("image_id") == image_id]
    size = _coco_image_size(images, image_id)
    if not selected:
        warnings.warn(f"{where}: image {image_id!r} has no annotations; no box prompts", stacklevel=3)
    bbox = np.asarray([a["bbox"] for a in selected], dtype=np.float64).reshape(-1, 4) if selected else np.zeros((0, 4))
    parsed = _Parsed(bbox, fmt="xywh", source="coco", normalized=False, image_size=size)
    if selected and all("score" in a for a in selected):
        parsed.scores = np.asarray([a["score"] for a in selected], dtype=np.float64)
    if selected and any("category_id" in a for a in selected):
        parsed.class_ids = [None if a.get("category_id") is None else int(a["category_id"]) for a in selected]
        if categories:
            parsed.class_names = [categories.get(c) if c is not None else None for c in parsed.class_ids]
    parsed.extra = [
        {
            "image_id": image_id,
            **({"annotation_id": a["id"]} if "id" in a else {}),
            **({"iscrowd": int(a["iscrowd"])} if "iscrowd" in a else {}),
        }
        for a in selected
    ]
    return parsed


def _read_coco_file(path: Path, image_id: Any) -> _Parsed:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PromptError(f"{path} is not valid JSON: {exc}") from exc
    return _from_coco(data, image_id, str(path))


def _read_yolo(path: Path) -> _Parsed:
    rows: list[list[float]] = []
    scores: list[float | None] = []
    ids: list[int | None] = []
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise PromptError(f"{path} is not a text file of YOLO labels") from exc
    for lineno, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        try:
            vals = [float(p) for p in parts]
        except ValueError:
            vals = []
        if len(vals) not in (5, 6) or not float(vals[0]).is_integer() or not np.isfinite(vals).all():
            raise PromptError(
                f"{path}, line {lineno}: expected 'class cx cy w h [confidence]' (class an integer, "
                f"coordinates normalised to 0..1), got {line!r}"
            )
        if max(vals[1:5]) > 1.5 or min(vals[1:5]) < -0.5:
            raise PromptError(f"{path}, line {lineno}: YOLO coordinates must be normalised to 0..1, got {line!r}")
        ids.append(int(vals[0]))
        rows.append(vals[1:5])
        scores.append(vals[5] if len(vals) == 6 else None)
    parsed = _Parsed(np.asarray(rows, dtype=np.float64).reshape(-1, 4), fmt="cxcywh", source="yolo", normalized=True)
    parsed.class_ids = ids
    if scores and all(s is not None for s in scores):
        parsed.scores = np.asarray(scores, dtype=np.float64)
    return parsed


def _voc_size(sz: Element | None) -> tuple[int, int] | None:
    """(H, W) from a VOC ``<size>`` element; None when it is missing, not numeric or not positive."""
    if sz is None:
        return None
    try:
        size = (int(float(sz.findtext("height") or "")), int(float(sz.findtext("width") or "")))
    except (ValueError, OverflowError):
        return None
    return size if min(size) > 0 else None


def _read_voc(path: Path) -> _Parsed:
    import xml.etree.ElementTree as ET

    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise PromptError(f"{path} is not valid Pascal VOC XML: {exc}") from exc
    if root.tag != "annotation":
        raise PromptError(f"{path} is not a Pascal VOC annotation (root <{root.tag}>, expected <annotation>)")
    size = _voc_size(root.find("size"))
    rows: list[list[float]] = []
    names: list[str | None] = []
    extra: list[dict[str, Any]] = []
    for i, obj in enumerate(root.findall("object")):
        bb = obj.find("bndbox")
        try:
            if bb is None:
                raise ValueError("no <bndbox>")
            rows.append([float(bb.findtext(k) or "") for k in ("xmin", "ymin", "xmax", "ymax")])
        except ValueError as exc:
            raise PromptError(f"{path}: <object> {i} has no valid <bndbox> with xmin, ymin, xmax, ymax") from exc
        names.append((obj.findtext("name") or "").strip() or None)
        extra.append({"difficult": int(float(obj.findtext("difficult") or 0))})
    parsed = _Parsed(np.asarray(rows, dtype=np.float64).reshape(-1, 4), source="voc", normalized=False, image_size=size)
    parsed.class_names = names
    parsed.extra = extra
    return parsed


def _read(source: Any, fmt: str, image_id: Any) -> _Parsed:
    if isinstance(source, (str, os.PathLike)):
        path = Path(os.fspath(source)).expanduser()
        if not path.is_file():
            raise PromptError(f"box file not found: {path}")
        suffix = path.suffix.lower()
        if suffix == ".json":
            return _read_coco_file(path, image_id)
        if suffix == ".txt":
            return _read_yolo(path)
        if suffix == ".xml":
            return _read_voc(path)
        raise PromptError(f"unknown box file type {path.name!r}: use COCO .json, YOLO .txt or Pascal VOC .xml")
    if hasattr(source, "xyxy") and not isinstance(source, np.ndarray):
        return _from_supervision(source)
    if isinstance(source, Mapping):
        if "boxes" in source:
            return _from_detector_dict(source, fmt)
        if "annotations" in source:
            return _from_coco(source, image_id, "COCO dataset")
        if "bbox" in source:
            return _from_coco([source], image_id, "COCO annotation")
        raise PromptError(
            f"cannot read boxes from a dict with keys {sorted(map(str, source))[:8]}: expected a detector output "
            "('boxes', 'scores', 'labels'), a COCO dataset ('annotations') or annotation ('bbox')"
        )
    if isinstance(source, (list, tuple)) and source and isinstance(source[0], Mapping):
        if all("bbox" in a for a in source if isinstance(a, Mapping)):
            return _from_coco(source, image_id, "COCO annotation list")
        if "boxes" in source[0]:
            if len(source) != 1:
                raise PromptError(
                    f"this detector output holds {len(source)} images; pass one image's result, e.g. results[0]"
                )
            return _from_detector_dict(source[0], fmt)
    return _from_array(source, fmt)


# --- the adapter -----------------------------------------------------------------------
def _looks_normalized(xyxy: np.ndarray) -> bool:
    return len(xyxy) > 0 and float(np.abs(xyxy).max()) <= 1.0 + 1e-6


def _names_from(class_names: Any) -> dict[int, str]:
    if class_names is None:
        return {}
    if isinstance(class_names, (str, os.PathLike)):
        import yaml

        path = Path(os.fspath(class_names))
        if not path.is_file():
            raise PromptError(f"class names file not found: {path} (give a list, a dict or a YOLO data.yaml)")
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        class_names = doc.get("names") if isinstance(doc, Mapping) else doc
        if class_names is None:
            raise PromptError(f"{path} has no 'names' entry")
    if isinstance(class_names, Mapping):
        return {int(k): str(v) for k, v in class_names.items()}
    return {i: str(v) for i, v in enumerate(class_names)}


def boxes_to_prompts(
    source: Any,
    *,
    format: str = "xyxy",
    normalized: bool | None = None,
    image_size: tuple[int, int] | None = None,
    min_score: float | None = None,
    classes: Iterable[int | str] | None = None,
    class_names: Sequence[str] | Mapping[int, str] | str | os.PathLike | None = None,
    image_id: int | str | None = None,
) -> list[Prompt]:
    """Boxes from a detector, an annotation file or an array -> one :class:`Prompt` per box.

    Args:
        source: see the module docstring (arrays, COCO, YOLO, VOC, supervision, detector outputs).
        format: layout of array and detector-dict boxes: ``"xyxy"``, ``"xywh"`` or ``"cxcywh"``.
            Files and COCO/supervision sources know their own layout.
        normalized: True when coordinates are fractions of the image (0..1), False for
            pixels, None to decide: boxes whose coordinates all lie in [0, 1] are taken as
            normalised, with a warning (pass ``normalized=False`` to keep them as pixels).
        image_size: (H, W) of the image. Needed for normalised boxes (YOLO) and to clip;
            COCO and VOC files supply it when they record it.
        min_score: keep boxes whose score is at least this.
        classes: keep boxes whose class id or class name is listed.
        class_names: id -> name (a list, a dict such as ``model.config.id2label``, or a YOLO
            ``data.yaml``); names end up in ``Prompt.data["class_name"]``.
        image_id: for COCO sources with several images: the image id or file name.

    Returns:
        list of ``Prompt(box=[x0, y0, x1, y1])`` in pixels; empty (with a warning) when the
        filters keep nothing.

    Raises:
        PromptError: unreadable source, malformed line, zero-area or inverted box, a box
            entirely outside the image, normalised boxes without ``image_size``.
    """
    if format not in BOX_FORMATS:
        raise PromptError(f"unknown box format {format!r}; use one of {', '.join(BOX_FORMATS)}")
    parsed = _read(source, format, image_id)
    size = None
    if image_size is not None:
        if len(tuple(image_size)) != 2 or min(int(v) for v in image_size) <= 0:
            raise PromptError(f"image_size must be (H, W) with positive sides, got {image_size}")
        size = (int(image_size[0]), int(image_size[1]))
    elif parsed.image_size is not None:
        size = parsed.image_size
    xyxy = convert_boxes(parsed.boxes, parsed.fmt)
    n = len(xyxy)
    if not np.isfinite(xyxy).all():
        bad = int(np.flatnonzero(~np.isfinite(xyxy).all(axis=1))[0])
        raise PromptError(f"box {bad} has NaN or infinite coordinates: {parsed.boxes[bad].tolist()}")

    # which rows survive the filters
    keep = np.ones(n, dtype=bool)
    names_map = _names_from(class_names)
    ids = parsed.class_ids if parsed.class_ids is not None else [None] * n
    names = list(parsed.class_names) if parsed.class_names is not None else [None] * n
    names = [nm if nm is not None else (names_map.get(i) if i is not None else None) for nm, i in zip(names, ids)]
    if min_score is not None:
        if parsed.scores is None:
            raise PromptError(f"min_score={min_score} given but the {parsed.source} boxes carry no scores")
        keep &= parsed.scores >= float(min_score)
    if classes is not None:
        wanted = set()
        for c in [classes] if isinstance(classes, (str, int)) else classes:
            wanted.add(str(c).strip().lower() if isinstance(c, str) else int(c))
        keep &= np.asarray(
            [(i in wanted) or (nm is not None and nm.strip().lower() in wanted) for i, nm in zip(ids, names)],
            dtype=bool,
        )

    # units
    norm = normalized if normalized is not None else parsed.normalized
    looks = _looks_normalized(xyxy[keep])
    if norm is None and looks and size is not None and max(size) > 2:
        warnings.warn(
            f"boxes look normalised (every coordinate is within 0..1) but no units were given; "
            f"scaling them to the {size[1]}x{size[0]} image. Pass normalized=True to silence this or "
            "normalized=False if they really are pixels",
            stacklevel=2,
        )
        norm = True
    elif norm is None and looks:
        raise PromptError(
            "boxes look normalised (every coordinate is within 0..1): pass image_size=(H, W) to scale "
            "them to pixels, or normalized=False if they really are pixels"
        )
    elif norm is False and looks and size is not None and max(size) > 2 and parsed.source not in ("coco", "voc"):
        warnings.warn(
            f"boxes look normalised (every coordinate is within 0..1) but normalized=False; they are "
            f"tiny boxes in the {size[1]}x{size[0]} image. Pass normalized=True if they are fractions",
            stacklevel=2,
        )
    if norm:
        if size is None:
            raise PromptError(f"{parsed.source} boxes are normalised: pass image_size=(H, W) to turn them into pixels")
        xyxy = xyxy * np.array([size[1], size[0], size[1], size[0]], dtype=np.float64)

    prompts: list[Prompt] = []
    clipped = 0
    for i in np.flatnonzero(keep):
        x0, y0, x1, y1 = (float(v) for v in xyxy[i])
        if x1 <= x0 or y1 <= y0:
            hint = (
                ""
                if parsed.fmt != "xyxy" or parsed.source != "array"
                else " (if these are [x, y, width, height] boxes pass format='xywh')"
            )
            what = "zero-area" if (x1 == x0 or y1 == y0) else "inverted"
            raise PromptError(
                f"box {i} {parsed.boxes[i].tolist()} ({parsed.fmt}) is {what}: need x1 > x0 and y1 > y0{hint}"
            )
        if size is not None:
            h, w = size
            if x1 <= 0 or y1 <= 0 or x0 >= w or y0 >= h:
                raise PromptError(f"box {i} [{x0:g}, {y0:g}, {x1:g}, {y1:g}] lies entirely outside the {w}x{h} image")
            inside = (max(x0, 0.0), max(y0, 0.0), min(x1, float(w)), min(y1, float(h)))
            if inside != (x0, y0, x1, y1):
                clipped += 1
                x0, y0, x1, y1 = inside
        data: dict[str, Any] = {"adapter": "boxes", "format": parsed.source, "index": int(i)}
        if parsed.scores is not None:
            data["score"] = float(parsed.scores[i])
        class_id = ids[i]
        if class_id is not None:
            data["class_id"] = int(class_id)
        if names[i] is not None:
            data["class_name"] = names[i]
        if parsed.extra:
            data.update(parsed.extra[i])
        prompts.append(Prompt(box=[x0, y0, x1, y1], data=data))
    if clipped and size is not None:  # only boxes in an image of known size are clipped
        warnings.warn(f"{clipped} box(es) extend past the {size[1]}x{size[0]} image; clipped to it", stacklevel=2)
    if not prompts and n:
        warnings.warn(f"no box passed the filters (min_score={min_score}, classes={classes}) out of {n}", stacklevel=2)
    return prompts
