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
from ..visualize import colour, overlay

BOX_COLOUR = (255, 215, 0)
GAZE_COLOUR = (0, 255, 255)


def draw_result(
    image: np.ndarray,
    masks: Masks | None,
    points: Sequence[tuple[float, float, int]] = (),
    box: Sequence[float] | None = None,
    corner: Sequence[float] | None = None,
    gaze_path: Sequence[tuple[float, float]] = (),
    labels: bool = False,
) -> np.ndarray:
    """``image`` with ``masks`` tinted and the prompts drawn on top.

    Prompted results show each mask with its outline, box and score. Automatic masks
    (``masks.data["adapter"] == "generate"``) are drawn as a map of filled regions
    (:func:`draw_regions`): no boxes, and numbers only with ``labels``.
    ``points`` are (x, y, label) (green = 1, red = 0); ``box`` is the prompt box (yellow),
    ``corner`` a first box corner still waiting for the second click; ``gaze_path`` the
    clicked gaze centres joined by a cyan line.
    """
    if masks is not None and len(masks) and is_automatic(masks):
        out = draw_regions(image, masks, labels=labels)
        out = overlay(out, Masks.empty(image.shape[:2]), points=list(points))
    elif masks is not None and len(masks):
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


def is_automatic(masks: Masks) -> bool:
    """Whether ``masks`` came from automatic mask generation (no prompts)."""
    return masks.data.get("adapter") == "generate"


def draw_regions(image: np.ndarray, masks: Masks, alpha: float = 0.55, labels: bool = False) -> np.ndarray:
    """Automatic masks as a map a person can read: every pixel takes the colour of the
    smallest mask covering it, thin lines separate regions, no boxes.

    With ``labels`` each region's row number is printed at its most interior pixel (the
    numbers of :meth:`Masks.summary` rows). Colours follow ``masks.ids`` when set.
    """
    h, w = image.shape[:2]
    owner = np.full((h, w), -1, np.int32)
    order = np.argsort(-masks.areas, kind="stable")  # large first: smaller regions paint over them
    for i in order:
        owner[masks.masks[i]] = i
    if not (owner >= 0).any():
        return image.copy()
    rows = masks.ids if masks.ids is not None else np.arange(len(masks))
    lut = np.array([colour(int(r)) for r in rows] + [(0, 0, 0)], np.float32)  # index -1 -> last row
    tint = lut[owner]
    painted = (owner >= 0)[..., None]
    out = np.where(painted, image.astype(np.float32) * (1 - alpha) + tint * alpha, image.astype(np.float32))
    out = np.clip(out, 0, 255).astype(np.uint8)
    edge = np.zeros((h, w), bool)
    edge[:, 1:] |= owner[:, 1:] != owner[:, :-1]
    edge[1:, :] |= owner[1:, :] != owner[:-1, :]
    edge &= owner >= 0  # outlines on the regions' side only: uncovered pixels stay the photograph's
    out[edge] = (out[edge].astype(np.float32) * 0.3 + 255 * 0.7).astype(np.uint8)
    if labels:
        for i in range(len(masks)):
            region = owner == i
            if not region.any():
                continue
            d = cv2.distanceTransform(np.pad(region, 1).astype(np.uint8), cv2.DIST_L2, 3)[1:-1, 1:-1]
            y, x = np.unravel_index(int(np.argmax(d)), d.shape)
            text = str(i)
            (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.45, 1)
            org = (int(x) - tw // 2, int(y) + th // 2)
            cv2.putText(out, text, org, cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 3, cv2.LINE_AA)
            cv2.putText(out, text, org, cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def gaze_heat(
    image: np.ndarray, fixations: Iterable[tuple[float, float, float]], sigma: float | None = None, alpha: float = 0.55
) -> np.ndarray:
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
