"""Prompts, images and checks shared by the parity tests against reference implementations.

``predictor_cases(h, w)`` yields each prompt kind twice over: as our :class:`sam_compose.Prompt`
and as the keyword arguments of the reference ``SamPredictor.predict`` /
``SAM2ImagePredictor.predict`` (``segment_anything``, ``segment_anything_hq``, ``sam2``), so
every parity test asks both sides the same questions. ``assert_matches_transformers`` does
the same against a ``transformers`` SAM 2-style model and processor (EdgeTAM, SAM 3's tracker).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

import sam_compose as sc


def _chelsea() -> np.ndarray:
    from skimage import data

    return data.chelsea()  # 300 x 451


def _astronaut_portrait() -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(data.astronaut()[:, 100:380])  # 512 x 280


def _astronaut_tiny() -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(data.astronaut()[200:210, 200:214])  # 10 x 14


PARITY_IMAGES: dict[str, Callable[[], np.ndarray]] = {
    "landscape": _chelsea,
    "portrait": _astronaut_portrait,
    "tiny": _astronaut_tiny,
}
"""(H, W, 3) uint8 test images by shape: wider than tall, taller than wide, smaller than a patch."""


def predictor_cases(h: int, w: int) -> Iterator[tuple[str, sc.Prompt, dict[str, Any]]]:
    """(name, Prompt, reference ``predict`` kwargs) for an image of size (h, w): one point,
    points with a negative, a box, a box plus a negative point (pixels of the original image)."""
    p1 = np.array([[0.55 * w, 0.45 * h]])
    pts = np.array([[0.5 * w, 0.5 * h], [0.1 * w, 0.15 * h], [0.8 * w, 0.7 * h]])
    lab = np.array([1, 0, 1])
    box = np.array([0.15 * w, 0.1 * h, 0.8 * w, 0.9 * h])
    yield "one point", sc.Prompt(points=p1), dict(point_coords=p1, point_labels=np.array([1]))
    yield "points with a negative", sc.Prompt(points=pts, labels=lab), dict(point_coords=pts, point_labels=lab)
    yield "box", sc.Prompt(box=box), dict(box=box)
    yield (
        "box plus point",
        sc.Prompt(box=box, points=pts[1:2], labels=[0]),
        dict(box=box, point_coords=pts[1:2], point_labels=np.array([0])),
    )


HF_PROMPTS: tuple[tuple[sc.Prompt, dict[str, Any]], ...] = (
    (
        sc.Prompt(points=[[200, 150], [60, 60]], labels=[1, 0]),
        dict(input_points=[[[[200, 150], [60, 60]]]], input_labels=[[[1, 0]]]),
    ),
    (sc.Prompt(box=[100, 50, 350, 280]), dict(input_boxes=[[[100, 50, 350, 280]]])),
)
"""Points with a negative, and a box, as our Prompt and as a ``transformers`` SAM-style processor's inputs."""


def assert_matches_transformers(
    engine: Any, model: Any, processor: Any, image: np.ndarray, *, score_atol: float, min_agree: float
) -> None:
    """``engine.segment`` equals ``model`` + ``processor`` + ``post_process_masks`` for
    :data:`HF_PROMPTS`, single- and multi-mask: IoU scores within ``score_atol``, masks agreeing
    on more than ``min_agree`` of the pixels (``model``: a SAM 2-style ``transformers`` image model)."""
    import torch

    for prompt, kw in HF_PROMPTS:
        for multimask in (False, True):
            enc = processor(images=image, return_tensors="pt", **kw)
            with torch.inference_mode():
                out = model(
                    pixel_values=enc["pixel_values"],
                    input_points=enc.get("input_points"),
                    input_labels=enc.get("input_labels"),
                    input_boxes=enc.get("input_boxes"),
                    multimask_output=multimask,
                )
            ref = processor.post_process_masks(out.pred_masks, enc["original_sizes"])[0][0].numpy()
            res = engine.segment(image, prompt, multimask=multimask)
            assert len(res) == ref.shape[0]
            np.testing.assert_allclose(res.scores, out.iou_scores[0, 0].numpy(), atol=score_atol)
            agree = float((res.masks == ref).mean())
            assert agree > min_agree, f"{prompt} multimask={multimask}: masks agree on {agree:.5f}"
