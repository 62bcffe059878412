"""What the demo does, without any UI: load, segment, generate, export, with timings.

Both the page's event handlers (:mod:`.handlers`) and the named API endpoints
(:mod:`.api`) call these functions; they in turn call the library (engine, prompt
adapters, output adapters). Images are (H, W, 3) uint8 RGB; points (x, y) and boxes
xyxy are pixels of that image.
"""

from __future__ import annotations

import json
import os
import time
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..engines.base import Engine
from ..errors import ImageError, InputError, PromptError
from ..image_io import load_image
from ..masks import Masks
from ..security.paths import PathGuard
from .state import DEMO_MAX_SIDE


class EngineSource:
    """Gives handlers their engine and their workspace.

    The engine: a given :class:`Engine` instance, or ``shared_engine(spec)`` resolved on
    first use (so building the page is instant); every session then shares the one engine
    and its embedding cache. The workspace (:class:`~sam_compose.app.sessions.DemoWorkspace`)
    gives each session its folder and its path guard.
    """

    picker: Any = None
    """An :class:`~.engine_picker.EnginePicker` shared by the page's tabs, once the user picks an engine."""

    def __init__(self, engine: str | Engine = "auto", *, workspace: Any = None) -> None:
        if isinstance(engine, Engine):
            self._engine: Engine | None = engine
            self.engine_spec = engine.spec
        elif isinstance(engine, str) and engine.strip():
            self._engine = None
            self.engine_spec = engine.strip()
        else:
            raise InputError(f"engine must be an engine spec such as 'opencv' or an Engine, got {engine!r}")
        if workspace is None:
            from .sessions import default_workspace

            workspace = default_workspace()
        self.workspace = workspace

    @property
    def engine(self) -> Engine:
        if self.picker is not None and self.picker.chosen:
            from ..engines import shared_engine

            return shared_engine(self.picker.spec)
        if self._engine is None:
            from ..engines import shared_engine

            return shared_engine(self.engine_spec)
        return self._engine

    def guard(self, state: Any) -> PathGuard:
        """The path guard of ``state``'s session (see :mod:`.sessions`)."""
        return self.workspace.guard(state.session_id)


def work_dir(session: str = "api") -> Path:
    """A folder for ``session`` in the process-wide workspace (kept for callers of earlier releases;
    handlers use their workspace's :meth:`~sam_compose.app.sessions.DemoWorkspace.session_folder`)."""
    from .sessions import default_workspace

    ws = default_workspace()
    if session == "api":
        return ws.call_folder("api")
    return ws.session_folder(session)


def prepare_image(
    source: Any, name: str | None = None, *, guard: PathGuard | None = None, max_side: int | None = DEMO_MAX_SIDE
) -> tuple[np.ndarray, str]:
    """Load an upload, a path or ``sample:NAME`` as an RGB array.

    A path goes through ``guard`` first (when given): it must be inside the demo's
    folders. Non-images raise :class:`ImageError` with a clear message. With ``max_side``,
    images whose longer side exceeds it are downscaled (with a warning saying so) so clicks
    stay fast; ``max_side=None`` keeps the full size (the API endpoints do, so their answers
    are in the uploaded image's frame). Images over the library's limits are refused by
    :func:`load_image` from their header.
    """
    if source is None:
        raise ImageError("no image given: upload a photo or pick an example")
    if isinstance(source, (str, os.PathLike)) and not str(source).startswith("sample:"):
        label = name or Path(source).name
        if guard is not None:
            source = guard.read(source, "image")
    else:
        label = name or (str(source) if isinstance(source, str) else "image")
    try:
        image = load_image(source)
    except ImageError as exc:
        if isinstance(source, (str, os.PathLike)):  # name the upload, not gradio's temporary path
            raise type(exc)(str(exc).replace(str(source), Path(source).name)) from None
        raise
    h, w = image.shape[:2]
    if max_side is not None and max(h, w) > max_side:
        s = max_side / max(h, w)
        nw, nh = max(1, round(w * s)), max(1, round(h * s))
        image = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA)
        warnings.warn(
            f"{label} is {w}x{h} pixels; shown downscaled to {nw}x{nh} in the page "
            f"(downloads are mapped back to {w}x{h}; the API endpoints work at full size)",
            stacklevel=2,
        )
    return image, label


def resize_masks(masks: Masks, size: tuple[int, int]) -> Masks:
    """``masks`` mapped to an image of ``size`` (H, W): nearest-neighbour masks, boxes recomputed.

    Low-res logits are dropped (they belong to the frame the masks were computed in);
    ``data`` records ``computed_at`` (H, W) and ``mapped_to`` (H, W).
    """
    h, w = int(size[0]), int(size[1])
    if tuple(masks.image_size) == (h, w):
        return masks
    if len(masks):
        resized = np.stack(
            [cv2.resize(m.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) > 0 for m in masks.masks]
        )
    else:
        resized = np.zeros((0, h, w), bool)
    data = {**dict(masks.data), "computed_at": list(masks.image_size), "mapped_to": [h, w]}
    return Masks(
        resized, scores=masks.scores, prompt_index=masks.prompt_index, ids=masks.ids, data=data, rows=dict(masks.rows)
    )


def parse_prompt_json(text: str | dict | None) -> dict[str, Any]:
    """Parse a prompt request such as ``{"points": [[x, y]], "labels": [1], "box": [x0, y0, x1, y1]}``.

    Accepted keys: ``points``, ``labels``, ``box`` (one) or ``boxes`` (several), ``text``,
    ``multimask``. Returns keyword arguments for :func:`segment` (``boxes`` always a list).
    """
    if text is None or (isinstance(text, str) and not text.strip()):
        raise PromptError('empty prompt: send JSON such as {"points": [[120, 80]], "labels": [1]}')
    from ..security.documents import check_document, parse_json

    if isinstance(text, str):
        try:
            doc = parse_json(text, "the prompt")  # within the document limits (size, nesting, numbers)
        except json.JSONDecodeError as exc:
            raise PromptError(
                f"prompt is not valid JSON ({exc.msg} at character {exc.pos}); "
                'expected e.g. {"points": [[120, 80]], "labels": [1]}'
            ) from exc
    else:
        check_document(text, "the prompt")
        doc = text
    if not isinstance(doc, dict):
        raise PromptError(f"prompt must be a JSON object, got {type(doc).__name__}")
    allowed = {"points", "labels", "box", "boxes", "text", "multimask"}
    unknown = sorted(set(doc) - allowed)
    if unknown:
        raise PromptError(f"unknown prompt key(s) {unknown}; use {sorted(allowed)}")
    out: dict[str, Any] = {}
    if doc.get("points") is not None:
        out["points"] = doc["points"]
    if doc.get("labels") is not None:
        out["labels"] = doc["labels"]
    boxes: list[Any] = []
    if doc.get("box") is not None:
        boxes.append(doc["box"])
    if doc.get("boxes") is not None:
        if not isinstance(doc["boxes"], list):
            raise PromptError("boxes must be a list of [x0, y0, x1, y1]")
        boxes.extend(doc["boxes"])
    if boxes:
        out["boxes"] = boxes
    if doc.get("text"):
        out["text"] = str(doc["text"])
    if doc.get("multimask") is not None:
        out["multimask"] = bool(doc["multimask"])
    return out


@dataclass
class Outcome:
    """A result with what the user sees about it: the masks, timings and the prompts used."""

    masks: Masks
    timings: dict[str, Any] = field(default_factory=dict)

    def latency_text(self) -> str:
        """One line such as ``embedding 312 ms (computed) · decode 24 ms · engine call 340 ms``."""
        t = self.timings
        parts = []
        if "embed_ms" in t:
            parts.append(f"embedding {t['embed_ms']:.0f} ms ({t.get('embedding', '?')})")
        for key, label in (("prompts_ms", "prompts"), ("decode_ms", "decode"), ("generate_ms", "generate")):
            if t.get(key):
                parts.append(f"{label} {t[key]:.0f} ms")
        parts.append(f"engine call {t.get('total_ms', 0):.0f} ms")
        return " · ".join(parts) + f" · engine {t.get('engine', '?')}"

    def summary(self) -> dict[str, Any]:
        """JSON-friendly: one entry per mask (score, area, box) plus timings."""
        return {"masks": self.masks.summary(), "timings_ms": self.timings}


def _timed(engine: Engine, run: Any) -> tuple[Any, dict[str, Any]]:
    before = engine.stats
    t0 = time.perf_counter()
    result = run()
    total = (time.perf_counter() - t0) * 1000
    after = engine.stats
    computed = after.embeddings_computed > before.embeddings_computed
    timings = {
        "embedding": "computed" if computed else "cached",
        "embed_ms": round(after.embed_ms - before.embed_ms, 1),
        "decode_ms": round(after.decode_ms - before.decode_ms, 1),
        "generate_ms": round(after.generate_ms - before.generate_ms, 1),
        "total_ms": round(total, 1),
        "engine": engine.spec,
    }
    return result, timings


def segment(
    engine: Engine,
    image: np.ndarray,
    *,
    points: Any = None,
    labels: Any = None,
    boxes: Any = None,
    text: str | None = None,
    gaze: Any = None,
    mask: Any = None,
    multimask: bool = False,
) -> Outcome:
    """Segment ``image`` from any mix of prompts through ``prompts_from_request`` and the engine.

    With ``multimask`` the engine returns three candidates per prompt and the best one per
    prompt is kept (its score is shown). Timings say whether the embedding was cached.
    """
    from ..adapters.prompts.request import prompts_from_request

    if text is not None and not str(text).strip():
        raise PromptError('the text prompt is empty: describe the object, e.g. "a cup"')

    spent: dict[str, float] = {}

    def run() -> Masks:
        t0 = time.perf_counter()
        prompts = prompts_from_request(
            image, points=points, labels=labels, boxes=boxes, text=text, gaze=gaze, mask=mask, engine=engine
        )
        spent["prompts_ms"] = (time.perf_counter() - t0) * 1000
        res = engine.segment(image, prompts, multimask=bool(multimask))
        return res.best() if multimask else res

    masks, timings = _timed(engine, run)
    timings["prompts_ms"] = round(spent.get("prompts_ms", 0.0), 1)
    return Outcome(masks, timings)


def generate(engine: Engine, image: np.ndarray, **params: Any) -> Outcome:
    """Automatic masks for ``image`` (``engine.generate``; ``params`` as the engine accepts)."""
    masks, timings = _timed(engine, lambda: engine.generate(image, **params))
    return Outcome(masks, timings)


def export_files(
    masks: Masks, folder: Path, image_name: str = "image.png", size: tuple[int, int] | None = None
) -> list[str]:
    """Write ``masks.json`` (COCO with RLE) and ``masks_png.zip`` (one 0/255 PNG per mask) into the
    new folder ``folder`` (it must not exist: it is built under a temporary name and renamed into
    place in one step, so a download never shows a half-written file or another result's masks).

    ``size`` (H, W): map the masks to that size first (the upload's, when the page held a
    downscaled copy). Returns the two paths, for a ``gr.File`` download.
    """
    from ..security.atomic import fresh_folder
    from .features import feature

    if masks is None or len(masks) == 0:
        raise InputError("no masks to download yet: segment something first")
    if size is not None:
        masks = resize_masks(masks, size)
    export_masks = feature("export_masks")
    folder = Path(folder)
    stem = Path(str(image_name).replace("sample:", "")).stem or "image"
    with fresh_folder(folder) as stage:
        export_masks(masks, stage / f"{stem}_masks.json", format="coco", file_name=f"{stem}.png")
        png_dir = export_masks(masks, stage / f"{stem}_png", format="png")
        with zipfile.ZipFile(stage / f"{stem}_masks_png.zip", "w", zipfile.ZIP_DEFLATED) as zf:
            for i in range(len(masks)):  # this result's masks only
                p = Path(png_dir) / f"mask_{i}.png"
                zf.write(p, arcname=p.name)
    return [str(folder / f"{stem}_masks.json"), str(folder / f"{stem}_masks_png.zip")]
