"""SAM-family engines on ``transformers``: the shared machinery and SAM ViT-B/L/H, SlimSAM.

:class:`SamFamilyEngine` holds what every SAM-family engine shares; :class:`SamEngine`
(``SamModel``: SAM, SlimSAM, Meta checkpoints) decodes with the fast, exact decoder of
:mod:`.sam_decoder` and post-processes like the reference. SAM-HQ lives in
:mod:`.sam_variants`, SAM 2 in :mod:`.sam2_image`; :mod:`.sam_loading` picks the engine for
a spec (``load_sam_family``).

All engines share the prompt grouping (prompts with the same number of points, box and mask
presence are decoded in one call), the exact low-res -> original-size post-processing, and
automatic mask generation (:mod:`.amg`).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from typing import Any, cast

import numpy as np

from ...errors import EngineError
from ...geometry import resized_shape, scale_boxes, scale_points
from ...masks import Masks
from ...types import ImageEmbedding, Prompt
from ..base import Engine
from ..cache import EmbeddingCache
from .transforms import sam_pixel_values, upsample_chunk, upsample_logits

DTYPES = ("float32", "bfloat16", "float16")
DECODE_CHUNK = 2
"""Prompts per decoder pass on CPU: per-prompt activations (4096 x 256 image tokens, 4 MB)
stay cache-sized; larger batches become memory-bound. GPUs take :data:`DECODE_CHUNK_GPU`."""
DECODE_CHUNK_GPU = 64


def _torch_dtype(dtype: str):
    import torch

    if dtype not in DTYPES:
        raise EngineError(f"dtype must be one of {DTYPES}, got {dtype!r}")
    return getattr(torch, dtype)


def check_device(device: str, dtype: str) -> str:
    """Validate ``device`` (cpu, cuda, cuda:N, mps) and its ``dtype``; return it normalised."""
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise EngineError(f"unknown device {device!r}; use cpu, cuda, cuda:N or mps") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise EngineError(f"device {device!r} requested but CUDA is not available; use device='cpu'")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise EngineError(f"device {device!r} requested but MPS is not available; use device='cpu'")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise EngineError(f"unsupported device {device!r}; use cpu, cuda, cuda:N or mps")
    _torch_dtype(dtype)
    if dev.type == "cpu" and dtype == "float16":
        raise EngineError("float16 is not supported on CPU; use dtype='float32' or 'bfloat16'")
    return str(dev)


def _group_prompts(prompts: list[Prompt]) -> dict[tuple[int, bool, bool], list[int]]:
    """Indices of prompts that can share one decoder call: same #points, box and mask presence."""
    groups: dict[tuple[int, bool, bool], list[int]] = {}
    for i, p in enumerate(prompts):
        k = 0 if p.points is None else len(p.points)
        groups.setdefault((k, p.box is not None, p.mask is not None), []).append(i)
    return groups


class SamFamilyEngine(Engine):
    """Shared machinery: embedding bookkeeping, prompt grouping, post-processing, AMG.

    Subclasses implement ``_encode(image) -> dict of tensors`` and
    ``decode_group(features, points, labels, boxes, masks, multimask) -> (lowres, iou)`` where
    coordinates are already in the model's 1024 input frame and ``lowres`` is in the model's
    own low-res frame (``lowres_frame``: ``"sam"`` padded, or ``"full"`` for SAM 2).
    """

    name = "sam"
    lowres_frame = "sam"

    def __init__(
        self,
        model: Any,
        spec: str,
        device: str = "cpu",
        dtype: str = "float32",
        cache: EmbeddingCache | None = None,
        family: str = "sam",
    ) -> None:
        super().__init__(spec, device=device, dtype=dtype, cache=cache)
        self.model = model
        self.family = family
        self.torch_dtype = _torch_dtype(dtype)

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d["family"] = self.family
        return d

    # --- coordinates --------------------------------------------------------------------
    # The batched decoding interface (used by ``segment``, the automatic mask generator in
    # ``amg.py`` and the ONNX engine): ``to_input_frame_points/boxes``, ``decode_group`` and
    # ``lowres_to_padded``. SAM 2 and the ONNX engine override them for their own frames.
    def to_input_frame_points(self, pts: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """(N, 2) or (..., 2) x, y pixels of an image of ``size`` (H, W) -> the model's input frame."""
        return scale_points(pts, size)

    def to_input_frame_boxes(self, boxes: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """(N, 4) x0, y0, x1, y1 pixels of an image of ``size`` (H, W) -> the model's input frame."""
        return scale_boxes(boxes, size)

    def _mask_to_model_frame(self, masks, size: tuple[int, int]):
        return masks

    def lowres_to_padded(self, lowres, size: tuple[int, int]):
        """(N, 256, 256) logits in the model's low-res frame -> SAM's padded 256 x 256 frame
        (the conventions' ``Masks.logits``); the identity for SAM v1."""
        return lowres

    def _input_size(self, size: tuple[int, int]) -> tuple[int, int]:
        """(h, w) the image occupies in the model's 1024 x 1024 input."""
        return resized_shape(size)

    # --- embedding ----------------------------------------------------------------------
    def _compute_embedding(self, image: np.ndarray, key: str) -> ImageEmbedding:
        import torch

        with torch.inference_mode():
            feats = self._encode(image)
        seen: set[int] = set()
        nbytes = 0
        for t in _tensors(feats):
            ptr = t.untyped_storage().data_ptr()
            if ptr in seen:
                continue
            seen.add(ptr)
            nbytes += t.untyped_storage().nbytes()
        return ImageEmbedding(
            features=feats,
            image_size=(image.shape[0], image.shape[1]),
            input_size=self._input_size(image.shape[:2]),
            engine=self.key,
            image_key=key,
            nbytes=int(nbytes),
        )

    @abstractmethod
    def _encode(self, image: np.ndarray) -> dict[str, Any]:
        """The model's image features for an (H, W, 3) uint8 image (tensors by name)."""

    @abstractmethod
    def decode_group(self, feats: dict[str, Any], points, labels, boxes, masks, multimask: bool):
        """Low-res logits (B, M, 256, 256) and IoU scores (B, M) for B prompts of one shape,
        batched: ``points`` (B, P, 2) in the input frame with ``labels`` (B, P), ``boxes`` (B, 4),
        ``masks`` (B, 1, 256, 256) logits, each None when the group has none; M is 3 with
        ``multimask`` else 1."""

    def _decode_sam_prompts(self, decode_rows: Callable[[Any, Any], tuple[Any, Any]], points, labels, boxes, masks):
        """SAM's and SAM-HQ's ``decode_group``: the model's public prompt encoder, then
        ``decode_rows(sparse, dense) -> (lowres, iou)`` over chunks of rows.

        ``points`` (N, K, 2) and ``boxes`` (N, 4) are in the 1024 input frame, ``labels`` (N, K),
        ``masks`` (N, 1, 256, 256); ``sparse`` is (n, T, C) and ``dense`` (n, C, 64, 64) or None.
        """
        import torch

        pe = self.model.prompt_encoder
        dt = self.torch_dtype
        n = (points if points is not None else boxes if boxes is not None else masks).shape[0]
        if points is not None or boxes is not None:  # the public prompt encoder: points (padded if no box), box corners
            sparse, _ = pe(
                input_points=None if points is None else points.unsqueeze(0).to(dt),
                input_labels=None if labels is None else labels.unsqueeze(0),
                input_boxes=None if boxes is None else boxes.unsqueeze(0).to(dt),
                input_masks=None,
            )
            sparse = sparse[0].to(dt)
        else:
            sparse = torch.zeros((n, 0, pe.hidden_size), dtype=dt, device=self.device)
        dense = pe.mask_embed(masks.to(dt)) if masks is not None else None
        chunk = DECODE_CHUNK if sparse.device.type == "cpu" else DECODE_CHUNK_GPU
        if n <= chunk:
            return decode_rows(sparse, dense)
        outs = [
            decode_rows(sparse[i : i + chunk], None if dense is None else dense[i : i + chunk])
            for i in range(0, n, chunk)
        ]
        return torch.cat([o[0] for o in outs]), torch.cat([o[1] for o in outs])

    # --- decoding -----------------------------------------------------------------------
    def decode_lowres(self, embedding: ImageEmbedding, prompts: list[Prompt], multimask: bool):
        """Low-res logits (N, M, h, w) in the model's own frame and size (256 x 256 for SAM and
        SAM 2) and IoU (N, M), in prompt order."""
        import torch

        size = embedding.image_size
        feats = embedding.features
        dev = self.device
        n = len(prompts)
        m_out = 3 if multimask else 1
        lowres = None
        ious = torch.empty((n, m_out), dtype=torch.float32, device=dev)
        with torch.inference_mode():
            for (k, has_box, has_mask), idx in _group_prompts(prompts).items():
                pts = lab = bxs = msk = None
                if k:
                    p = np.stack([self.to_input_frame_points(cast(np.ndarray, prompts[i].points), size) for i in idx])
                    pts = torch.as_tensor(p, dtype=torch.float32, device=dev)
                    lab = torch.as_tensor(
                        np.stack([cast(np.ndarray, prompts[i].labels) for i in idx]), dtype=torch.int64, device=dev
                    )
                if has_box:
                    b = np.stack([self.to_input_frame_boxes(cast(np.ndarray, prompts[i].box), size) for i in idx])
                    bxs = torch.as_tensor(b, dtype=torch.float32, device=dev)
                if has_mask:
                    mk = torch.as_tensor(
                        np.stack([cast(np.ndarray, prompts[i].mask) for i in idx]), dtype=torch.float32, device=dev
                    )
                    msk = self._mask_to_model_frame(mk, size).unsqueeze(1)
                lr, iou = self.decode_group(feats, pts, lab, bxs, msk, multimask)
                if lowres is None:  # the model's own low-res size (256 x 256 for SAM and SAM 2)
                    lowres = torch.empty((n, m_out, *lr.shape[-2:]), dtype=torch.float32, device=dev)
                sel = torch.as_tensor(idx, device=dev)
                lowres[sel] = lr.float()
                ious[sel] = iou.float()
        return lowres, ious

    def _decode(self, image: np.ndarray, embedding: ImageEmbedding, prompts: list[Prompt], multimask: bool) -> Masks:
        import torch

        size = embedding.image_size
        lowres, ious = self.decode_lowres(embedding, prompts, multimask)
        n, m_out = ious.shape
        flat = lowres.reshape(n * m_out, *lowres.shape[-2:])
        with torch.inference_mode():
            step = upsample_chunk(size)
            masks = torch.cat(
                [
                    upsample_logits(flat[i : i + step], size, self.lowres_frame) > 0
                    for i in range(0, flat.shape[0], step)
                ]
            )
            padded = self.lowres_to_padded(flat, size)
        return Masks(
            masks.cpu().numpy(),
            scores=ious.reshape(-1).cpu().numpy(),
            logits=padded.cpu().numpy(),
            prompt_index=np.repeat(np.arange(n), m_out),
        )

    # --- automatic masks ----------------------------------------------------------------
    def generate_params(self) -> dict[str, Any]:
        """The reference generator's parameters and defaults (:class:`~.amg.AmgParams`)."""
        from .amg import amg_params

        return amg_params()

    def _generate(self, image: np.ndarray, embedding: ImageEmbedding, **params: Any) -> Masks:
        """SAM's automatic mask generator; ``generate`` has already refused names that are not
        among :meth:`generate_params`."""
        from .amg import AmgParams, generate_masks

        return generate_masks(self, image, embedding, AmgParams(**params))


def _tensors(obj: Any):
    import torch

    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _tensors(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from _tensors(v)


class SamEngine(SamFamilyEngine):
    """``transformers.SamModel`` (SAM ViT-B/L/H, SlimSAM, converted Meta checkpoints)."""

    name = "sam"

    def __init__(
        self,
        model: Any,
        spec: str,
        device: str = "cpu",
        dtype: str = "float32",
        cache: EmbeddingCache | None = None,
        family: str = "sam",
    ) -> None:
        import torch

        from .vision import speed_up_vision_attention

        super().__init__(model, spec, device, dtype, cache, family)
        speed_up_vision_attention(model)
        with torch.inference_mode():
            self._image_pe = model.get_image_wide_positional_embeddings()

    def _encode(self, image: np.ndarray) -> dict[str, Any]:
        from .decoder import image_side_cache

        pix = sam_pixel_values(image).to(self.device, self.torch_dtype)
        emb = self.model.get_image_embeddings(pix)
        if isinstance(emb, (tuple, list)):
            emb = emb[0]
        no_mask = self.model.prompt_encoder.no_mask_embed.weight[0]
        cache = image_side_cache(self.model.mask_decoder, emb, self._image_pe, no_mask)
        cache["keys_raw"] = emb.flatten(2).transpose(1, 2)
        cache["embedding"] = emb
        return cache

    def decode_group(self, feats, points, labels, boxes, masks, multimask):
        from .decoder import decode

        return self._decode_sam_prompts(
            lambda sparse, dense: decode(self.model.mask_decoder, sparse, dense, feats, multimask),
            points,
            labels,
            boxes,
            masks,
        )


__all__ = ["SamEngine", "SamFamilyEngine", "check_device"]
