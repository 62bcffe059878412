"""Pictures the demo shows: result overlays with the prompts drawn on, gaze heat maps, videos.

Inputs are (H, W, 3) uint8 RGB images; points (x, y) and boxes (x0, y0, x1, y1) are
pixels. Mask tinting itself is :func:`sam_compose.visualize.overlay`; this module adds
what only the interactive page needs (pending box corners, gaze heat, text badges).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import cv2
import numpy as np

from ..errors import InputError
from ..masks import Masks
from ..visualize import overlay

BOX_COLOUR = (255, 215, 0)
GAZE_COLOUR = (0, 255, 255)


def draw_result(image: np.ndarray, masks: Masks | None, points: Sequence[tuple[float, float, int]] = (),
                box: Sequence[float] | None = None, corner: Sequence[float] | None = None,
                gaze_path: Sequence[tuple[float, float]] = ()) -> np.ndarray:
    """``image`` with ``masks`` tinted (scores printed) and the prompts drawn on top.

    ``points`` are (x, y, label) (green = 1, red = 0); ``box`` is the prompt box (yellow),
    ``corner`` a first box corner still waiting for the second click; ``gaze_path`` the
    clicked gaze centres joined by a cyan line.
    """
    if masks is not None and len(masks):
        out = overlay(image, masks, scores=True, points=list(points))
    else:
        out = overlay(image, Masks.empty(image.shape[:2]), points=list(points))
    if box is not None:
        x0, y0, x1, y1 = (int(round(v)) for v in box)
        cv2.rectangle(out, (x0, y0), (x1, y1), BOX_COLOUR, 2)
    if corner is not None:
        cx, cy = (int(round(v)) for v in corner)
        cv2.drawMarker(out, (cx, cy), BOX_COLOUR, cv2.MARKER_CROSS, 18, 2)
    if len(gaze_path):
        pts = np.round(np.asarray(gaze_path, np.float64)).astype(np.int32)
        if len(pts) > 1:
            cv2.polylines(out, [pts.reshape(-1, 1, 2)], False, GAZE_COLOUR, 1, cv2.LINE_AA)
        for x, y in pts:
            cv2.circle(out, (int(x), int(y)), 5, GAZE_COLOUR, 1, cv2.LINE_AA)
    return out


def gaze_heat(image: np.ndarray, fixations: Iterable[tuple[float, float, float]], sigma: float | None = None,
              alpha: float = 0.55) -> np.ndarray:
    """A heat overlay of fixations on ``image``: one Gaussian per (x, y, duration_s) fixation.

    Each fixation adds a Gaussian of standard deviation ``sigma`` pixels (default 4% of
    the longer side) weighted by its duration; the sum is normalised, coloured with the
    JET colour map and blended where it is above 5% of its peak.
    """
    h, w = image.shape[:2]
    sigma = float(sigma) if sigma is not None else 0.04 * max(h, w)
    heat = np.zeros((h, w), np.float32)
    for x, y, dur in fixations:
        xi, yi = int(round(x)), int(round(y))
        if 0 <= xi < w and 0 <= yi < h:
            heat[yi, xi] += max(float(dur), 1e-3)
    if heat.max() <= 0:
        return image.copy()
    heat = cv2.GaussianBlur(heat, (0, 0), sigmaX=sigma, sigmaY=sigma)
    heat /= heat.max()
    colour = cv2.cvtColor(cv2.applyColorMap((heat * 255).astype(np.uint8), cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB)
    weight = (np.clip((heat - 0.05) / 0.95, 0, 1) * alpha)[..., None]
    out = image.astype(np.float32) * (1 - weight) + colour.astype(np.float32) * weight
    return np.clip(out, 0, 255).astype(np.uint8)


def write_video(frames: Iterable[np.ndarray], path: str | os.PathLike, fps: float = 10.0) -> Path:
    """Write RGB frames as a WebM (VP8) video that browsers play; returns the path.

    OpenCV's bundled FFmpeg has no H.264 encoder, so WebM is the format every browser
    plays out of the box. Raises :class:`InputError` for zero frames.
    """
    from ..video_io import VideoWriter

    with VideoWriter(path, fps=fps, fourcc="VP80") as writer:
        for frame in frames:
            if writer.size is not None and tuple(frame.shape[:2]) != writer.size:
                h, w = writer.size
                frame = cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA)
            writer.write(frame)
    if writer.frames_written == 0:
        raise InputError("no frames to write: the video produced no tracked frames")
    return Path(path)
