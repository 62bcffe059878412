"""The ``onnx:DIR`` engine: an export of ``sam-compose export onnx`` run with onnxruntime.

Behind the same :class:`~sam_compose.engines.base.Engine` protocol as the PyTorch engines:
the embedding (the encoder's outputs) is cached per image, prompts are grouped and
decoded in batches, ``multimask`` picks rows 1..3 of the decoder's four, post-processing to
the original size and automatic masks are shared with the SAM engines
(:class:`~.sam_family.SamFamilyEngine`), so results compare row for row.

    eng = sc.load_engine("onnx:exports/sam-vit-base")
    eng.segment(image, sc.Prompt(points=[[320, 240]]))
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ...errors import EngineError
from ...geometry import LOWRES_SIZE, SAM_INPUT_SIZE
from ...masks import Masks
from ..cache import EmbeddingCache
from ..sam.family import SamFamilyEngine
from ..sam.transforms import upsample_masks_cv2

PREFIX = "onnx:"
SPLIT_PREFIX = "split:"
"""Key prefix of the decoder's image-side tensors in the cached features."""
DECODE_CHUNK = 4
"""Prompts per onnxruntime decoder call: per-prompt activations are 4096 x 256 floats."""


class OnnxEngine(SamFamilyEngine):
    """SAM v1 / SlimSAM / SAM-HQ exports (padded input frame)."""

    name = "onnx"

    def __init__(self, bundle: Any, spec: str, device: str = "cpu", cache: EmbeddingCache | None = None) -> None:
        manifest = bundle.manifest
        super().__init__(None, spec, device=device, dtype="float32", cache=cache, family=manifest.family)
        self.bundle = bundle
        self.folder = bundle.folder
        self.manifest = manifest
        self.lowres_frame = manifest.lowres_frame
        self.pad_always = manifest.family == "sam2"
        self.sort_candidates = manifest.family == "sam_hq"
        self.encoder_outputs = tuple(o.name for o in bundle.encoder.get_outputs())
        self.decoder_inputs = tuple(i.name for i in bundle.decoder.get_inputs())
        self.split = bundle.split

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d.update(
            model_id=self.manifest.model_id, precision=self.manifest.precision, providers=list(self.bundle.providers)
        )
        return d

    # --- embedding ----------------------------------------------------------------------
    def _pixel_values(self, image: np.ndarray) -> np.ndarray:
        from ..sam.transforms import sam_pixel_values

        return sam_pixel_values(image).numpy()

    def _encode(self, image: np.ndarray) -> dict[str, Any]:
        import torch

        outs = self.bundle.encoder.run(None, {"pixel_values": self._pixel_values(image)})
        feats = {name: np.ascontiguousarray(a) for name, a in zip(self.encoder_outputs, outs)}
        if self.split is not None:  # the decoder's image-only tensors, once per image (see split.py)
            image_side = self.split.image_session.run(None, {k: feats[k] for k in self.split.image_inputs})
            feats.update({SPLIT_PREFIX + k: np.ascontiguousarray(a) for k, a in zip(self.split.frontier, image_side)})
        return {name: torch.from_numpy(a) for name, a in feats.items()}

    # --- decoding -----------------------------------------------------------------------
    def prompt_arrays(self, points, labels, boxes, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(n, K, 2) input-frame points, (n, K) labels, (n, 4) boxes (any may be None) -> the
        decoder's ``point_coords`` (n, K', 2) and ``point_labels`` (n, K').

        SAM / SAM-HQ: points, then box corners (labels 2, 3), then a padding point (label -1)
        when there is no box. SAM 2: box corners, then points, then always a padding point. A
        prompt with only a mask has no points at all (K' = 0), as in the reference predictors.
        """
        xy: list[np.ndarray] = []
        lab: list[np.ndarray] = []
        if points is not None:
            xy.append(np.asarray(points, dtype=np.float32).reshape(n, -1, 2))
            lab.append(np.asarray(labels, dtype=np.float32).reshape(n, -1))
        if boxes is not None:
            at = 0 if self.pad_always else len(xy)
            xy.insert(at, np.asarray(boxes, dtype=np.float32).reshape(n, 2, 2))
            lab.insert(at, np.tile(np.array([[2.0, 3.0]], np.float32), (n, 1)))
        if not xy:
            return np.zeros((n, 0, 2), np.float32), np.zeros((n, 0), np.float32)
        if self.pad_always or boxes is None:
            xy.append(np.zeros((n, 1, 2), np.float32))
            lab.append(np.full((n, 1), -1.0, np.float32))
        return np.concatenate(xy, 1), np.concatenate(lab, 1)

    def decode_group(self, feats, points, labels, boxes, masks, multimask):
        import torch

        n = (points if points is not None else boxes if boxes is not None else masks).shape[0]
        coords, labs = self.prompt_arrays(_numpy(points), _numpy(labels), _numpy(boxes), n)
        if masks is not None:
            mask_in = np.ascontiguousarray(_numpy(masks), dtype=np.float32).reshape(n, 1, LOWRES_SIZE, LOWRES_SIZE)
            has = np.ones(n, np.float32)
        elif self.split is None:
            mask_in = np.zeros((n, 1, LOWRES_SIZE, LOWRES_SIZE), np.float32)
            has = np.zeros(n, np.float32)
        split = self.split if masks is None else None
        if split is not None:  # no mask prompt: the per-prompt part of the decoder on the cached image side
            image_side = {k: feats[SPLIT_PREFIX + k].numpy() for k in split.frontier}
            image_side.update({k: feats[k].numpy() for k in split.passthrough})
            session = split.prompt_session
        else:
            image_side = {k: feats[k].numpy() for k in self.encoder_outputs}  # views of the cached tensors
            session = self.bundle.decoder
        lows, ious = [], []
        for i in range(0, n, DECODE_CHUNK):
            feed = dict(image_side)
            feed.update(point_coords=coords[i : i + DECODE_CHUNK], point_labels=labs[i : i + DECODE_CHUNK])
            if split is None:
                feed.update(mask_input=mask_in[i : i + DECODE_CHUNK], has_mask_input=has[i : i + DECODE_CHUNK])
            low, iou = session.run(None, feed)
            lows.append(low)
            ious.append(iou)
        low = lows[0] if len(lows) == 1 else np.concatenate(lows)
        iou = ious[0] if len(ious) == 1 else np.concatenate(ious)
        if not multimask:
            return torch.from_numpy(np.ascontiguousarray(low[:, :1])), torch.from_numpy(
                np.ascontiguousarray(iou[:, :1])
            )
        low, iou = low[:, 1:], iou[:, 1:]
        if self.sort_candidates:  # SAM-HQ: candidates best first, as its predictor returns them
            order = np.argsort(-iou, axis=1, kind="stable")
            low = np.take_along_axis(low, order[:, :, None, None], 1)
            iou = np.take_along_axis(iou, order, 1)
        return torch.from_numpy(np.ascontiguousarray(low)), torch.from_numpy(np.ascontiguousarray(iou))

    def _decode(self, image: np.ndarray, embedding: Any, prompts: list, multimask: bool) -> Masks:
        """As the SAM engines' ``_decode``, with the upsampling to the image size done by OpenCV
        on the decoder's numpy output (:func:`~.sam_transforms.upsample_masks_cv2`)."""
        size = embedding.image_size
        lowres, ious = self.decode_lowres(embedding, prompts, multimask)
        n, m_out = ious.shape
        flat = lowres.reshape(n * m_out, *lowres.shape[-2:])
        masks = upsample_masks_cv2(flat.numpy(), size, self.lowres_frame)
        padded = self.lowres_to_padded(flat, size)
        return Masks(
            masks, scores=ious.reshape(-1).numpy(), logits=padded.numpy(), prompt_index=np.repeat(np.arange(n), m_out)
        )


def _numpy(t: Any) -> np.ndarray | None:
    return None if t is None else t.detach().cpu().numpy()


def _sam2_engine_class() -> type:
    """SAM 2 exports: the stretched input frame and whole-image low-res logits of the SAM 2 engine."""
    from ..sam.transforms import sam2_pixel_values
    from ..sam2.image import Sam2Engine

    class OnnxSam2Engine(OnnxEngine):
        input_size = SAM_INPUT_SIZE  # what Sam2Engine's frame methods read
        to_input_frame_points = Sam2Engine.to_input_frame_points
        to_input_frame_boxes = Sam2Engine.to_input_frame_boxes
        _input_size = Sam2Engine._input_size
        _mask_to_model_frame = Sam2Engine._mask_to_model_frame
        lowres_to_padded = Sam2Engine.lowres_to_padded

        def _pixel_values(self, image: np.ndarray) -> np.ndarray:
            return sam2_pixel_values(image).numpy()

    return OnnxSam2Engine


def providers_for(device: str) -> tuple[str, ...]:
    """onnxruntime execution providers for ``device`` (``cpu`` or ``cuda``)."""
    from .bundle import onnxruntime

    ort = onnxruntime()
    available = ort.get_available_providers()
    if device == "cpu":
        return ("CPUExecutionProvider",)
    if device.startswith("cuda"):
        if "CUDAExecutionProvider" not in available:
            raise EngineError(
                f"device {device!r} needs onnxruntime with CUDA (pip install onnxruntime-gpu); "
                f"this onnxruntime offers {available}: use device='cpu'"
            )
        return ("CUDAExecutionProvider", "CPUExecutionProvider")
    raise EngineError(f"the onnx engine runs on cpu or cuda, not {device!r}")


def default_device() -> str:
    """``cuda`` when onnxruntime and torch both have it, else ``cpu``."""
    try:
        import onnxruntime as ort
        import torch
    except ImportError:
        return "cpu"
    if "CUDAExecutionProvider" in ort.get_available_providers() and torch.cuda.is_available():
        return "cuda"
    return "cpu"


def load_onnx_engine(spec: str, device: str = "cpu", dtype: str = "float32") -> OnnxEngine:
    """The engine for ``onnx:DIR`` (see :func:`sam_compose.engines.onnx.bundle.open_bundle` for the checks)."""
    from .bundle import open_bundle

    folder = spec.strip()[len(PREFIX) :].strip()
    if not folder:
        raise EngineError("onnx: needs a folder, e.g. onnx:exports/sam-vit-base (made by `sam-compose export onnx`)")
    if dtype not in (None, "float32"):
        raise EngineError(
            f"an onnx: engine's precision is fixed by its files (float32 or int8 from "
            f"`sam-compose export onnx --quantize int8`); got dtype={dtype!r}"
        )
    bundle = open_bundle(os.path.expanduser(folder), providers_for(device))
    cls = _sam2_engine_class() if bundle.manifest.family == "sam2" else OnnxEngine
    return cls(bundle, spec.strip(), device=device)
