"""Drawing results: mask overlays with boxes, points and scores."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from .masks import Masks

PALETTE = np.array(
    [
        (31, 119, 180),
        (255, 127, 14),
        (44, 160, 44),
        (214, 39, 40),
        (148, 103, 189),
        (140, 86, 75),
        (227, 119, 194),
        (127, 127, 127),
        (188, 189, 34),
        (23, 190, 207),
    ],
    dtype=np.uint8,
)


def colour(i: int) -> tuple[int, int, int]:
    """The RGB colour of object ``i`` (a repeating 10-colour palette)."""
    c = PALETTE[int(i) % len(PALETTE)]
    return int(c[0]), int(c[1]), int(c[2])


def overlay(
    image: np.ndarray,
    masks: Masks,
    alpha: float = 0.5,
    boxes: bool = True,
    contours: bool = True,
    scores: bool = False,
    points: Sequence[tuple[float, float, int]] | None = None,
) -> np.ndarray:
    """An (H, W, 3) uint8 copy of ``image`` with each mask tinted in its colour.

    ``points`` are (x, y, label) drawn as green (1) or red (0) dots. Colours follow
    ``masks.ids`` when set, otherwise the row index.
    """
    out = image.astype(np.float32).copy()
    order = np.argsort(-masks.areas) if len(masks) else np.zeros(0, np.int64)
    for i in order:  # large masks first so small ones stay visible
        tint = np.array(colour(masks.ids[i] if masks.ids is not None else i), np.float32)
        m = masks.masks[i]
        out[m] = out[m] * (1 - alpha) + tint * alpha
    out = np.clip(out, 0, 255).astype(np.uint8)
    for i in range(len(masks)):
        c = colour(masks.ids[i] if masks.ids is not None else i)
        if contours:
            cs, _ = cv2.findContours(masks.masks[i].astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
            cv2.drawContours(out, cs, -1, c, 2)
        if boxes and masks.areas[i] > 0:
            x0, y0, x1, y1 = masks.boxes[i].astype(int)
            cv2.rectangle(out, (x0, y0), (x1 - 1, y1 - 1), c, 1)
        if scores and masks.areas[i] > 0:
            x0, y0 = masks.boxes[i][:2].astype(int)
            cv2.putText(
                out,
                f"{masks.scores[i]:.2f}",
                (x0 + 2, max(y0 - 4, 12)),
                cv2.FONT_HERSHEY_SIMPLEX,
                0.5,
                c,
                1,
                cv2.LINE_AA,
            )
    for x, y, lab in points or []:
        cv2.circle(out, (int(x), int(y)), 6, (255, 255, 255), -1)
        cv2.circle(out, (int(x), int(y)), 4, (0, 200, 0) if lab == 1 else (220, 0, 0), -1)
    return out
