"""Inputs and graphs for the batch tests: small real photographs (skimage crops) in folders."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from skimage import data

SOURCES = ("coins", "camera", "astronaut", "coffee", "chelsea", "horse")


def photo(i: int, size: tuple[int, int] = (96, 128)) -> np.ndarray:
    """A (H, W, 3) uint8 RGB crop of a scikit-image photograph; different ``i`` give different crops."""
    img = getattr(data, SOURCES[i % len(SOURCES)])()
    if img.dtype == bool:
        img = img.astype(np.uint8) * 255
    if img.ndim == 2:
        img = np.dstack([img] * 3)
    h, w = size
    y = (i * 37) % max(1, img.shape[0] - h)
    x = (i * 53) % max(1, img.shape[1] - w)
    return np.ascontiguousarray(img[y : y + h, x : x + w, :3])


def write_photo(path: Path, i: int, size: tuple[int, int] = (96, 128)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), photo(i, size)[:, :, ::-1])
    return path


def photo_folder(root: Path, names: list[str], size: tuple[int, int] = (96, 128)) -> list[Path]:
    """Write one photo per relative name under ``root``; returns the paths."""
    return [write_photo(root / n, i, size) for i, n in enumerate(names)]


def generate_graph(points_per_side: int = 4, max_masks: int = 5, save: bool = True) -> dict[str, Any]:
    """load_image -> generate (opencv) [-> overlay -> save_image]: the AMG shape of a dataset run."""
    nodes: dict[str, Any] = {
        "img": {"type": "load_image"},
        "auto": {
            "type": "generate",
            "inputs": {"image": "img"},
            "params": {"engine": "opencv", "points_per_side": points_per_side, "max_masks": max_masks},
        },
    }
    if save:
        nodes["draw"] = {"type": "overlay", "inputs": {"image": "img", "masks": "auto"}, "params": {"boxes": False}}
        nodes["save"] = {"type": "save_image", "inputs": {"image": "draw"}, "params": {"path": "overlay.png"}}
    return {"name": "batch test", "nodes": nodes}


def write_graph(path: Path, graph: dict[str, Any]) -> Path:
    path.write_text(json.dumps(graph))
    return path


def manifest(out: Path) -> list[dict[str, Any]]:
    """The manifest's records (a line torn by a kill is skipped, as every reader does)."""
    from sam_compose.batch.manifest import scan

    return [rec for _, rec in scan(out / "manifest.jsonl")]


def coco_core(out: Path) -> dict[str, Any]:
    """annotations.json without its info block (which holds the date)."""
    d = json.loads((out / "annotations.json").read_text())
    return {k: d[k] for k in ("images", "annotations", "categories")}
