"""Loading SAM 3 (``facebook/sam3`` or a ``save_pretrained`` folder) once, with its parts sharing weights.

A SAM 3 folder holds either the whole model (``model_type: sam3_video``: the concept
detector, the SAM 2-style tracker and the tracker's neck, as ``facebook/sam3`` ships it) or
the concept detector alone (``model_type: sam3``, ``Sam3Model.save_pretrained``). Its
processor files (image processor and CLIP tokenizer) sit beside the weights.

:func:`load_sam3` loads the folder once into a :class:`Sam3Models`:

* ``detector``: ``Sam3Model`` (text and exemplar boxes -> every instance);
* ``video``: the ``Sam3VideoModel`` itself (text-driven video tracking), when present;
* :meth:`Sam3Models.tracker` builds ``Sam3TrackerModel`` (points and boxes, SAM 2-style)
  on first use from the same tensors: the detector's ViT backbone, the tracker neck and
  the tracker's prompt encoder and decoder, shared, not copied;
* :meth:`Sam3Models.tracker_video` likewise returns the ``Sam3TrackerVideoModel`` with the
  vision encoder attached (prompted video tracking).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...errors import EngineError

SAM3_MODEL_TYPES = ("sam3", "sam3_video")


@dataclass
class Sam3Models:
    """The loaded parts of one SAM 3 folder (see the module docstring)."""

    folder: Path
    detector: Any
    processor: Any
    video: Any = None
    _tracker: Any = None
    _tracker_video: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def has_tracker(self) -> bool:
        return self.video is not None

    def _need_tracker(self, what: str) -> None:
        if self.video is None:
            raise EngineError(
                f"{self.folder} holds only SAM 3's concept detector (model_type 'sam3'); {what} needs the whole "
                "model (model_type 'sam3_video', as facebook/sam3 ships it: `sam-compose models download sam3`)"
            )

    def tracker(self) -> Any:
        """``Sam3TrackerModel`` for points / boxes / masks on images, weights shared with the rest."""
        self._need_tracker("segmenting points and boxes")
        with self._lock:
            if self._tracker is None:
                from transformers import Sam3TrackerConfig, Sam3TrackerModel

                from ..meta_device import build_with_tensors

                tcfg = self.video.config.tracker_config
                # the tracker sees the detector's backbone through its own neck (built like the detector's)
                sdpa: dict[str, Any] = {"attn_implementation": "sdpa"}
                cfg = Sam3TrackerConfig(
                    vision_config=self.detector.config.vision_config.to_dict(),
                    prompt_encoder_config=tcfg.prompt_encoder_config.to_dict(),
                    mask_decoder_config=tcfg.mask_decoder_config.to_dict(),
                    **sdpa,
                )
                model = build_with_tensors(
                    lambda: Sam3TrackerModel(cfg), self._tracker_tensors(), f"SAM 3 tracker from {self.folder}"
                )
                model.vision_encoder.backbone = self.detector.vision_encoder.backbone  # the same module
                self._tracker = model.to(self.detector.device)
            return self._tracker

    def tracker_video(self) -> Any:
        """``Sam3TrackerVideoModel`` with a vision encoder (prompted video), weights shared."""
        self._need_tracker("tracking prompted objects in video")
        with self._lock:
            if self._tracker_video is None:
                from transformers import Sam3TrackerVideoModel

                from ..meta_device import build_with_tensors

                cfg = self.video.config.tracker_config
                cfg.vision_config = self.detector.config.vision_config
                tensors = self._tracker_tensors()
                tensors.update(self.video.tracker_model.state_dict())
                model = build_with_tensors(
                    lambda: Sam3TrackerVideoModel(cfg), tensors, f"SAM 3 video tracker from {self.folder}"
                )
                model.vision_encoder.backbone = self.detector.vision_encoder.backbone
                self._tracker_video = model.to(self.detector.device)
            return self._tracker_video

    def _tracker_tensors(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in self.detector.vision_encoder.backbone.state_dict().items():
            out[f"vision_encoder.backbone.{k}"] = v
        for k, v in self.video.tracker_neck.state_dict().items():
            out[f"vision_encoder.neck.{k}"] = v
        for k, v in self.video.tracker_model.state_dict().items():
            out.setdefault(k, v)
        return out


def load_sam3(folder: Path, model_type: str, device: str, torch_dtype: Any) -> Sam3Models:
    """Load a SAM 3 folder (``model_type`` from its config.json) onto ``device`` in ``torch_dtype``."""
    import transformers
    from transformers.utils import logging as hf_logging

    from ..hub import check_weights

    check_weights(folder)
    bar = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        processor = transformers.Sam3Processor.from_pretrained(str(folder), local_files_only=True)
        video_cls: Any = transformers.Sam3VideoModel
        detector_cls: Any = transformers.Sam3Model
        if model_type == "sam3_video":
            video = video_cls.from_pretrained(
                str(folder), local_files_only=True, dtype=torch_dtype, attn_implementation="sdpa"
            )
            video = video.to(device).eval()
            detector = video.detector_model
        else:
            video = None
            detector = (
                detector_cls.from_pretrained(
                    str(folder), local_files_only=True, dtype=torch_dtype, attn_implementation="sdpa"
                )
                .to(device)
                .eval()
            )
    except (OSError, ValueError, RuntimeError, KeyError, TypeError) as exc:
        msg = str(exc).strip().splitlines()[0][:240] if str(exc).strip() else type(exc).__name__
        raise EngineError(f"could not load SAM 3 from {folder}: {msg}") from exc
    finally:
        if bar:
            hf_logging.enable_progress_bar()
    return Sam3Models(folder=Path(folder), detector=detector, processor=processor, video=video)
