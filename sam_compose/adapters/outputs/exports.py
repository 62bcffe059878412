"""Exporting masks in the formats other tools read.

``export_masks(masks, path, format=...)`` writes one of:

* ``"coco"``: a COCO JSON file (info, images, categories, annotations with RLE or polygon
  segmentation, xywh bbox, area, score) that ``pycocotools.coco.COCO`` loads and
  ``COCOeval`` evaluates (options: ``file_name``, ``image_id``, ``category``,
  ``categories``, ``segmentation="rle"|"polygon"``);
* ``"png"``: one 0/255 PNG per mask in the folder ``path`` (``mask_0.png``, ...) and, with
  ``label_map=True``, ``labels.png`` (0 = background, i + 1 = mask i; 16-bit past 255 masks);
* ``"polygons"``: JSON with each mask's outer contours as flat ``[x0, y0, x1, y1, ...]``
  lists (OpenCV ``findContours``; pixel-edge coordinates like COCO);
* ``"supervision"``: an ``.npz`` holding a ``supervision.Detections`` (``xyxy``, ``mask``,
  ``confidence``, ``class_id``, ``tracker_id``, ``class_name``); :func:`load_detections`
  reads it back;
* ``"record"``: a JSON record of the result's provenance: engine, adapter, prompts, per
  mask score/box/area/RLE, sam_compose version, time; :func:`read_record` reads it back.

Class names for COCO categories come from ``categories``/``category`` or, per row, from
``masks.data["class_names"]`` or the prompt's ``data`` (``class_name``, ``label``,
``category`` or ``text``), as the box and text prompt adapters set them.
"""

from __future__ import annotations

import inspect
import json
import os
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import InputError, require
from ...image_io import save_png
from ...masks import Masks
from ...security.atomic import atomic_path, staged_output

FORMATS = ("coco", "png", "polygons", "supervision", "record")
_CLASS_KEYS = ("class_name", "label", "category", "text")


def _is_json(v: Any) -> bool:
    try:
        json.dumps(v)
        return True
    except (TypeError, ValueError):
        return False


def _write_atomic(path: Path, text: str) -> Path:
    with atomic_path(path) as tmp:  # a unique temporary sibling: never a half-written file
        tmp.write_text(text)
    return path


def class_names(masks: Masks, default: str = "object") -> list[str]:
    """One class name per mask row: ``data["class_names"]``, then the prompt's data, then ``default``."""
    given = masks.data.get("class_names")
    if given is not None and len(given) == len(masks):
        return [str(c) for c in given]
    out = []
    for i in range(len(masks)):
        name = default
        prompt = masks.prompt_of(i)
        pdata = getattr(prompt, "data", None) or {}
        for key in _CLASS_KEYS:
            if isinstance(pdata.get(key), str) and pdata[key].strip():
                name = pdata[key].strip()
                break
        out.append(name)
    return out


def mask_to_polygons(mask: np.ndarray, *, tolerance: float = 0.0, min_points: int = 3) -> list[list[float]]:
    """Outer contours of a (H, W) bool mask as flat ``[x0, y0, x1, y1, ...]`` lists.

    Coordinates are on pixel edges (pixel (u, v) spans u..u+1), the convention of COCO
    polygons, so ``pycocotools.mask.frPyObjects`` rasterises them back to nearly the same
    mask. ``tolerance`` > 0 simplifies with ``cv2.approxPolyDP`` (pixels). Holes are not
    represented (use RLE for masks with holes).
    """
    import cv2

    m = np.ascontiguousarray(np.asarray(mask, dtype=bool).astype(np.uint8))
    if m.ndim != 2:
        raise InputError(f"mask must be (H, W), got shape {m.shape}")
    contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    polys = []
    for c in contours:
        if tolerance > 0:
            c = cv2.approxPolyDP(c, float(tolerance), True)
        pts = c.reshape(-1, 2).astype(np.float64)
        if len(pts) < min_points:
            # a one- or two-pixel sliver: use its pixel box so it is not lost
            x0, y0 = pts.min(axis=0)
            x1, y1 = pts.max(axis=0) + 1.0
            polys.append([x0, y0, x1, y0, x1, y1, x0, y1])
            continue
        polys.append(_outline(pts, m).reshape(-1).round(2).tolist())
    return [[float(v) for v in p] for p in polys]


def _outline(pts: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Move contour points (pixel centres) half a pixel outward, onto the pixel edges."""
    centre = pts.mean(axis=0)
    h, w = m.shape
    d = pts - centre
    n = np.linalg.norm(d, axis=1, keepdims=True)
    n[n == 0] = 1.0
    out = pts + 0.5 + 0.5 * np.sign(np.round(d / n, 1))
    out[:, 0] = np.clip(out[:, 0], 0, w)
    out[:, 1] = np.clip(out[:, 1], 0, h)
    return out


def coco_dict(
    masks: Masks,
    file_name: str = "image.png",
    image_id: int = 1,
    category: str = "object",
    *,
    categories: Sequence[str] | None = None,
    segmentation: str = "rle",
    tolerance: float = 0.0,
) -> dict[str, Any]:
    """A COCO dataset dict for one image; RLE counts are strings, bboxes are x, y, w, h.

    ``categories`` fixes the category list (ids 1..K in that order); otherwise it is built
    from the class names of the rows (see :func:`class_names`) with ``category`` as default.
    ``segmentation="polygon"`` writes polygons (:func:`mask_to_polygons`) instead of RLE.
    """
    if not isinstance(masks, Masks):
        raise InputError(f"coco_dict needs a Masks result, got {type(masks).__name__}")
    if segmentation not in ("rle", "polygon"):
        raise InputError(f"segmentation must be 'rle' or 'polygon', got {segmentation!r}")
    h, w = masks.image_size
    names = class_names(masks, default=category)
    cats = list(categories) if categories is not None else list(dict.fromkeys(names or [category]))
    cat_id = {c: i + 1 for i, c in enumerate(cats)}
    unknown = sorted(set(names) - set(cat_id))
    if unknown:
        raise InputError(f"masks have class names {unknown} missing from categories {cats}; add them")
    anns = []
    rles = masks.to_rle() if segmentation == "rle" else [None] * len(masks)
    for i, (rle, area, box, score) in enumerate(zip(rles, masks.areas, masks.boxes, masks.scores)):
        if segmentation == "polygon":
            seg: Any = mask_to_polygons(masks.masks[i], tolerance=tolerance)
            if not seg:
                continue  # an empty mask has no outline
        else:
            seg = rle
        x0, y0, x1, y1 = (float(v) for v in box)
        ann: dict[str, Any] = {
            "id": i + 1,
            "image_id": image_id,
            "category_id": cat_id[names[i]],
            "segmentation": seg,
            "area": int(area),
            "bbox": [x0, y0, x1 - x0, y1 - y0],
            "iscrowd": 0,
            "score": float(score),
        }
        prompt = masks.prompt_of(i)
        if prompt is not None and hasattr(prompt, "to_dict"):
            ann["prompt"] = prompt.to_dict()
        if masks.ids is not None:
            ann["track_id"] = int(masks.ids[i])
        anns.append(ann)
    provenance = {k: v for k, v in masks.data.items() if k not in ("prompts", "class_names") and _is_json(v)}
    return {
        "info": {"description": "exported by sam_compose", **provenance},
        "images": [{"id": image_id, "file_name": file_name, "height": h, "width": w}],
        "categories": [{"id": cat_id[c], "name": c, "supercategory": "object"} for c in cats],
        "annotations": anns,
    }


def coco_dataset(
    items: Iterable[tuple[Masks, str]],
    *,
    categories: Sequence[str] | None = None,
    category: str = "object",
    segmentation: str = "rle",
) -> dict[str, Any]:
    """One COCO dataset for several images: ``items`` are ``(masks, file_name)`` pairs.

    Image ids are 1..N in order; annotation ids are unique across the dataset; categories
    are the union of every image's class names unless ``categories`` is given.
    """
    items = list(items)
    if not items:
        raise InputError("coco_dataset needs at least one (masks, file_name) pair")
    if categories is None:
        seen: dict[str, None] = {}
        for m, _ in items:
            for c in class_names(m, default=category):
                seen.setdefault(c, None)
        categories = list(seen) or [category]
    out: dict[str, Any] = {
        "info": {"description": "exported by sam_compose"},
        "images": [],
        "annotations": [],
        "categories": None,
    }
    next_id = 1
    for image_id, (m, file_name) in enumerate(items, start=1):
        d = coco_dict(m, file_name, image_id, category, categories=categories, segmentation=segmentation)
        out["images"].extend(d["images"])
        for ann in d["annotations"]:
            ann["id"] = next_id
            next_id += 1
            out["annotations"].append(ann)
        out["categories"] = d["categories"]
    return out


def to_detections(masks: Masks, *, categories: Sequence[str] | None = None, category: str = "object") -> Any:
    """A ``supervision.Detections`` with masks, boxes, scores, ``class_id`` (index into the
    category list) and ``data["class_name"]``, ``data["prompt_index"]``."""
    sv = require("supervision", feature="export to supervision Detections")
    names = class_names(masks, default=category)
    cats = list(categories) if categories is not None else list(dict.fromkeys(names))
    missing = sorted(set(names) - set(cats))
    if missing:
        raise InputError(f"masks have class names {missing} missing from categories {cats}; add them")
    return sv.Detections(
        xyxy=masks.boxes.astype(np.float32).reshape(-1, 4),
        mask=masks.masks.copy(),
        confidence=masks.scores.astype(np.float32),
        class_id=np.asarray([cats.index(n) for n in names], dtype=np.int64),
        tracker_id=None if masks.ids is None else masks.ids.copy(),
        data={"class_name": np.asarray(names, dtype=str), "prompt_index": masks.prompt_index.copy()},
    )


def load_detections(path: str | os.PathLike) -> Any:
    """Read a ``supervision.Detections`` written by ``export_masks(..., format="supervision")``."""
    sv = require("supervision", feature="reading supervision Detections")
    path = Path(path)
    if not path.is_file():
        raise InputError(f"detections file not found: {path}")
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    data = {k[len("data__") :]: v for k, v in arrays.items() if k.startswith("data__")}
    fields = {k: v for k, v in arrays.items() if not k.startswith("data__")}
    return sv.Detections(
        xyxy=fields["xyxy"],
        mask=fields.get("mask"),
        confidence=fields.get("confidence"),
        class_id=fields.get("class_id"),
        tracker_id=fields.get("tracker_id"),
        data=data,
    )


def record_dict(masks: Masks, *, file_name: str | None = None, include_logits: bool = False) -> dict[str, Any]:
    """JSON-friendly record of a result and where it came from (see :func:`read_record`)."""
    from ..._version import __version__

    prompts = [p.to_dict(include_mask=include_logits) if hasattr(p, "to_dict") else str(p) for p in masks.prompts]
    rows = masks.summary() if len(masks) else []
    for row, rle, name in zip(rows, masks.to_rle(), class_names(masks)):
        row["rle"] = rle
        row["class_name"] = name
    if include_logits and masks.logits is not None:
        for row, lg in zip(rows, masks.logits):
            row["logits"] = np.round(lg, 4).tolist()
    data = {k: v for k, v in masks.data.items() if k not in ("prompts",) and _is_json(v)}
    h, w = masks.image_size
    return {
        "sam_compose": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "image": {"file_name": file_name, "height": h, "width": w},
        "engine": masks.data.get("engine"),
        "adapter": masks.data.get("adapter"),
        "prompts": prompts,
        "masks": rows,
        "data": data,
    }


def read_record(path: str | os.PathLike) -> tuple[Masks, dict[str, Any]]:
    """Rebuild the :class:`Masks` (with prompts) from a record file; returns (masks, record)."""
    from ...types import Prompt

    path = Path(path)
    if not path.is_file():
        raise InputError(f"record file not found: {path}")
    try:
        rec = json.loads(path.read_text())
        size = (int(rec["image"]["height"]), int(rec["image"]["width"]))
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise InputError(f"{path} is not a sam_compose record (export format 'record'): {exc}") from exc
    rows = rec.get("masks", [])
    prompts = (
        [Prompt.from_dict(p) for p in rec.get("prompts", []) if isinstance(p, dict)]
        if all(isinstance(p, dict) and not isinstance(p.get("mask"), str) for p in rec.get("prompts", []))
        else []
    )
    data = {**rec.get("data", {}), "prompts": prompts}
    if not rows:
        return Masks.empty(size, data=data), rec
    m = Masks.from_rle([r["rle"] for r in rows])
    logits = np.asarray([r["logits"] for r in rows], np.float32) if all("logits" in r for r in rows) else None
    ids = [r["id"] for r in rows] if all("id" in r for r in rows) else None
    return Masks(
        m.masks,
        scores=[r["score"] for r in rows],
        logits=logits,
        prompt_index=[r.get("prompt_index", -1) for r in rows],
        ids=ids,
        data=data,
    ), rec


def export_masks(masks: Masks, path: str | os.PathLike, format: str = "coco", **options: Any) -> Path:
    """Write ``masks`` to ``path`` in ``format`` and return the path written.

    ``coco``, ``polygons``, ``record``: one JSON file. ``png``: ``mask_{i}.png`` files in the
    folder ``path``. ``supervision``: one ``.npz`` file. Options per format are listed in the
    module docstring; an unknown option is an error.
    """
    if not isinstance(masks, Masks):
        raise InputError(f"export_masks needs a Masks result, got {type(masks).__name__}")
    if not isinstance(path, (str, os.PathLike)) or not str(path):
        raise InputError(f"export_masks needs an output path (a file, or a folder for png), got {path!r}")
    fmt = str(format).lower()
    path = Path(path)
    writers: dict[str, tuple[Callable[..., Any], Callable[[], Any]]] = {
        "coco": (coco_dict, lambda: _write_atomic(path, json.dumps(coco_dict(masks, **options)))),
        "png": (_export_png, lambda: _export_png(masks, path, **options)),
        "polygons": (_export_polygons, lambda: _export_polygons(masks, path, **options)),
        "supervision": (to_detections, lambda: _export_supervision(masks, path, **options)),
        "record": (record_dict, lambda: _write_atomic(path, json.dumps(record_dict(masks, **options)))),
    }
    if fmt not in writers:
        raise InputError(f"unknown export format {format!r}; choose one of {', '.join(FORMATS)}")
    options_of, write = writers[fmt]
    # checked up front, not by catching TypeError, which would also hide a bug inside a writer
    accepted = [
        n
        for n, p in inspect.signature(options_of).parameters.items()
        if n not in ("masks", "path") and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise InputError(f"export format {fmt!r} got an unknown option {unknown}; it accepts {accepted}")
    return write()


def _export_png(masks: Masks, path: Path, *, label_map: bool = False) -> Path:
    if path.suffix.lower() in (".png", ".json") or (path.exists() and not path.is_dir()):
        raise InputError(f"png export writes a folder of mask PNGs; {path} looks like a file, give a folder")
    # staged and renamed into place; mask_N.png files of an earlier, larger export are removed
    with staged_output(path, what="export_masks png") as stage:
        for i in range(len(masks)):
            save_png(stage / f"mask_{i}.png", masks.masks[i].astype(np.uint8) * 255)
        if label_map:
            dtype = np.uint8 if len(masks) < 256 else np.uint16
            labels = np.zeros(masks.image_size, dtype=dtype)
            for i in range(len(masks)):  # later masks on top
                labels[masks.masks[i]] = i + 1
            save_png(stage / "labels.png", labels)
    return path


def _export_polygons(masks: Masks, path: Path, *, tolerance: float = 0.0, file_name: str | None = None) -> Path:
    h, w = masks.image_size
    names = class_names(masks)
    rows = []
    for i, row in enumerate(masks.summary() if len(masks) else []):
        row["class_name"] = names[i]
        row["polygons"] = mask_to_polygons(masks.masks[i], tolerance=tolerance)
        rows.append(row)
    doc = {
        "image": {"file_name": file_name, "height": h, "width": w},
        "coordinates": "pixel edges, x right, y down",
        "masks": rows,
    }
    return _write_atomic(path, json.dumps(doc))


def _export_supervision(masks: Masks, path: Path, **options: Any) -> Path:
    if path.suffix.lower() != ".npz":
        raise InputError(f"supervision export writes an .npz file; got {path.name}, use a name ending in .npz")
    det = to_detections(masks, **options)
    arrays: dict[str, np.ndarray] = {
        "xyxy": det.xyxy,
        "mask": det.mask,
        "confidence": det.confidence,
        "class_id": det.class_id,
    }
    if det.tracker_id is not None:
        arrays["tracker_id"] = det.tracker_id
    for k, v in det.data.items():
        arrays[f"data__{k}"] = np.asarray(v)
    with atomic_path(path) as tmp:
        np.savez_compressed(tmp, allow_pickle=True, **arrays)  # numpy's default, said so that **arrays is typed
    return path
