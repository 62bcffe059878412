"""SAM-HQ and SAM 2 (image mode) engines over their ``transformers`` models.

Both reuse :class:`~.sam_family.SamFamilyEngine` (prompt grouping, post-processing,
automatic masks) and call the model's own prompt encoder and mask decoder with cached image
features. Prompts that carry a mask are decoded one at a time (the ``transformers`` models
broadcast one dense prompt over a batch of point prompts).

SAM 2 stretches the image to 1024 x 1024 and its low-res logits cover the whole image; the
engine converts ``Prompt.mask`` from and ``Masks.logits`` to SAM's padded frame so results
can be fed back and mixed with other engines.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..geometry import SAM_INPUT_SIZE
from .sam_family import SamFamilyEngine
from .sam_transforms import padded_to_sam2_logits, sam2_logits_to_padded, sam2_pixel_values, sam_pixel_values


def _run_batched(call, points, labels, boxes, masks):
    """Call ``call(points, labels, boxes, masks)`` per prompt when masks are given, else once."""
    import torch

    if masks is None:
        return call(points, labels, boxes, None)
    outs = []
    for i in range(masks.shape[0]):
        outs.append(call(None if points is None else points[i:i + 1], None if labels is None else labels[i:i + 1],
                         None if boxes is None else boxes[i:i + 1], masks[i:i + 1]))
    return torch.cat([o[0] for o in outs]), torch.cat([o[1] for o in outs])


class SamHQEngine(SamFamilyEngine):
    """``transformers.SamHQModel`` (e.g. ``syscv-community/sam-hq-vit-base``); HQ + SAM mask output."""

    name = "sam_hq"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from .sam_vision import speed_up_vision_attention

        super().__init__(*args, **kwargs)
        speed_up_vision_attention(self.model)

    def _encode(self, image: np.ndarray) -> dict[str, Any]:
        pix = sam_pixel_values(image).to(self.device, self.torch_dtype)
        emb, inter = self.model.get_image_embeddings(pix)
        return {"embedding": emb, "intermediate": list(inter)}

    def _decode_group(self, feats, points, labels, boxes, masks, multimask):
        dt = self.torch_dtype

        def call(p, lab, b, m):
            out = self.model(image_embeddings=feats["embedding"], intermediate_embeddings=feats["intermediate"],
                             input_points=None if p is None else p.unsqueeze(0).to(dt),
                             input_labels=None if lab is None else lab.unsqueeze(0),
                             input_boxes=None if b is None else b.unsqueeze(0).to(dt),
                             input_masks=None if m is None else m.to(dt),
                             multimask_output=multimask, hq_token_only=False)
            return out.pred_masks[0], out.iou_scores[0]

        return _run_batched(call, points, labels, boxes, masks)


class Sam2Engine(SamFamilyEngine):
    """``transformers.Sam2Model`` in image mode (``facebook/sam2.1-hiera-*``)."""

    name = "sam2"
    lowres_frame = "full"

    def _to_input_frame_points(self, pts: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        out = np.asarray(pts, dtype=np.float64).copy()
        out[..., 0] *= SAM_INPUT_SIZE / size[1]
        out[..., 1] *= SAM_INPUT_SIZE / size[0]
        return out

    def _to_input_frame_boxes(self, boxes: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        b = np.asarray(boxes, dtype=np.float64)
        return self._to_input_frame_points(b.reshape(*b.shape[:-1], 2, 2), size).reshape(b.shape)

    def _input_size(self, size: tuple[int, int]) -> tuple[int, int]:
        return (SAM_INPUT_SIZE, SAM_INPUT_SIZE)  # stretched, not padded

    def _mask_to_model_frame(self, masks, size: tuple[int, int]):
        return padded_to_sam2_logits(masks, size)

    def _lowres_to_padded(self, lowres, size: tuple[int, int]):
        return sam2_logits_to_padded(lowres, size)

    def _encode(self, image: np.ndarray) -> dict[str, Any]:
        pix = sam2_pixel_values(image).to(self.device, self.torch_dtype)
        return {"levels": list(self.model.get_image_embeddings(pix))}

    def _decode_group(self, feats, points, labels, boxes, masks, multimask):
        dt = self.torch_dtype

        def call(p, lab, b, m):
            out = self.model(image_embeddings=feats["levels"],
                             input_points=None if p is None else p.unsqueeze(0).to(dt),
                             input_labels=None if lab is None else lab.unsqueeze(0),
                             input_boxes=None if b is None else b.unsqueeze(0).to(dt),
                             input_masks=None if m is None else m.to(dt),
                             multimask_output=multimask)
            return out.pred_masks[0], out.iou_scores[0]

        return _run_batched(call, points, labels, boxes, masks)
