"""COCO files of a batch: each item's ``_coco.json`` and the merged ``OUT/annotations.json``.

Each item writes a small COCO dataset of its own (one image, or one per video frame).
:func:`write_annotations` merges them into one dataset after the run, streaming: it
reads the manifest (8 bytes per item held), orders the successful items by their position
in the input stream, and copies images and annotations one item at a time into two
temporary files that are then joined into ``annotations.json`` and renamed into place.
Image and annotation ids are 1..N in that order; categories are merged by name, ids in
order of first appearance. The result is the same whichever backend, worker count or
number of resumes produced the items.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .manifest import ManifestState, read_at

ITEM_COCO = "_coco.json"
ANNOTATIONS = "annotations.json"


def _dump(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


class CocoMerger:
    """Renumbers COCO parts into one dataset, handing each image / annotation to a writer."""

    def __init__(
        self, write_image: Callable[[dict[str, Any]], None], write_annotation: Callable[[dict[str, Any]], None]
    ) -> None:
        self.write_image = write_image
        self.write_annotation = write_annotation
        self.n_images = 0
        self.n_annotations = 0
        self.categories: dict[str, dict[str, Any]] = {}

    def add(self, part: Mapping[str, Any], **image_fields: Any) -> None:
        """Add a COCO dict (its own ids); ``image_fields`` are set on each of its images."""
        names = {c["id"]: c for c in part.get("categories", [])}
        image_ids: dict[Any, int] = {}
        for im in part.get("images", []):
            self.n_images += 1
            image_ids[im["id"]] = self.n_images
            self.write_image({**im, **image_fields, "id": self.n_images})
        for ann in part.get("annotations", []):
            cat = names.get(ann.get("category_id"), {"name": "object", "supercategory": "object"})
            entry = self.categories.get(cat["name"])
            if entry is None:
                entry = self.categories[cat["name"]] = {
                    "id": len(self.categories) + 1,
                    "name": cat["name"],
                    "supercategory": cat.get("supercategory", "object"),
                }
            self.n_annotations += 1
            self.write_annotation(
                {
                    **ann,
                    "id": self.n_annotations,
                    "image_id": image_ids.get(ann["image_id"], 0),
                    "category_id": entry["id"],
                }
            )

    def category_list(self) -> list[dict[str, Any]]:
        return list(self.categories.values())


class ItemCoco:
    """One item's COCO dataset, built one image (or video frame) at a time.

    Each frame's masks become RLE at once, so a long video holds compact annotations, never
    its (N, H, W) masks."""

    def __init__(self, file_name: str) -> None:
        self.file_name = file_name
        self.images: list[dict[str, Any]] = []
        self.annotations: list[dict[str, Any]] = []
        self.merger = CocoMerger(self.images.append, self.annotations.append)
        self.masks = 0

    def add(self, masks: Any, **image_fields: Any) -> None:
        from ..adapters.outputs.exports import coco_dict

        self.merger.add(coco_dict(masks, file_name=self.file_name), **image_fields)
        self.masks += len(masks)

    def to_dict(self) -> dict[str, Any]:
        return {
            "info": {"description": "sam_compose batch item", "file_name": self.file_name},
            "images": self.images,
            "annotations": self.annotations,
            "categories": self.merger.category_list(),
        }


def write_annotations(
    out: str | os.PathLike, manifest: str | os.PathLike, info: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Merge every successful item's COCO file into ``OUT/annotations.json`` (atomically).

    Returns ``{"path", "images", "annotations", "categories", "items"}``. Raises OSError
    (e.g. disk full) with the temporary files removed and any previous annotations.json
    left as it was.
    """
    out = Path(out)
    state = ManifestState.read(manifest)
    sel = np.flatnonzero(state.ok)
    order = sel[np.lexsort((state.keys[sel], state.index[sel]))]  # input-stream order; key breaks ties
    scratch = out / ".batch"
    scratch.mkdir(exist_ok=True)
    parts = {"images": scratch / "images.part", "annotations": scratch / "annotations.part"}
    target = out / ANNOTATIONS
    tmp = out / f".{ANNOTATIONS}.tmp"
    try:
        with (
            open(parts["images"], "w", encoding="utf-8") as fi,
            open(parts["annotations"], "w", encoding="utf-8") as fa,
            open(manifest, "rb") as fm,
        ):

            def writer(fh: Any) -> Callable[[dict[str, Any]], None]:
                first = [True]

                def write(obj: dict[str, Any]) -> None:
                    fh.write(("" if first[0] else ",\n") + _dump(obj))
                    first[0] = False

                return write

            merger = CocoMerger(writer(fi), writer(fa))
            items = 0
            for off in state.offsets[order]:
                rec = read_at(manifest, int(off), fm)
                rel = (rec.get("outputs") or {}).get("annotations")
                if not rel:
                    continue
                with open(out / rel, encoding="utf-8") as fh:
                    part = json.load(fh)
                merger.add(part, item=rec.get("item"))
                items += 1
        head = {
            "description": "sam_compose batch run",
            "date_created": time.strftime("%Y-%m-%dT%H:%M:%S"),
            **dict(info or {}),
        }
        with open(tmp, "w", encoding="utf-8") as fo:
            fo.write('{"info":' + _dump(head) + ',\n"images":[\n')
            with open(parts["images"], encoding="utf-8") as fh:
                shutil.copyfileobj(fh, fo)
            fo.write('\n],\n"annotations":[\n')
            with open(parts["annotations"], encoding="utf-8") as fh:
                shutil.copyfileobj(fh, fo)
            fo.write('\n],\n"categories":' + _dump(merger.category_list()) + "}\n")
            fo.flush()
            os.fsync(fo.fileno())
        os.replace(tmp, target)
    finally:
        for p in (*parts.values(), tmp):
            p.unlink(missing_ok=True)
    return {
        "path": str(target),
        "images": merger.n_images,
        "annotations": merger.n_annotations,
        "categories": len(merger.categories),
        "items": items,
    }


__all__ = ["ANNOTATIONS", "ITEM_COCO", "CocoMerger", "ItemCoco", "write_annotations"]
