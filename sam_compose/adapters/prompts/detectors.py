"""Text through a zero-shot detector (OWL-ViT, OWLv2, Grounding DINO) on transformers.

The alternative to CLIP region scoring (:mod:`.text`): an open-vocabulary detector
finds boxes for the phrases directly, and each box becomes a SAM box prompt (the
Grounded-SAM recipe). ``detector`` is a Hugging Face id (from the local cache only), a
folder written by ``save_pretrained`` (model and processor), a short name (``owlv2``,
``owlvit``, ``grounding-dino``), or a ``(model, processor)`` pair already loaded.

Nothing is downloaded: a detector that is not on this machine raises an
:class:`EngineError` naming ``sam-compose models download``, without waiting
on the hub.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from ...engines.hub import download_hint, normalize_device, shared_model
from ...errors import EngineError, PromptError, require
from ...image_io import load_image
from ...types import Prompt
from .boxes import box_iou
from .phrases import parse_phrases

__all__ = ["DETECTOR_ALIASES", "detect_phrases", "detect_with_text", "load_detector"]

DETECTOR_ALIASES = {
    "owlv2": "google/owlv2-base-patch16-ensemble",
    "owlvit": "google/owlvit-base-patch32",
    "owl-vit": "google/owlvit-base-patch32",
    "grounding-dino": "IDEA-Research/grounding-dino-tiny",
    "grounding_dino": "IDEA-Research/grounding-dino-tiny",
}
SUPPORTED_TYPES = ("owlvit", "owlv2", "grounding-dino", "mm-grounding-dino")


def load_detector(detector: Any, device: str | None = None) -> tuple[Any, Any]:
    """(model, processor) for a zero-shot detector spec; loaded once per (spec, device) from a local
    folder or the Hugging Face cache (never downloaded here: see ``sam-compose models download``).
    ``device`` defaults to the best available (see :func:`sam_compose.engines.hub.default_device`)."""
    if isinstance(detector, (tuple, list)) and len(detector) == 2:
        return detector[0], detector[1]
    if not isinstance(detector, (str, os.PathLike)):
        raise PromptError(
            f"detector must be an id, a folder or a (model, processor) pair, got {type(detector).__name__}"
        )
    spec = DETECTOR_ALIASES.get(str(detector).strip().lower(), os.fspath(detector))
    dev = normalize_device(device)
    return shared_model(("detector", spec, dev), lambda: _load_detector(spec, dev))


def _load_detector(spec: str, device: str) -> tuple[Any, Any]:
    transformers = require("transformers", feature="zero-shot detectors")
    try:
        processor = transformers.AutoProcessor.from_pretrained(spec, local_files_only=True)
        model = transformers.AutoModelForZeroShotObjectDetection.from_pretrained(spec, local_files_only=True)
    except (OSError, ValueError) as exc:
        if os.path.isdir(spec):
            raise EngineError(
                f"could not load a zero-shot detector from {spec}: {' '.join(str(exc).split())[:200]}"
            ) from exc
        raise EngineError(
            f"zero-shot detector {spec!r} is not on this machine and the model hub is not used offline; on a "
            f"machine with internet run {download_hint(spec)} (then copy ~/.cache/huggingface here), "
            "or pass a folder written by save_pretrained"
        ) from exc
    model_type = getattr(model.config, "model_type", "")
    if model_type not in SUPPORTED_TYPES:
        raise EngineError(
            f"{spec} is a {model_type!r} model; zero-shot detectors supported: {', '.join(SUPPORTED_TYPES)}"
        )
    model = model.to(device).eval()
    return model, processor


def detect_phrases(
    image: np.ndarray, phrases: Sequence[str], model: Any, processor: Any, threshold: float = 0.1
) -> list[tuple[np.ndarray, float, str]]:
    """Detections ``(box xyxy px, score, phrase)`` of ``phrases`` in an (H, W, 3) image."""
    import torch
    from PIL import Image

    h, w = image.shape[:2]
    pil = Image.fromarray(image)
    model_type = getattr(model.config, "model_type", "")
    device = next(model.parameters()).device
    if model_type in ("owlvit", "owlv2"):
        queries = [f"a photo of a {p}" for p in phrases]
        max_len = int(getattr(model.config.text_config, "max_position_embeddings", 16))
        inputs = processor(
            text=[queries], images=pil, return_tensors="pt", padding="max_length", truncation=True, max_length=max_len
        ).to(device)
        with torch.inference_mode():
            out = model(**inputs)
        # OWLv2 pads the image to a square before resizing: its boxes are fractions of that square
        target = (max(h, w), max(h, w)) if model_type == "owlv2" else (h, w)
        res = processor.post_process_grounded_object_detection(
            out, threshold=threshold, target_sizes=[target], text_labels=[list(phrases)]
        )[0]
        labels = [phrases[int(i)] for i in res["labels"]]
    else:  # Grounding DINO: one caption "p1. p2. ...", token logits mapped back to the phrases
        caption = " ".join(f"{p.lower()}." for p in phrases)
        inputs = processor(images=pil, text=caption, return_tensors="pt").to(device)
        with torch.inference_mode():
            out = model(**inputs)
        probs = out.logits.sigmoid()[0].float().cpu().numpy()  # (queries, text tokens)
        spans = _phrase_token_spans(inputs["input_ids"][0].tolist(), processor.tokenizer, len(phrases))
        per_phrase = np.stack([probs[:, sp].max(axis=1) if sp else np.zeros(len(probs)) for sp in spans], axis=1)
        best = per_phrase.argmax(axis=1)
        cxcywh = out.pred_boxes[0].float().cpu().numpy().astype(np.float64)  # fractions of the image
        xyxy = np.concatenate([cxcywh[:, :2] - cxcywh[:, 2:] / 2, cxcywh[:, :2] + cxcywh[:, 2:] / 2], axis=1)
        res = {
            "boxes": torch.from_numpy(xyxy * np.array([w, h, w, h], dtype=np.float64)),
            "scores": torch.from_numpy(per_phrase[np.arange(len(best)), best]),
        }
        keep = res["scores"].numpy() > threshold
        res = {k: v[torch.from_numpy(keep)] for k, v in res.items()}
        labels = [phrases[int(i)] for i in best[keep]]
    boxes = res["boxes"].detach().cpu().numpy().astype(np.float64).reshape(-1, 4)
    scores = res["scores"].detach().cpu().numpy().astype(np.float64).reshape(-1)
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
    return [
        (b, float(s), lab)
        for b, s, lab in zip(boxes, scores, labels)
        if lab is not None and b[2] - b[0] >= 1 and b[3] - b[1] >= 1
    ]


def _phrase_token_spans(ids: list[int], tokenizer: Any, n: int) -> list[list[int]]:
    """Token positions of each of ``n`` phrases in a Grounding DINO caption "p1. p2. ..."."""
    dot = tokenizer.convert_tokens_to_ids(".")
    special = set(getattr(tokenizer, "all_special_ids", []) or [])
    spans: list[list[int]] = [[] for _ in range(n)]
    k = 0
    for pos, tid in enumerate(ids):
        if tid == dot:
            k += 1
            if k >= n:
                break
        elif tid not in special:
            spans[k].append(pos)
    return spans


def detect_with_text(
    image: Any,
    text: str | Sequence[str],
    *,
    detector: Any,
    negative: str | Sequence[str] | None = None,
    top_k: int = 1,
    threshold: float | None = None,
    points: int = 0,
    device: str | None = None,
) -> list[Prompt]:
    """Box prompts for ``text`` from a zero-shot detector, ``top_k`` per phrase.

    Detections of a negative phrase suppress positive detections they overlap (IoU > 0.5)
    with a higher score. ``threshold`` is the detector's score threshold (default 0.1).
    Prompts carry the box only (the Grounded-SAM recipe); ``points`` is accepted for
    signature compatibility with the CLIP route and ignored, because a box centre may
    miss non-convex objects. ``data = {"adapter": "text", "route": "detector", "phrase", "score"}``.
    """
    img = load_image(image)
    pos, neg = parse_phrases(text, negative)
    if int(top_k) < 1:
        raise PromptError(f"top_k must be at least 1, got {top_k}")
    model, processor = load_detector(detector, device=device)
    thr = 0.1 if threshold is None else float(threshold)
    dets = detect_phrases(img, pos + neg, model, processor, threshold=thr)
    negs = [d for d in dets if d[2] in neg]
    prompts: list[Prompt] = []
    for phrase in pos:
        mine = sorted((d for d in dets if d[2] == phrase), key=lambda d: -d[1])
        picked: list[tuple[np.ndarray, float, str]] = []
        for box, score, _ in mine:
            if any(box_iou(box, nb) > 0.5 and ns >= score for nb, ns, _ in negs):
                continue
            if any(box_iou(box, pb) > 0.5 for pb, _, _ in picked):
                continue
            picked.append((box, score, phrase))
            if len(picked) >= int(top_k):
                break
        for rank, (box, score, _) in enumerate(picked):
            data = {
                "adapter": "text",
                "route": "detector",
                "phrase": phrase,
                "score": round(score, 6),
                "rank": rank,
                "detector": getattr(model.config, "_name_or_path", "") or getattr(model.config, "model_type", ""),
            }
            if neg:
                data["negative"] = list(neg)
            prompts.append(Prompt(box=box, data=data))
    return prompts
