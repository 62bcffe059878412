"""SAM 2 video tracking through transformers, streaming, with a bounded memory bank.

:class:`Sam2VideoTracker` drives ``transformers.Sam2VideoModel`` one frame at a time with
a ``Sam2VideoInferenceSession`` (the streaming mode: frames are handed to the model as
they arrive, never stored as a whole video). After every frame the session is pruned to
what the model can still read (see :meth:`Sam2VideoTracker._prune`): the current frame's
pixels, the last ``num_maskmem`` memories and ``max_object_pointers_in_encoder`` object
pointers per object, and at most ``max_cond_frames`` prompted (conditioning) frames per
object (the first one and the most recent ones). Memory is therefore flat over any
stream length.

Preprocessing is done here, one frame at a time, as Meta's ``SAM2VideoPredictor`` loads
frames: resized to the model's square input (``config.image_size``) with PIL's bicubic
filter, scaled to [0, 1] and normalised with ImageNet mean and std; points and boxes are
scaled to that square; a box becomes the two corner points with labels 2 and 3 (SAM 2's
convention), placed before the points; masks go in as mask inputs. Tested against Meta's
predictor on the same weights (``tests/test_sam2_video_parity.py``).

The model comes from the SAM 2 engine (``engine=``: a spec or a loaded engine, including
Meta's ``.pt`` checkpoints, see :func:`load_sam2_video`).

An object is reported lost while SAM 2's object score logit is <= 0 (``data["lost"]``),
and re-acquired (``data["reacquired"]``) when it turns positive again.
"""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np

from ....errors import EngineError, InputError, require
from ....geometry import from_lowres, to_lowres
from ....masks import Masks
from .base import ObjectInit, Tracker
from .session_memory import drop_before, prune_object_outputs

# each image engine's matching video model, loaded once and dropped with the engine
_VIDEO_MODELS: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()

__all__ = ["Sam2VideoTracker", "load_sam2_video", "new_video_session", "sam2_frame_pixels"]

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)


_VIDEO_CLASSES = {"sam2": "Sam2VideoModel", "edgetam": "EdgeTamVideoModel"}
_EXAMPLE = {"sam2": "facebook/sam2.1-hiera-tiny", "edgetam": "yonigozlan/EdgeTAM-hf"}
_LABEL = {"sam2": "SAM 2", "edgetam": "EdgeTAM"}
_ARTICLE = {"sam2": "a", "edgetam": "an"}


def load_sam2_video(engine: Any, device: str | None = None, dtype: str | None = None, family: str = "sam2") -> Any:
    """The ``Sam2VideoModel`` (eval mode) behind ``engine``.

    ``engine`` is a SAM 2 engine as every ``engine=`` argument takes it (see
    :func:`sam_compose.engines.resolve_engine`): a spec string (a hub id or short name, a
    ``save_pretrained`` folder, or Meta's ``sam2.1_hiera_*.pt``) or a loaded SAM 2
    :class:`~sam_compose.engines.base.Engine`; a ``Sam2VideoModel`` is used as it is. The
    video model is built once per engine and kept on it.
    """
    require("transformers", feature=f"{_LABEL[family]} video tracking")
    import transformers

    if isinstance(engine, getattr(transformers, _VIDEO_CLASSES[family])):
        return engine.eval()
    from ....engines import resolve_engine
    from ....engines.base import Engine

    if not isinstance(engine, (str, Engine)) or (
        isinstance(engine, str) and engine.strip().lower() in ("opencv", "auto", "")
    ):
        meta = ", Meta's sam2.1_hiera_*.pt" if family == "sam2" else ""
        raise InputError(
            f"the {family} tracker needs {_ARTICLE[family]} {_LABEL[family]} engine: pass engine='{_EXAMPLE[family]}' (or another "
            f"{_LABEL[family]} id, a save_pretrained folder{meta}, or an engine from sc.load_engine of one), "
            f"got {engine!r}"
        )
    eng = resolve_engine(engine, device=device, dtype=dtype)
    return video_model_for(eng, family)


def video_model_for(eng: Any, family: str = "sam2") -> Any:
    """The video model matching a loaded SAM 2 (or EdgeTAM) image engine (same spec, device, dtype); loaded once per engine."""
    import torch

    if getattr(eng, "family", None) != family:
        raise InputError(
            f"the {family} tracker needs {_ARTICLE[family]} {_LABEL[family]} engine, got a "
            f"{getattr(eng, 'name', type(eng).__name__)} engine ({eng.spec!r}); pass "
            f"engine='{_EXAMPLE[family]}' or another {_LABEL[family]} model"
        )
    cached = _VIDEO_MODELS.get(eng)
    if cached is not None:
        return cached
    from pathlib import Path

    from ....engines.hub import resolve_model_dir

    tdt = getattr(torch, eng.dtype)
    path = Path(eng.spec).expanduser()
    if path.is_file():
        from ....engines.sam2.checkpoint import build_sam2_from_checkpoint

        model = build_sam2_from_checkpoint(path, video=True, dtype=tdt)
    else:
        import transformers

        folder = resolve_model_dir(eng.spec)
        try:
            model = getattr(transformers, _VIDEO_CLASSES[family]).from_pretrained(str(folder), dtype=tdt)
        except (OSError, ValueError, KeyError) as exc:
            raise EngineError(f"could not load a {_LABEL[family]} video model from {folder}: {exc}") from exc
    model = model.to(torch.device(eng.device)).eval()
    # share the image encoder, prompt encoder and decoder with the engine's model (one copy in memory)
    own = model.state_dict()
    shared = {k: v for k, v in eng.model.state_dict().items() if k in own and own[k].shape == v.shape}
    model.load_state_dict(shared, strict=False, assign=True)
    if family == "sam2":
        from ....engines.sam2.vision import speed_up_sam2

        speed_up_sam2(model)
    _VIDEO_MODELS[eng] = model
    return model


def sam2_frame_pixels(frame: np.ndarray, size: int) -> Any:
    """(H, W, 3) uint8 -> (1, 3, size, size) float32, as Meta's video predictor loads frames:
    PIL bicubic resize, scaled to [0, 1], ImageNet mean and std."""
    import torch
    from PIL import Image

    x = (
        np.asarray(
            Image.fromarray(np.ascontiguousarray(frame)).resize((size, size), Image.Resampling.BICUBIC), np.float32
        )
        / 255.0
    )
    x = (x - IMAGENET_MEAN) / IMAGENET_STD
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None]


def new_video_session(session_cls: Any, model: Any, size: tuple[int, int] | None) -> Any:
    """A ``transformers`` video inference session (``session_cls``) for frames of ``size`` (H, W):
    inputs, state and frames on ``model``'s device in its dtype, one frame's vision features cached."""
    if size is None:
        raise RuntimeError("a tracking session starts with the first frame, whose size sets the video's")
    h, w = size
    device = model.device
    return session_cls(
        video_height=h,
        video_width=w,
        inference_device=device,
        inference_state_device=device,
        video_storage_device=device,
        dtype=model.dtype,
        max_vision_features_cache_size=1,
    )


class Sam2VideoTracker(Tracker):
    """SAM 2 video propagation (see the module docstring).

    Args:
        engine: the SAM 2 engine (a spec string or a loaded SAM 2 engine, see
            :func:`load_sam2_video`), or a ``Sam2VideoModel``.
        device, dtype: where and how the model runs (used when ``engine`` is a spec).
        max_cond_frames: prompted frames kept per object (the first and the most recent).
        keep_logits: attach (N, 256, 256) logits in SAM's low-res frame to each result.
    """

    name = "sam2"

    def __init__(
        self,
        engine: Any,
        *,
        device: str | None = None,
        dtype: str | None = None,
        max_cond_frames: int = 4,
        keep_logits: bool = False,
    ) -> None:
        super().__init__()
        if int(max_cond_frames) < 1:
            raise InputError(f"max_cond_frames must be at least 1, got {max_cond_frames}")
        self.model = self._load_model(engine, device, dtype)
        cfg = self.model.config
        size = cfg.image_size
        self.input_size = int(size[0] if isinstance(size, (list, tuple)) else size)
        self.max_cond_frames = int(max_cond_frames)
        self.keep_logits = bool(keep_logits)
        self.keep_recent = max(int(cfg.num_maskmem), int(cfg.max_object_pointers_in_encoder), 1)
        self._reset_state()

    def _reset_state(self) -> None:
        self._session: Any = None
        self._was_lost: set[int] = set()
        self._last_masks: dict[int, np.ndarray] = {}

    # --- hooks for the SAM 2 family (SAM 3's tracker and EdgeTAM override them) -----------------
    def _load_model(self, engine: Any, device: str | None, dtype: str | None) -> Any:
        """The video model behind ``engine`` (here: ``Sam2VideoModel``, see :func:`load_sam2_video`)."""
        return load_sam2_video(engine, device=device, dtype=dtype)

    def _session_class(self) -> Any:
        from transformers.models.sam2_video.modeling_sam2_video import Sam2VideoInferenceSession

        return Sam2VideoInferenceSession

    # --- session ----------------------------------------------------------------------------
    def _new_session(self) -> Any:
        return new_video_session(self._session_class(), self.model, self.size)

    def _pixels(self, frame: np.ndarray) -> Any:
        """(H, W, 3) uint8 -> (1, 3, s, s) on the model's device (see :func:`sam2_frame_pixels`)."""
        return sam2_frame_pixels(frame, self.input_size).to(self.model.device, self.model.dtype)

    def _add_inputs(self, obj: ObjectInit, frame: np.ndarray) -> None:
        import torch

        sess = self._session
        idx = sess.obj_id_to_idx(obj.obj_id)
        f = self.frame_index
        h, w = frame.shape[:2]
        s = self.input_size
        mask = obj.mask
        p = obj.prompt
        if mask is None and p is not None and p.points is None and p.box is None and p.mask is not None:
            mask = from_lowres(p.mask, (h, w)) > 0  # a logits-only prompt: use it as a mask input
        if mask is not None:
            m = torch.from_numpy(np.asarray(mask, np.float32))[None, None]
            if m.shape[-2:] != (s, s):  # as Meta's add_new_mask: antialiased bilinear, then >= 0.5
                m = torch.nn.functional.interpolate(
                    m, size=(s, s), mode="bilinear", align_corners=False, antialias=True
                )
                m = (m >= 0.5).float()
            sess.add_mask_inputs(idx, f, m.to(self.model.device))
            sess.remove_point_inputs(idx, f)
        elif p is not None:
            p = p.validate_for((h, w))
            coords, labels = [], []
            if p.box is not None:
                x0, y0, x1, y1 = (float(v) for v in p.box)
                coords += [[x0, y0], [x1, y1]]
                labels += [2, 3]
            if p.points is not None and p.labels is not None:
                coords += p.points.tolist()
                labels += p.labels.tolist()
            c = torch.tensor(coords, dtype=torch.float32) / torch.tensor([w, h]) * s  # Meta's arithmetic
            sess.add_point_inputs(
                idx,
                f,
                {
                    "point_coords": c[None, None].to(self.model.device),
                    "point_labels": torch.tensor(labels, dtype=torch.int32)[None, None].to(self.model.device),
                },
            )
            sess.remove_mask_inputs(idx, f)
        if obj.obj_id not in sess.obj_with_new_inputs:
            sess.obj_with_new_inputs.append(obj.obj_id)

    def _prune(self) -> None:
        """Drop everything the model can no longer read, so memory stays flat."""
        sess = self._session
        f = self.frame_index
        for k in [k for k in sess.processed_frames or {} if k != f]:
            del sess.processed_frames[k]
        # the next frame (f + 1) reads memories and object pointers back to f + 1 - (keep_recent - 1)
        horizon = f + 2 - self.keep_recent
        for idx in list(sess.output_dict_per_obj):
            prune_object_outputs(sess.output_dict_per_obj[idx], horizon, self.max_cond_frames)
            drop_before(sess.frames_tracked_per_obj[idx], horizon)
            for store in (sess.point_inputs_per_obj[idx], sess.mask_inputs_per_obj[idx]):
                drop_before(store, f)

    def memory_footprint(self) -> dict[str, int]:
        """Counts of what the session holds (frames, memories, prompted frames), for tests and logs."""
        sess = self._session
        if sess is None:
            return {"frames": 0, "memories": 0, "cond_frames": 0}
        return {
            "frames": len(sess.processed_frames or {}),
            "memories": sum(len(o["non_cond_frame_outputs"]) for o in sess.output_dict_per_obj.values()),
            "cond_frames": sum(len(o["cond_frame_outputs"]) for o in sess.output_dict_per_obj.values()),
        }

    # --- the step -----------------------------------------------------------------------------------
    def _step(
        self, frame: np.ndarray, added: list[ObjectInit], corrections: dict[int, ObjectInit], removed: set[int]
    ) -> Masks:
        import torch

        h, w = frame.shape[:2]
        if self._session is None:
            self._session = self._new_session()
        if removed:
            # the session cannot drop one object: start a new one from the others' last masks
            keep = {k: m for k, m in self._last_masks.items() if k not in removed}
            self._session = self._new_session()
            self._last_masks = {}
            self._was_lost -= removed
            for k, m in keep.items():
                if k not in corrections and m.any():
                    self._add_inputs(ObjectInit(k, mask=m), frame)
        for obj in added:
            self._add_inputs(obj, frame)
        for obj in corrections.values():
            self._add_inputs(obj, frame)
        sess = self._session
        if sess.get_obj_num() == 0:
            return Masks(np.zeros((0, h, w), bool), ids=np.zeros(0, np.int64), data={"lost": [], "engine": self.name})
        with torch.inference_mode():
            out = self.model(inference_session=sess, frame=self._pixels(frame), frame_idx=self.frame_index)
        self._prune()
        obj_ids = [int(o) for o in out.object_ids]
        low = out.pred_masks.float()  # (N, 1, s/4, s/4) logits
        full = torch.nn.functional.interpolate(low, size=(h, w), mode="bilinear", align_corners=False)[:, 0]
        full_np = full.cpu().numpy()
        present = (out.object_score_logits.float().reshape(-1) > 0).cpu().numpy()
        obj_scores = torch.sigmoid(out.object_score_logits.float().reshape(-1)).cpu().numpy()
        rows, lost, reacquired = [], [], []
        for i, oid in enumerate(obj_ids):
            m = full_np[i] > 0
            if present[i] and m.any():
                rows.append(i)
                self._last_masks[oid] = m
                if oid in self._was_lost:
                    reacquired.append(oid)
                    self._was_lost.discard(oid)
            else:
                lost.append(oid)
                self._was_lost.add(oid)
        data = {
            "lost": sorted(lost),
            "lost_reasons": {k: "not_visible" for k in lost},
            "reacquired": sorted(reacquired),
            "engine": self.name,
            "prompts": [],
            "memory": self.memory_footprint(),
        }
        if not rows:
            return Masks(np.zeros((0, h, w), bool), ids=np.zeros(0, np.int64), data=data)
        masks = np.stack([full_np[i] > 0 for i in rows])
        logits = None
        if self.keep_logits:
            logits = np.stack([np.clip(to_lowres(full_np[i], (h, w), pad_value=-20.0), -20, 20) for i in rows])
        order = np.argsort([obj_ids[i] for i in rows])
        return Masks(
            masks[order],
            scores=obj_scores[rows][order],
            logits=None if logits is None else logits[order],
            ids=np.asarray([obj_ids[i] for i in rows])[order],
            data=data,
        )
