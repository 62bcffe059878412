"""The SAM-HQ engine over ``transformers.SamHQModel`` (SAM 2 lives in :mod:`.sam2_image`).

It reuses :class:`~.sam_family.SamFamilyEngine` (prompt grouping, post-processing,
automatic masks), the model's public prompt encoder, and decodes with
:func:`~.sam_hq_decoder.decode_hq` (the reference's mathematics on the fast path; the
prompt-independent HQ features are computed once per image).

Outputs follow ``segment-anything-hq``'s ``SamPredictor`` (tested for parity): each mask is
SAM's mask plus the HQ token's mask, or the HQ mask alone with ``hq_token_only=True``. With
``multimask=True`` the three candidates come sorted by predicted IoU, best first, so the
first row is what the reference predictor returns (it returns only that one).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .family import SamFamilyEngine
from .transforms import sam_pixel_values


class SamHQEngine(SamFamilyEngine):
    """``transformers.SamHQModel`` (``syscv-community/sam-hq-vit-base`` or ``sam_hq_vit_*.pth``).

    ``hq_token_only``: return the HQ token's mask alone instead of SAM's mask plus it
    (the reference predictor's option of the same name); settable on the instance.
    """

    name = "sam_hq"

    def __init__(self, *args: Any, hq_token_only: bool = False, **kwargs: Any) -> None:
        from .vision import speed_up_vision_attention

        super().__init__(*args, **kwargs)
        self.hq_token_only = bool(hq_token_only)
        speed_up_vision_attention(self.model)

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d["hq_token_only"] = self.hq_token_only
        return d

    def _encode(self, image: np.ndarray) -> dict[str, Any]:
        import torch

        from .decoder import image_side_cache
        from .hq_decoder import hq_features

        pix = sam_pixel_values(image).to(self.device, self.torch_dtype)
        emb, inter = self.model.get_image_embeddings(pix)
        with torch.inference_mode():
            pe = self.model.get_image_wide_positional_embeddings()
        no_mask = self.model.prompt_encoder.no_mask_embed.weight[0]
        cache = image_side_cache(self.model.mask_decoder, emb, pe, no_mask)
        cache["keys_raw"] = emb.flatten(2).transpose(1, 2)
        cache["hq"] = hq_features(self.model.mask_decoder, emb, inter[0])
        return cache

    def decode_group(self, feats, points, labels, boxes, masks, multimask):
        from .hq_decoder import decode_hq

        return self._decode_sam_prompts(
            lambda sparse, dense: decode_hq(
                self.model.mask_decoder, sparse, dense, feats, multimask, self.hq_token_only
            ),
            points,
            labels,
            boxes,
            masks,
        )
