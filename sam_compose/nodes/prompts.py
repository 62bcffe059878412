"""Prompt nodes: ``text_prompt``, ``mask_prompt`` and the full ``box_prompt``.

Thin wrappers over :mod:`sam_compose.adapters.prompts` (see docs/prompts.md). This
``box_prompt`` replaces the core fallback of the same name: it still takes
``{"boxes": [[x0, y0, x1, y1], ...]}`` and also reads detector formats and annotation
files. Example graph::

    "img":  {"type": "load_image", "params": {"path": "photo.jpg"}},
    "text": {"type": "text_prompt", "inputs": {"image": "img"}, "params": {"text": "cat, -dog"}},
    "seg":  {"type": "segment", "inputs": {"image": "img", "prompts": "text"}},
    "again": {"type": "mask_prompt", "inputs": {"image": "img", "masks": "seg"}},
    "refined": {"type": "segment", "inputs": {"image": "img", "prompts": "again"}}
"""

from __future__ import annotations

from ..errors import InputError
from .api import Param, file_stamp, guarded_clip_spec, input_path, node, node_engine
from .ports import Image, Masks, Prompts


@node(
    "text_prompt",
    category="prompts",
    description="Find the regions a text describes (CLIP over region proposals) and prompt with them.",
)
def text_prompt_node(
    image: Image,
    *,
    text: str = Param(
        description="what to find, e.g. 'a red mug'; several: 'cat, dog'; a leading '-' marks a negative phrase"
    ),
    negative: str | None = Param(None, description="phrases to avoid, comma-separated"),
    top_k: int = Param(1, ge=1, le=100, description="regions per phrase"),
    threshold: float | None = Param(None, ge=0.0, le=1.0, description="least normalised score (softmax over regions)"),
    proposals: str = Param(
        "auto",
        choices=("auto", "masks", "grid", "both"),
        description="region proposals: engine masks, a box grid, or both",
    ),
    background: str = Param(
        "blur", choices=("blur", "mask", "none"), description="how crops show pixels outside a region's mask"
    ),
    engine: str = Param("opencv", kind="model", description="engine whose automatic masks are the proposals"),
    clip: str | None = Param(
        None,
        kind="model",
        description="open_clip spec, e.g. 'ViT-B-32:laion2b_s34b_b79k' "
        "or 'local-dir:/path' (default: $SAM_COMPOSE_CLIP or ViT-B-32)",
    ),
    detector: str | None = Param(
        None, kind="model", description="a transformers zero-shot detector (id or folder) instead of CLIP"
    ),
    points: int = Param(1, ge=0, le=10, description="positive points per prompt"),
) -> Prompts:
    """Prompts (box + positive points) for the regions matching ``text``; data carries phrase and score."""
    from ..adapters.prompts.text import text_to_prompts

    eng = None if proposals == "grid" or detector else node_engine(engine)
    prompts = text_to_prompts(
        image,
        text,
        engine=eng,
        clip=guarded_clip_spec(clip),
        negative=negative,
        top_k=top_k,
        threshold=threshold,
        points=points,
        proposals=proposals,
        background=background,
        detector=None if detector is None else input_path(detector),
    )
    if not prompts:
        raise InputError(f"text_prompt: nothing matched {text!r}; lower threshold or rephrase")
    return prompts


@node(
    "mask_prompt",
    category="prompts",
    cache_key=file_stamp,
    description="A prior mask (file or an earlier result) as SAM mask_input logits plus a box and a point.",
)
def mask_prompt_node(
    image: Image,
    masks: Masks | None = None,
    *,
    path: str | None = Param(None, kind="path_in", description="mask image (PNG, 0/255) or .npy at the image size"),
    index: int | None = Param(
        None, ge=0, description="row of the input masks to use (default: every row, one prompt each)"
    ),
    box: bool = Param(True, description="include the mask's bounding box"),
    points: int = Param(1, ge=0, le=10, description="positive points inside the mask"),
    logit_scale: float = Param(10.0, gt=0, le=100, description="logit magnitude for binary masks"),
) -> Prompts:
    """One prompt per mask: from ``path``, or from the ``masks`` input (their low-res logits pass through)."""
    from ..adapters.prompts.masks import mask_to_prompt, read_mask

    size = image.shape[:2]
    if path is not None and masks is None:
        return [
            mask_to_prompt(
                read_mask(input_path(path)), image_size=size, box=box, points=points, logit_scale=logit_scale
            )
        ]
    if path is not None or masks is None:
        raise InputError("mask_prompt: give either the path param or the masks input (not both, not neither)")
    if len(masks) == 0:
        raise InputError("mask_prompt: the masks input is empty; nothing to prompt with")
    rows = range(len(masks)) if index is None else [index]
    if index is not None and index >= len(masks):
        raise InputError(f"mask_prompt: index {index} is out of range for {len(masks)} masks")
    return [mask_to_prompt(masks[i], image_size=size, box=box, points=points, logit_scale=logit_scale) for i in rows]


@node(
    "box_prompt",
    category="prompts",
    cache_key=file_stamp,
    description="Boxes as prompts, one per box: pixel lists, or detector/annotation files (COCO, YOLO, VOC).",
)
def box_prompt_node(
    image: Image | None = None,
    *,
    boxes: list[list[float]] | None = Param(None, description="[[x0, y0, x1, y1], ...] (see format)"),
    path: str | None = Param(
        None, kind="path_in", description="annotation file: COCO .json, YOLO .txt, Pascal VOC .xml"
    ),
    format: str = Param("xyxy", choices=("xyxy", "xywh", "cxcywh"), description="layout of boxes"),
    normalized: bool | None = Param(None, description="boxes are fractions of the image (None: detect)"),
    min_score: float | None = Param(None, description="keep boxes scoring at least this"),
    classes: list[str | int] | None = Param(None, description="keep these class names or ids"),
    class_names: list[str] | None = Param(None, description="names of class ids 0, 1, ..."),
    image_id: int | str | None = Param(None, description="COCO: image id or file name"),
) -> Prompts:
    """Prompts from boxes (see sam_compose.adapters.prompts.boxes_to_prompts)."""
    from ..adapters.prompts.boxes import boxes_to_prompts

    if (boxes is None) == (path is None):
        raise InputError("box_prompt: give either boxes [[x0, y0, x1, y1], ...] or path to an annotation file")
    if boxes is not None and not boxes:
        raise InputError("box_prompt: no boxes given; set boxes to [[x0, y0, x1, y1], ...]")
    size = None if image is None else image.shape[:2]
    prompts = boxes_to_prompts(
        input_path(path) if path is not None else boxes,
        format=format,
        normalized=normalized,
        image_size=size,
        min_score=min_score,
        classes=classes,
        class_names=class_names,
        image_id=image_id,
    )
    if not prompts:
        raise InputError("box_prompt: no box passed the filters (min_score, classes)")
    return prompts
