"""Exporting masks in the formats other tools read.

``export_masks(masks, path, format=...)``:

* ``"coco"``: a COCO JSON file (images, categories, annotations with RLE segmentation,
  xywh bbox, area, score) that ``pycocotools.coco.COCO`` loads;
* ``"png"``: one 0/255 PNG per mask in the folder ``path`` (``mask_0.png``, ...).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import InputError
from ...image_io import save_png
from ...masks import Masks

FORMATS = ("coco", "png")


def coco_dict(masks: Masks, file_name: str = "image.png", image_id: int = 1,
              category: str = "object") -> dict[str, Any]:
    """A COCO dataset dict for one image; RLE counts are strings, bboxes are x, y, w, h."""
    h, w = masks.image_size
    anns = []
    for i, (rle, area, box, score) in enumerate(zip(masks.to_rle(), masks.areas, masks.boxes, masks.scores)):
        x0, y0, x1, y1 = (float(v) for v in box)
        ann: dict[str, Any] = {
            "id": i + 1, "image_id": image_id, "category_id": 1, "segmentation": rle,
            "area": int(area), "bbox": [x0, y0, x1 - x0, y1 - y0], "iscrowd": 0, "score": float(score),
        }
        prompt = masks.prompt_of(i)
        if prompt is not None and hasattr(prompt, "to_dict"):
            ann["prompt"] = prompt.to_dict()
        if masks.ids is not None:
            ann["track_id"] = int(masks.ids[i])
        anns.append(ann)
    provenance = {k: v for k, v in masks.data.items() if k != "prompts" and _is_json(v)}
    return {
        "info": {"description": "exported by sam_compose", **provenance},
        "images": [{"id": image_id, "file_name": file_name, "height": h, "width": w}],
        "categories": [{"id": 1, "name": category}],
        "annotations": anns,
    }


def _is_json(v: Any) -> bool:
    try:
        json.dumps(v)
        return True
    except (TypeError, ValueError):
        return False


def export_masks(masks: Masks, path: str | os.PathLike, format: str = "coco", **options: Any) -> Path:
    """Write ``masks`` to ``path`` in ``format`` and return the path written.

    ``coco`` writes one JSON file (options: ``file_name``, ``category``); ``png`` writes
    ``mask_{i}.png`` files into the folder ``path``.
    """
    if not isinstance(masks, Masks):
        raise InputError(f"export_masks needs a Masks result, got {type(masks).__name__}")
    fmt = str(format).lower()
    path = Path(path)
    if fmt == "coco":
        doc = coco_dict(masks, **options)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(doc))
        os.replace(tmp, path)  # never leave a half-written file behind
        return path
    if fmt == "png":
        path.mkdir(parents=True, exist_ok=True)
        for i in range(len(masks)):
            save_png(path / f"mask_{i}.png", masks.masks[i].astype(np.uint8) * 255)
        return path
    raise InputError(f"unknown export format {format!r}; choose one of {', '.join(FORMATS)}")
