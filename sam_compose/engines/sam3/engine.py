"""SAM 3 as an engine: concept prompts (text, exemplar boxes) and SAM 2-style points and boxes.

``eng.segment(img, sc.Prompt(text="cat"))`` returns every instance of the concept, one row
per instance, best score first (``prompt_index`` says which prompt found it,
``Masks.rows["text"]`` the phrase). ``Prompt(text=..., exemplars=[[x0, y0, x1, y1]],
exemplar_labels=[1])`` adds example (1) or counter-example (0) boxes; exemplars alone work
too. A phrase that matches nothing gives an empty result, not an error.

Concept prompts run through ``Sam3Model`` exactly as ``Sam3Processor`` + ``Sam3Model`` +
``post_process_instance_segmentation`` do (tested for equality): the image goes through the
folder's image processor; phrases through its tokenizer (32 tokens); exemplar boxes become
normalised (cx, cy, w, h); a query is kept when sigmoid(class logit) x sigmoid(presence
logit) > :attr:`Sam3Engine.concept_threshold`; its mask is the sigmoid of the mask logits,
resized bilinearly to the image and thresholded at :attr:`Sam3Engine.mask_threshold`.
The vision features are computed once per image (the engine's embedding cache) and the text
features once per phrase; many prompts run in batches of :data:`CONCEPT_BATCH`.

Points, boxes and masks run through ``Sam3TrackerModel`` (:class:`Sam3TrackerEngine`, the
SAM 2 engine with SAM 3's image processor), built from the same folder's weights.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np

from ...masks import Masks
from ...types import ImageEmbedding, Prompt
from ..base import Engine
from ..cache import EmbeddingCache
from ..sam2.image import Sam2Engine
from .models import Sam3Models

CONCEPT_BATCH = 8
"""Concept prompts decoded together (the vision features are broadcast over the batch)."""
TEXT_TOKENS = 32
"""SAM 3 reads phrases padded / truncated to 32 tokens (as its processor does)."""
VISUAL_TEXT = "visual"
"""The phrase SAM 3's processor uses for exemplar-only prompts."""
MAX_CACHED_PHRASES = 512


class Sam3TrackerEngine(Sam2Engine):
    """``Sam3TrackerModel`` in image mode: SAM 2's engine with SAM 3's image processor."""

    name = "sam3_tracker"

    def __init__(self, model: Any, image_processor: Any, *args: Any, **kwargs: Any) -> None:
        self.image_processor = image_processor
        super().__init__(model, *args, **kwargs)

    def _pixel_values(self, image: np.ndarray):
        return self.image_processor(images=image, return_tensors="pt")["pixel_values"]


class Sam3Engine(Engine):
    """SAM 3 (``facebook/sam3`` or a SAM 3 folder): see the module docstring."""

    name = "sam3"
    supports_text = True

    def __init__(
        self,
        models: Sam3Models,
        spec: str,
        device: str = "cpu",
        dtype: str = "float32",
        cache: EmbeddingCache | None = None,
        concept_threshold: float = 0.5,
        mask_threshold: float = 0.5,
    ) -> None:
        import torch

        super().__init__(spec, device=device, dtype=dtype, cache=cache)
        self.models = models
        self.model = models.detector
        self.processor = models.processor
        self.family = "sam3"
        self.torch_dtype = getattr(torch, dtype)
        self.concept_threshold = float(concept_threshold)
        self.mask_threshold = float(mask_threshold)
        self._phrases: OrderedDict[str, tuple[Any, Any]] = OrderedDict()
        self._tracker_engine: Sam3TrackerEngine | None = None

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d.update(family="sam3", concept_threshold=self.concept_threshold, mask_threshold=self.mask_threshold)
        return d

    # --- points and boxes: the tracker -------------------------------------------------------
    def tracker_engine(self) -> Sam3TrackerEngine:
        """The engine for points, boxes and masks (built on first use, sharing this engine's cache)."""
        if self._tracker_engine is None:
            model = self.models.tracker().to(self.device)
            self._tracker_engine = Sam3TrackerEngine(
                model,
                self.processor.image_processor,
                f"{self.spec}#tracker",
                self.device,
                self.dtype,
                self.cache,
                family="sam3",
            )
        return self._tracker_engine

    # --- embedding ---------------------------------------------------------------------------
    def _compute_embedding(self, image: np.ndarray, key: str) -> ImageEmbedding:
        import torch

        pix = self.processor.image_processor(images=image, return_tensors="pt")["pixel_values"]
        pix = pix.to(self.device, self.torch_dtype)
        with torch.inference_mode():
            vision = self.model.get_vision_features(pixel_values=pix)
        tensors = [*vision.fpn_hidden_states, *vision.fpn_position_encoding, vision.last_hidden_state]
        nbytes = sum(int(t.numel() * t.element_size()) for t in tensors if t is not None)
        return ImageEmbedding(
            features={"vision": vision},
            image_size=(image.shape[0], image.shape[1]),
            input_size=tuple(pix.shape[-2:]),
            engine=self.key,
            image_key=key,
            nbytes=nbytes,
        )

    def _text_features(self, phrases: list[str]):
        """(B, 32, C) projected text features and (B, 32) attention masks, one row per phrase (cached)."""
        import torch

        todo = [p for p in dict.fromkeys(phrases) if p not in self._phrases]
        if todo:
            tok = self.processor.tokenizer(
                todo, return_tensors="pt", padding="max_length", max_length=TEXT_TOKENS, truncation=True
            )
            with torch.inference_mode():
                out = self.model.get_text_features(
                    input_ids=tok["input_ids"].to(self.device), attention_mask=tok["attention_mask"].to(self.device)
                )
            for i, p in enumerate(todo):
                self._phrases[p] = (out.pooler_output[i : i + 1], tok["attention_mask"][i : i + 1].to(self.device))
                while len(self._phrases) > MAX_CACHED_PHRASES:
                    self._phrases.popitem(last=False)
        feats = torch.cat([self._phrases[p][0] for p in phrases])
        masks = torch.cat([self._phrases[p][1] for p in phrases])
        return feats, masks

    # --- decoding ----------------------------------------------------------------------------
    def _decode(self, image: np.ndarray, embedding: ImageEmbedding, prompts: list[Prompt], multimask: bool) -> Masks:
        size = embedding.image_size
        concept = [i for i, p in enumerate(prompts) if p.is_concept]
        other = [i for i, p in enumerate(prompts) if not p.is_concept]
        parts: list[Masks] = []
        if concept:
            parts.append(self._decode_concepts(embedding, [prompts[i] for i in concept], concept))
        if other:
            trk = self.tracker_engine()
            res = trk._decode(image, trk.embed(image), [prompts[i] for i in other], multimask)
            res = Masks(
                res.masks,
                scores=res.scores,
                logits=res.logits,
                prompt_index=np.asarray(other)[res.prompt_index],
                rows={"text": np.asarray([""] * len(res), dtype=object)},
            )
            parts.append(res)
        out = parts[0] if len(parts) == 1 else Masks.concat(parts)
        if len(parts) > 1:  # back in prompt order
            out = out[np.argsort(out.prompt_index, kind="stable")]
        if len(out) == 0 and out.masks.shape[1:] != size:
            out = Masks(np.zeros((0, *size), bool))
        return out

    def _decode_concepts(self, embedding: ImageEmbedding, prompts: list[Prompt], index: list[int]) -> Masks:
        h, w = embedding.image_size
        negatives = sorted({str(n) for p in prompts for n in (p.data.get("negative") or [])})
        runs = list(prompts) + [Prompt(text=n) for n in negatives]
        ids = list(index) + [NEGATIVE_BASE + k for k in range(len(negatives))]
        rows: list[Masks] = []
        for start in range(0, len(runs), CONCEPT_BATCH):
            rows.extend(
                self._run_concepts(embedding, runs[start : start + CONCEPT_BATCH], ids[start : start + CONCEPT_BATCH])
            )
        if negatives:
            rows = _suppress_negatives(rows, prompts, index, negatives)
        nonempty = [r for r in rows if len(r)]
        if not nonempty:
            return Masks(
                np.zeros((0, h, w), bool),
                scores=np.zeros(0, np.float32),
                boxes=np.zeros((0, 4), np.float32),
                logits=np.zeros((0, 256, 256), np.float32),
                prompt_index=np.zeros(0, np.int64),
                rows={"text": np.zeros(0, dtype=object)},
            )
        return Masks.concat(nonempty)

    def _run_concepts(self, embedding: ImageEmbedding, batch: list[Prompt], index: list[int]) -> list[Masks]:
        import torch
        from transformers.modeling_outputs import BaseModelOutputWithPooling

        from ..sam.transforms import sam2_logits_to_padded

        h, w = embedding.image_size
        b = len(batch)
        phrases = [p.text if p.text is not None else VISUAL_TEXT for p in batch]
        text, text_mask = self._text_features(phrases)
        vision = embedding.features["vision"]
        if b > 1:
            vision = type(vision)(
                last_hidden_state=vision.last_hidden_state.expand(b, *vision.last_hidden_state.shape[1:]),
                fpn_hidden_states=tuple(t.expand(b, *t.shape[1:]) for t in vision.fpn_hidden_states),
                fpn_position_encoding=tuple(t.expand(b, *t.shape[1:]) for t in vision.fpn_position_encoding),
            )
        boxes = labels = None
        n_ex = max((0 if p.exemplars is None else len(p.exemplars)) for p in batch)
        if n_ex:
            boxes = torch.zeros((b, n_ex, 4), dtype=torch.float32)
            labels = torch.full((b, n_ex), -10, dtype=torch.int64)  # -10: padding, ignored by the model
            scale = torch.tensor([w, h, w, h], dtype=torch.float32)
            for i, p in enumerate(batch):
                if p.exemplars is None:
                    continue
                xyxy = torch.tensor(np.asarray(p.exemplars, np.float32)) / scale
                cxcywh = torch.stack(
                    [
                        (xyxy[:, 0] + xyxy[:, 2]) / 2,
                        (xyxy[:, 1] + xyxy[:, 3]) / 2,
                        xyxy[:, 2] - xyxy[:, 0],
                        xyxy[:, 3] - xyxy[:, 1],
                    ],
                    -1,
                )
                boxes[i, : len(cxcywh)] = cxcywh
                labels[i, : len(cxcywh)] = torch.tensor(np.asarray(p.exemplar_labels))
            boxes = boxes.to(self.device, self.torch_dtype)
            labels = labels.to(self.device)
        with torch.inference_mode():
            out = self.model(
                vision_embeds=vision,
                text_embeds=BaseModelOutputWithPooling(pooler_output=text),
                attention_mask=text_mask,
                input_boxes=boxes,
                input_boxes_labels=labels,
            )
            results = self.processor.post_process_instance_segmentation(
                out, threshold=self.concept_threshold, mask_threshold=self.mask_threshold, target_sizes=[(h, w)] * b
            )
            scores_all = out.pred_logits.float().sigmoid()
            if out.presence_logits is not None:
                scores_all = scores_all * out.presence_logits.float().sigmoid()
        found: list[Masks] = []
        for i, r in enumerate(results):
            keep = torch.nonzero(scores_all[i] > self.concept_threshold).flatten()
            n = len(r["scores"])
            if n == 0:
                continue
            if len(keep) != n:  # pragma: no cover - same rule as the processor's
                raise RuntimeError("SAM 3 post-processing kept a different set of queries")
            logits = sam2_logits_to_padded(out.pred_masks[i, keep].float(), (h, w)).cpu().numpy()
            order = np.argsort(-r["scores"].float().cpu().numpy(), kind="stable")
            found.append(
                Masks(
                    r["masks"].bool().cpu().numpy()[order],
                    scores=r["scores"].float().cpu().numpy()[order],
                    boxes=r["boxes"].float().cpu().numpy()[order],
                    logits=logits[order],
                    prompt_index=np.full(n, index[i], np.int64),
                    rows={"text": np.asarray([phrases[i]] * n, dtype=object)},
                )
            )
        return found

    # --- automatic masks: the tracker's point grid -------------------------------------------
    def _generate(self, image: np.ndarray, embedding: ImageEmbedding, **params: Any) -> Masks:
        trk = self.tracker_engine()
        return trk._generate(image, trk.embed(image), **params)

    def generate_params(self) -> dict[str, Any]:
        from ..sam.amg import amg_params

        return amg_params()


NEGATIVE_BASE = 1 << 30
"""Internal prompt indices of negative phrases (never in results)."""
NEGATIVE_IOU = 0.5
"""An instance of a phrase is dropped when it overlaps an instance of one of its negative phrases this much."""


def _suppress_negatives(
    rows: list[Masks], prompts: list[Prompt], index: list[int], negatives: list[str]
) -> list[Masks]:
    """Drop negative phrases' rows, and positive instances overlapping an instance of their negatives."""
    from ...geometry import pairwise_mask_iou

    neg_rows = {
        negatives[int(r.prompt_index[0]) - NEGATIVE_BASE]: r
        for r in rows
        if len(r) and r.prompt_index[0] >= NEGATIVE_BASE
    }
    negs_of = {i: set(p.data.get("negative") or []) for i, p in zip(index, prompts)}
    out = []
    for r in rows:
        if not len(r) or r.prompt_index[0] >= NEGATIVE_BASE:
            continue
        avoid = [neg_rows[n].masks for n in negs_of.get(int(r.prompt_index[0]), ()) if n in neg_rows]
        if avoid:
            iou = pairwise_mask_iou(r.masks, np.concatenate(avoid))
            r = r[iou.max(1) < NEGATIVE_IOU]
        out.append(r)
    return out
