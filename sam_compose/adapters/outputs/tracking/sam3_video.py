"""SAM 3 video tracking: ``track(frames, sc.Prompt(text="car"), tracker="sam3", engine="facebook/sam3")``.

Two routes, chosen by what starts the stream:

* **concepts** (``Prompt(text=...)``): :class:`Sam3ConceptTracker` drives
  ``transformers.Sam3VideoModel`` one frame at a time: the detector finds every instance
  of each phrase on every frame, the tracker follows them, new instances get new ids and
  vanished ones are dropped (SAM 3's own detection-tracking fusion, hot-start and
  occlusion logic). Each row of a result is one instance; ``ids`` are SAM 3's object ids,
  ``rows["text"]`` the phrase that found it, ``scores`` its detection score.
* **objects** (masks, points, boxes): :class:`~.family_video.Sam3PromptTracker`, SAM 3's
  tracker on SAM 2's streaming machinery.

:class:`Sam3VideoTracker` (``tracker="sam3"``) picks the route from the first objects added;
the two cannot be mixed in one stream.

Memory stays flat over any stream length: after each frame the session keeps only the
current frame's pixels (earlier frames leave an empty entry: SAM 3 reads the frame count), each object's last ``num_maskmem`` memories and at most
``max_cond_frames`` prompted frames, and the per-frame bookkeeping (scores, suppressions,
unmatched frames) of the last ``hotstart_delay`` frames that SAM 3's hot-start reads.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ....errors import InputError
from ....masks import Masks
from .base import ObjectInit, Tracker
from .family_video import Sam3PromptTracker, sam3_engine_for
from .sam2_video import new_video_session
from .session_memory import drop_before, prune_object_outputs

__all__ = ["Sam3ConceptTracker", "Sam3VideoTracker"]


class Sam3ConceptTracker(Tracker):
    """Every instance of text concepts through a video (see the module docstring).

    Args:
        engine: the SAM 3 engine (spec or loaded engine).
        max_cond_frames: conditioning frames kept per object.
    """

    name = "sam3"

    def __init__(
        self, engine: Any, *, device: str | None = None, dtype: str | None = None, max_cond_frames: int = 4
    ) -> None:
        super().__init__()
        self.engine = sam3_engine_for(engine, device, dtype)
        self.model = self.engine.models.video
        if self.model is None:
            self.engine.models._need_tracker("tracking text concepts in video")
        cfg = self.model.config.tracker_config
        self.keep_recent = max(int(cfg.num_maskmem), int(cfg.max_object_pointers_in_encoder), 1)
        self.keep_meta = max(int(self.model.hotstart_delay), 1) + 1
        self.max_cond_frames = max(1, int(max_cond_frames))
        self._reset_state()

    def _reset_state(self) -> None:
        self._session: Any = None
        self._processor: Any = None
        self._concepts: dict[int, str] = {}  # concept id (from add) -> phrase
        self._dropped: set[str] = set()

    def _video_processor(self) -> Any:
        if self._processor is None:
            from transformers import Sam3VideoProcessor
            from transformers.models.sam2_video.video_processing_sam2_video import Sam2VideoVideoProcessor

            ip = self.engine.processor.image_processor
            self._processor = Sam3VideoProcessor(
                image_processor=ip,
                tokenizer=self.engine.processor.tokenizer,
                video_processor=Sam2VideoVideoProcessor(size=dict(ip.size)),
            )
        return self._processor

    def _new_session(self) -> Any:
        from transformers.models.sam3_video.modeling_sam3_video import Sam3VideoInferenceSession

        return new_video_session(Sam3VideoInferenceSession, self.model, self.size)

    def _add_concept(self, obj: ObjectInit) -> None:
        p = obj.prompt
        if p is None or p.text is None:
            raise InputError(
                "the sam3 concept tracker follows text prompts; objects given as masks, points or boxes "
                "start a separate tracker.add(...) stream (tracker='sam3' without text)"
            )
        if p.exemplars is not None:
            raise InputError("SAM 3 video takes text concepts; exemplar boxes work on single images only")
        self._concepts[obj.obj_id] = p.text
        self._dropped.discard(p.text)
        self._video_processor().add_text_prompt(self._session, p.text)

    def _prune(self) -> None:
        """Drop what SAM 3 can no longer read (see the module docstring)."""
        sess = self._session
        f = self.frame_index
        for k in [k for k, v in (sess.processed_frames or {}).items() if k != f and v is not None]:
            sess.processed_frames[k] = None  # the pixels go; the key stays: SAM 3 reads the frame count
        horizon = f + 2 - self.keep_recent
        for out in sess.output_dict_per_obj.values():
            prune_object_outputs(out, horizon, self.max_cond_frames)
        for tracked in sess.frames_tracked_per_obj.values():
            drop_before(tracked, horizon)
        meta = f + 1 - self.keep_meta
        for store in (sess.obj_id_to_tracker_score_frame_wise, sess.suppressed_obj_ids):
            drop_before(store, meta)
        for frames in list(sess.unmatched_frame_inds.values()) + list(sess.overlap_pair_to_frame_inds.values()):
            frames[:] = [k for k in frames if k >= meta]

    def memory_footprint(self) -> dict[str, int]:
        """Counts of what the session holds (frames, memories, prompted frames, per-frame records)."""
        sess = self._session
        if sess is None:
            return {"frames": 0, "memories": 0, "cond_frames": 0, "frame_records": 0}
        outs = sess.output_dict_per_obj.values()
        return {
            "frames": sum(v is not None for v in (sess.processed_frames or {}).values()),
            "memories": sum(len(o["non_cond_frame_outputs"]) for o in outs),
            "cond_frames": sum(len(o["cond_frame_outputs"]) for o in outs),
            "frame_records": len(sess.obj_id_to_tracker_score_frame_wise) + len(sess.suppressed_obj_ids),
        }

    def _step(
        self, frame: np.ndarray, added: list[ObjectInit], corrections: dict[int, ObjectInit], removed: set[int]
    ) -> Masks:
        import torch

        h, w = frame.shape[:2]
        if corrections:
            raise InputError("correct() is not available for text concepts; add a new phrase instead")
        if self._session is None:
            self._session = self._new_session()
        for oid in removed:
            if oid in self._concepts:
                self._dropped.add(self._concepts.pop(oid))
        for obj in added:
            self._add_concept(obj)
        data: dict[str, Any] = {"engine": "sam3", "lost": [], "prompts": []}

        def empty() -> Masks:
            return Masks(
                np.zeros((0, h, w), bool),
                ids=np.zeros(0, np.int64),
                data=data,
                rows={"text": np.zeros(0, dtype=object)},
            )

        if not self._concepts:
            return empty()
        proc = self._video_processor()
        pix = proc.image_processor(images=frame, return_tensors="pt")["pixel_values"]
        with torch.inference_mode():
            out = self.model(inference_session=self._session, frame=pix, frame_idx=self.frame_index)
            post = proc.postprocess_outputs(self._session, out, original_sizes=[[h, w]])
        self._prune()
        ids = post["object_ids"].cpu().numpy().astype(np.int64)
        phrase_of = {int(i): t for t, objs in post["prompt_to_obj_ids"].items() for i in objs}
        texts = np.asarray([phrase_of.get(int(i), "") for i in ids], dtype=object)
        keep = np.asarray([t not in self._dropped for t in texts], dtype=bool)
        data["memory"] = self.memory_footprint()
        data["concepts"] = dict(self._concepts)
        if not keep.any():
            return empty()
        return Masks(
            post["masks"].cpu().numpy()[keep],
            scores=post["scores"].float().cpu().numpy()[keep],
            ids=ids[keep],
            data=data,
            rows={"text": texts[keep]},
        )


class Sam3VideoTracker(Tracker):
    """``tracker="sam3"``: concepts through :class:`Sam3ConceptTracker`, objects through
    :class:`~.family_video.Sam3PromptTracker` (decided by the first objects added)."""

    name = "sam3"

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
        self._args = (engine, device, dtype, int(max_cond_frames), bool(keep_logits))
        sam3_engine_for(engine, device, dtype)  # fail early on a wrong engine
        self._inner: Tracker | None = None

    def _route(self, items: list[ObjectInit]) -> Tracker:
        concept = [o.prompt is not None and o.prompt.is_concept for o in items]
        if self._inner is None:
            engine, device, dtype, max_cond, keep_logits = self._args
            if all(concept):
                self._inner = Sam3ConceptTracker(engine, device=device, dtype=dtype, max_cond_frames=max_cond)
            elif not any(concept):
                self._inner = Sam3PromptTracker(
                    engine, device=device, dtype=dtype, max_cond_frames=max_cond, keep_logits=keep_logits
                )
        want = Sam3ConceptTracker if any(concept) else Sam3PromptTracker
        if self._inner is None or (items and (any(concept) != all(concept) or not isinstance(self._inner, want))):
            raise InputError(
                "one sam3 stream follows either text concepts or objects given as masks / points / "
                "boxes, not both; track them in two streams"
            )
        return self._inner

    def _step(
        self, frame: np.ndarray, added: list[ObjectInit], corrections: dict[int, ObjectInit], removed: set[int]
    ) -> Masks:
        if self._inner is None and not added:
            h, w = frame.shape[:2]
            return Masks(np.zeros((0, h, w), bool), ids=np.zeros(0, np.int64), data={"engine": "sam3", "lost": []})
        inner = self._route(added) if added else self._inner
        if inner is None:  # pragma: no cover - handled above
            raise InputError("sam3: nothing to track yet")
        inner.size = self.size
        inner.frame_index = self.frame_index
        return inner._step(frame, added, corrections, removed)

    def _reset_state(self) -> None:
        self._inner = None

    def memory_footprint(self) -> dict[str, int]:
        fp = getattr(self._inner, "memory_footprint", None)
        return fp() if fp is not None else {"frames": 0, "memories": 0, "cond_frames": 0}
