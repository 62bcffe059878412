"""Writing tracking results, one frame at a time.

Sinks (each has ``write(frame_index, masks, frame=None)`` and ``close() -> Path``):

* :class:`CocoVideoWriter`: a YouTube-VIS style JSON (the COCO format for video):
  ``videos`` (size, length), ``categories``, and one ``annotations`` entry per track id
  with ``segmentations`` / ``bboxes`` / ``areas`` / ``scores`` lists indexed by frame
  (``null`` where the object is not visible). Segmentations are COCO RLE with string
  counts, decodable with ``pycocotools.mask.decode``. :func:`read_coco_video` reads it back.
* :class:`MotWriter`: MOTChallenge box CSV, one line per object per frame:
  ``frame,id,x,y,w,h,score,-1,-1,-1`` (frame numbers from 1, boxes x, y, w, h pixels).
* :class:`OverlayWriter`: an MP4 of the frames with the masks drawn in their id colours
  (``sam_compose.visualize.overlay``).
* :class:`PngWriter`: a PNG per frame: a label image whose pixel value is the track id
  (0 = background; 8-bit, 16-bit when ids exceed 255), the DAVIS convention; or, with
  ``mode="binary"``, one 0/255 PNG per object and frame in ``<id>/``.

:func:`save_tracks` runs any combination of them over a stream of results; :func:`open_sinks`
opens them for a caller that writes frame by frame (the ``track`` node).
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ....errors import InputError
from ....image_io import save_png
from ....masks import Masks

__all__ = [
    "TRACK_FORMATS",
    "CocoVideoWriter",
    "MotWriter",
    "OverlayWriter",
    "PngWriter",
    "open_sinks",
    "read_coco_video",
    "read_mot",
    "save_tracks",
]

TRACK_FORMATS = ("coco", "mot", "mp4", "png")


def _ids(masks: Masks) -> np.ndarray:
    if masks.ids is None:
        return np.arange(1, len(masks) + 1, dtype=np.int64)
    return masks.ids


class CocoVideoWriter:
    """Per-frame COCO RLE for every track, written as one YouTube-VIS style JSON at close.

    Only the RLE strings are kept in memory (a few hundred bytes per object and frame).
    """

    def __init__(self, path: str | os.PathLike, category: str = "object", video_name: str = "video") -> None:
        self.path = Path(path)
        self.category = category
        self.video_name = video_name
        self._tracks: dict[int, dict[int, tuple[dict[str, Any], list[float], int, float]]] = {}
        self._frames = 0
        self._size: tuple[int, int] | None = None

    def write(self, frame_index: int, masks: Masks, frame: np.ndarray | None = None) -> None:
        self._size = masks.image_size
        self._frames = max(self._frames, int(frame_index) + 1)
        rles = masks.to_rle()
        for i, oid in enumerate(_ids(masks)):
            x0, y0, x1, y1 = (float(v) for v in masks.boxes[i])
            self._tracks.setdefault(int(oid), {})[int(frame_index)] = (
                rles[i],
                [x0, y0, x1 - x0, y1 - y0],
                int(masks.areas[i]),
                float(masks.scores[i]),
            )

    def as_dict(self) -> dict[str, Any]:
        h, w = self._size or (0, 0)
        anns = []
        for oid in sorted(self._tracks):
            per = self._tracks[oid]
            segs: list[Any] = [None] * self._frames
            boxes: list[Any] = [None] * self._frames
            areas: list[Any] = [None] * self._frames
            scores = []
            for f, (rle, box, area, score) in per.items():
                segs[f], boxes[f], areas[f] = rle, box, area
                scores.append(score)
            anns.append(
                {
                    "id": oid,
                    "track_id": oid,
                    "video_id": 1,
                    "category_id": 1,
                    "iscrowd": 0,
                    "segmentations": segs,
                    "bboxes": boxes,
                    "areas": areas,
                    "score": float(np.mean(scores)) if scores else 0.0,
                }
            )
        return {
            "info": {"description": "tracks exported by sam_compose", "format": "youtube-vis"},
            "videos": [{"id": 1, "name": self.video_name, "width": w, "height": h, "length": self._frames}],
            "categories": [{"id": 1, "name": self.category}],
            "annotations": anns,
        }

    def close(self) -> Path:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(self.as_dict()))
        os.replace(tmp, self.path)  # a reader never sees a half-written file
        return self.path


def read_coco_video(path: str | os.PathLike) -> dict[int, dict[int, np.ndarray]]:
    """``{frame_index: {track_id: (H, W) bool}}`` from a :class:`CocoVideoWriter` file (pycocotools)."""
    from pycocotools import mask as mask_utils

    path = Path(path)
    if not path.exists():
        raise InputError(f"tracking JSON not found: {path}")
    out: dict[int, dict[int, np.ndarray]] = {}
    try:
        for ann in json.loads(path.read_text())["annotations"]:
            for f, rle in enumerate(ann["segmentations"]):
                if rle is None:
                    continue
                r = {"size": rle["size"], "counts": rle["counts"].encode("ascii")}
                out.setdefault(f, {})[int(ann["id"])] = mask_utils.decode(r).astype(bool)
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
        raise InputError(
            f"{path} is not a video COCO (YouTube-VIS) JSON with 'annotations' "
            f"holding per-frame RLE 'segmentations': {exc!r}"
        ) from exc
    return out


class MotWriter:
    """MOTChallenge CSV lines ``frame,id,x,y,w,h,score,-1,-1,-1`` (frame from 1), streamed."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = self.path.open("w", newline="")
        self._csv = csv.writer(self._fh)

    def write(self, frame_index: int, masks: Masks, frame: np.ndarray | None = None) -> None:
        areas = masks.areas
        for i, oid in enumerate(_ids(masks)):
            if areas[i] == 0:
                continue
            x0, y0, x1, y1 = (float(v) for v in masks.boxes[i])
            self._csv.writerow(
                [
                    int(frame_index) + 1,
                    int(oid),
                    f"{x0:.2f}",
                    f"{y0:.2f}",
                    f"{x1 - x0:.2f}",
                    f"{y1 - y0:.2f}",
                    f"{float(masks.scores[i]):.4f}",
                    -1,
                    -1,
                    -1,
                ]
            )

    def close(self) -> Path:
        if not self._fh.closed:
            self._fh.close()
        return self.path


def read_mot(path: str | os.PathLike) -> np.ndarray:
    """(K, 10) float array of a MOT CSV (frame, id, x, y, w, h, score, -1, -1, -1)."""
    if not Path(path).is_file():
        raise InputError(f"MOT file not found: {path}")
    rows = np.loadtxt(path, delimiter=",", ndmin=2)
    if rows.size and rows.shape[1] != 10:
        raise InputError(f"{path} has {rows.shape[1]} columns; a MOT file has 10")
    return rows.reshape(-1, 10)


class OverlayWriter:
    """An MP4 of each frame with its masks drawn in their track colours."""

    def __init__(self, path: str | os.PathLike, fps: float = 25.0, alpha: float = 0.5) -> None:
        from ....video_io import VideoWriter

        self._vw = VideoWriter(path, fps=fps)
        self.path = self._vw.path
        self.alpha = alpha

    def write(self, frame_index: int, masks: Masks, frame: np.ndarray | None = None) -> None:
        if frame is None:
            raise InputError(
                "the overlay video needs the frames: use track(..., with_frames=True) or save_tracks(frames=...)"
            )
        from ....visualize import overlay

        self._vw.write(overlay(frame, masks, alpha=self.alpha, boxes=False))

    def close(self) -> Path:
        return self._vw.close()


class PngWriter:
    """Label PNGs (pixel = track id) per frame, or binary 0/255 PNGs per object (``mode="binary"``)."""

    def __init__(self, folder: str | os.PathLike, mode: str = "labels") -> None:
        if mode not in ("labels", "binary"):
            raise InputError(f"PNG mode must be 'labels' or 'binary', got {mode!r}")
        self.path = Path(folder)
        self.mode = mode
        self.path.mkdir(parents=True, exist_ok=True)

    def write(self, frame_index: int, masks: Masks, frame: np.ndarray | None = None) -> None:
        ids = _ids(masks)
        name = f"{int(frame_index):06d}.png"
        if self.mode == "binary":
            for i, oid in enumerate(ids):
                save_png(self.path / str(int(oid)) / name, masks.masks[i].astype(np.uint8) * 255)
            return
        dtype = np.uint8 if (len(ids) == 0 or int(ids.max()) < 256) else np.uint16
        label = np.zeros(masks.image_size, dtype)
        for i in np.argsort(-masks.areas):  # small objects drawn last stay visible
            label[masks.masks[i]] = int(ids[i])
        save_png(self.path / name, label)

    def close(self) -> Path:
        return self.path


def open_sinks(out_dir: Path, formats: Sequence[str], fps: float = 25.0) -> dict[str, Any]:
    """``{format: writer}`` for ``formats`` in ``out_dir`` (file names as in :func:`save_tracks`);
    call ``write`` per frame and ``close`` on each at the end."""
    unknown = sorted(set(formats) - set(TRACK_FORMATS))
    if unknown:
        raise InputError(f"unknown track output format(s) {unknown}; choose from {', '.join(TRACK_FORMATS)}")
    sinks: dict[str, Any] = {}
    try:
        for f in formats:
            if f == "coco":
                sinks[f] = CocoVideoWriter(out_dir / "tracks.json")
            elif f == "mot":
                sinks[f] = MotWriter(out_dir / "tracks_mot.csv")
            elif f == "mp4":
                sinks[f] = OverlayWriter(out_dir / "overlay.mp4", fps=fps)
            elif f == "png":
                sinks[f] = PngWriter(out_dir / "masks")
    except BaseException:
        for s in sinks.values():  # e.g. a bad fps: do not leave the MOT file handle open
            if not isinstance(s, CocoVideoWriter):
                s.close()
        raise
    return sinks


def save_tracks(
    results: Iterable[Any],
    out_dir: str | os.PathLike,
    formats: Sequence[str] = ("coco", "mot", "png"),
    fps: float = 25.0,
    frames: Iterable[np.ndarray] | None = None,
) -> dict[str, Path]:
    """Write a stream of per-frame results to ``out_dir``; returns ``{format: path}``.

    ``results`` yields :class:`Masks` (``data["frame"]`` gives the frame index, else the
    position) or ``(frame, Masks)`` pairs (``track(..., with_frames=True)``); ``frames``
    supplies the images for ``"mp4"`` when results carry none. Files: ``tracks.json``
    (coco), ``tracks_mot.csv`` (mot), ``overlay.mp4`` (mp4), ``masks/`` (png).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sinks = open_sinks(out, list(formats), fps)
    frame_iter = iter(frames) if frames is not None else None
    try:
        for pos, item in enumerate(results):
            frame = None
            if isinstance(item, tuple):
                frame, masks = item
            else:
                masks = item
                if frame_iter is not None:
                    frame = next(frame_iter, None)
            if not isinstance(masks, Masks):
                raise InputError(f"result {pos} is a {type(masks).__name__}, expected Masks")
            idx = int(masks.data.get("frame", pos))
            for s in sinks.values():
                s.write(idx, masks, frame)
    finally:
        paths = {k: s.close() for k, s in sinks.items()}
    return paths
