"""SAM 2 / SAM 2.1 in image mode: ``transformers.Sam2Model`` with the fast exact decoder.

Matches Meta's ``SAM2ImagePredictor`` step by step:

* the image is scaled to [0, 1], stretched to 1024 x 1024 (bilinear, antialiased) and
  normalised (:func:`~.sam_transforms.sam2_pixel_values`);
* points are scaled by 1024 / W and 1024 / H; a box becomes its two corners with labels 2
  and 3, placed before the points; the prompt encoder appends its padding point (the
  public ``Sam2PromptEncoder.forward``);
* the mask decoder runs through :func:`~.sam_decoder.decode` (same mathematics, the
  prompt-independent half computed once per image), including SAM 2's fallback to the
  best multimask candidate when a single mask is unstable;
* low-res logits are clamped to [-32, 32] and cover the whole (stretched) image; masks are
  their bilinear resize to (H, W) thresholded at 0.

``Prompt.mask`` arrives in SAM's padded low-res frame and ``Masks.logits`` leave in it (the
convention shared by every engine); this engine converts to and from SAM 2's whole-image
frame (:func:`~.sam_transforms.padded_to_sam2_logits`).

Checkpoints trained at another input size S (a Hydra config beside a Meta ``.pt`` can say
so, and SAM 3's tracker uses 1008 with patch 14) work the same way with S in place of 1024;
masks come from their own low-res size; ``Masks.logits`` are resampled into the shared
256 x 256 padded frame.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..sam.family import DECODE_CHUNK, DECODE_CHUNK_GPU, SamFamilyEngine
from ..sam.transforms import padded_to_sam2_logits, sam2_logits_to_padded, sam2_pixel_values

LOGIT_CLAMP = 32.0
"""Meta's predictor clamps low-res logits to [-32, 32] before returning them."""


class Sam2Engine(SamFamilyEngine):
    """``transformers.Sam2Model`` in image mode (``facebook/sam2.1-hiera-*`` or Meta's ``.pt``)."""

    name = "sam2"
    lowres_frame = "full"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        import torch

        from .vision import speed_up_sam2

        super().__init__(*args, **kwargs)
        speed_up_sam2(self.model)
        size = self.model.config.prompt_encoder_config.image_size
        self.input_size = int(size[0] if isinstance(size, (list, tuple)) else size)
        with torch.inference_mode():
            self._image_pe = self.model.get_image_wide_positional_embeddings()

    def to_input_frame_points(self, pts: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        out = np.asarray(pts, dtype=np.float64).copy()
        out[..., 0] *= self.input_size / size[1]
        out[..., 1] *= self.input_size / size[0]
        return out

    def to_input_frame_boxes(self, boxes: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        b = np.asarray(boxes, dtype=np.float64)
        return self.to_input_frame_points(b.reshape(*b.shape[:-1], 2, 2), size).reshape(b.shape)

    def _input_size(self, size: tuple[int, int]) -> tuple[int, int]:
        return (self.input_size, self.input_size)  # stretched, not padded

    def _mask_to_model_frame(self, masks, size: tuple[int, int]):
        return padded_to_sam2_logits(masks, size)

    def lowres_to_padded(self, lowres, size: tuple[int, int]):
        return sam2_logits_to_padded(lowres, size)

    def _pixel_values(self, image: np.ndarray):
        """(H, W, 3) uint8 -> (1, 3, S, S) model input (Meta's SAM 2 transform)."""
        return sam2_pixel_values(image, self.input_size)

    def _encode(self, image: np.ndarray) -> dict[str, Any]:
        from ..sam.decoder import high_res_cache, image_side_cache

        pix = self._pixel_values(image).to(self.device, self.torch_dtype)
        levels = list(self.model.get_image_embeddings(pix))  # [(1, C/8, 256, 256), (1, C/4, 128, 128), (1, C, 64, 64)]
        emb = levels[-1]
        no_mask = self.model.prompt_encoder.no_mask_embed.weight[0]
        cache = image_side_cache(self.model.mask_decoder, emb, self._image_pe, no_mask)
        cache.update(high_res_cache(levels[0], levels[1]))
        cache["keys_raw"] = emb.flatten(2).transpose(1, 2)
        return cache

    def decode_group(self, feats, points, labels, boxes, masks, multimask):
        import torch
        import torch.nn.functional as F

        from ..sam.decoder import decode

        dt = self.torch_dtype
        dev = self.device
        coords, labs = [], []
        if boxes is not None:  # a box is its two corners, labels 2 and 3, before the points
            coords.append(boxes.view(-1, 2, 2))
            labs.append(torch.tensor([2, 3], dtype=torch.int64, device=dev).expand(boxes.shape[0], 2))
        if points is not None:
            coords.append(points)
            labs.append(labels)
        n = (points if points is not None else boxes if boxes is not None else masks).shape[0]
        pe = self.model.prompt_encoder
        if coords:
            pts = torch.cat(coords, 1).to(dt)
            lab = torch.cat(labs, 1)
            sparse, _ = pe(
                input_points=pts.unsqueeze(0), input_labels=lab.unsqueeze(0), input_boxes=None, input_masks=None
            )
            sparse = sparse[0]
        else:
            sparse = torch.zeros((n, 0, pe.hidden_size), dtype=dt, device=dev)
        native = tuple(pe.mask_input_size)
        if masks is not None and tuple(masks.shape[-2:]) != native:  # as Meta: antialiased resize to the model's
            masks = F.interpolate(masks.float(), size=native, mode="bilinear", align_corners=False, antialias=True)
        dense = pe.mask_embed(masks.to(dt)) if masks is not None else None
        chunk = DECODE_CHUNK if sparse.device.type == "cpu" else DECODE_CHUNK_GPU
        outs = [
            decode(
                self.model.mask_decoder,
                sparse[i : i + chunk],
                None if dense is None else dense[i : i + chunk],
                feats,
                multimask,
            )
            for i in range(0, n, chunk)
        ]
        lowres = torch.cat([o[0] for o in outs]) if len(outs) > 1 else outs[0][0]
        iou = torch.cat([o[1] for o in outs]) if len(outs) > 1 else outs[0][1]
        return lowres.clamp(-LOGIT_CLAMP, LOGIT_CLAMP), iou
