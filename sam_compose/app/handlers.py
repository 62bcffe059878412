"""Event handlers of the Segment tab: each takes the session's state and returns what the page shows.

Every handler is wrapped with :func:`~sam_compose.app.errors.friendly` (errors become
one-line messages in the page). Handlers return ``(state, result image, status, json)``
tuples in the order :mod:`.ui` wires them. Coordinates from clicks are (x, y) pixels
of the displayed image, which is the session's image.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import cv2
import gradio as gr
import numpy as np

from ..errors import InputError
from . import service
from .errors import friendly
from .gaze import fixations_for_state, heat_for_state
from .render import draw_result
from .state import SessionState

Reply = tuple[SessionState, Any, str, Any]


class SegmentHandlers(service.EngineSource):
    """The Segment tab's handlers, bound to one engine (a spec resolved on first use, or an Engine)."""

    # --- rendering ----------------------------------------------------------------------
    def view(self, state: SessionState, status: str, started: float | None = None) -> Reply:
        """The reply every handler ends with: state, result picture, status line, JSON summary.

        With ``started`` (a ``time.perf_counter()`` value taken when the handler began) the
        status line starts with the time the user waited for this answer: prompts, engine,
        drawing and the summary, everything up to the reply (the page's own transfer aside).
        """
        if state.image is None:
            return state, None, status, state_json(state)
        picture = draw_result(
            state.image, state.result, state.points, state.box, state.box_corner, state.gaze_clicks, labels=state.labels
        )
        if state.gaze_clicks or state.gaze is not None:
            picture = heat_for_state(picture, state)
        info = state_json(state)
        if started is not None:
            status = f"answered in **{(time.perf_counter() - started) * 1000:.0f} ms** · {status}"
        return state, picture, status, info

    def _segment(self, state: SessionState, multimask: bool, **extra: Any) -> str:
        outcome = service.segment(
            self.engine, state.require_image(), multimask=multimask, **{**state.request(), **extra}
        )
        state.result = outcome.masks
        scores = ", ".join(f"{s:.2f}" for s in outcome.masks.scores[:8])
        pos = sum(1 for p in state.points if p[2] == 1)
        prompts = f"{len(state.points)} point(s) (+{pos}/-{len(state.points) - pos})"
        if state.box is not None:
            prompts += ", 1 box"
        if state.prior_mask is not None:
            prompts += ", prior mask"
        return f"**{len(outcome.masks)} mask(s)**, score {scores} · {prompts} · {outcome.latency_text()}"

    # --- image --------------------------------------------------------------------------
    @friendly
    def load(self, source: Any, state: SessionState) -> tuple[SessionState, Any, Any, str, Any, Any]:
        """Hold an uploaded file or ``sample:NAME``; returns also the picture for the input and brush views."""
        if source is None:
            state.image = None
            state.clear_prompts()
            return state, None, None, "Upload a photo or click an example.", state_json(state), None
        guard = self.guard(state)
        original = None
        image, name = service.prepare_image(source, guard=guard)  # refuses what is not a readable image
        if isinstance(source, str) and not source.startswith("sample:"):
            from PIL import Image

            with Image.open(guard.read(source, "image")) as im:  # the header only: the upload's full size
                original = (int(im.height), int(im.width))
        state.set_image(image, name, original_size=original)
        engine = self.engine
        before = engine.stats
        t0 = time.perf_counter()
        engine.embed(image)  # compute the embedding now: every later click reuses it
        ms = (time.perf_counter() - t0) * 1000
        cached = engine.stats.embeddings_computed == before.embeddings_computed
        h, w = image.shape[:2]
        st, picture, _, js = self.view(state, "")
        size = f"{w}x{h}"
        if state.original_size is not None:
            oh, ow = state.original_size
            size = (
                f"{ow}x{oh}, shown at {w}x{h}: the page works on images up to {service.DEMO_MAX_SIDE} px; "
                f"downloads are mapped back to {ow}x{oh}"
            )
        status = (
            f"Loaded **{name}** ({size}); embedding {'from cache' if cached else 'computed'} in "
            f"{ms:.0f} ms on {engine.spec}. Click on an object (mode: positive point), "
            "or draw a box with two clicks."
        )
        editor = {"background": image, "layers": [], "composite": None}
        return st, image, picture, status, js, editor

    # --- clicks -------------------------------------------------------------------------
    @friendly
    def click(self, state: SessionState, mode: str, multimask: bool, evt: gr.SelectData) -> Reply:
        """A click on the photo or on the result: add a point, a box corner or a gaze centre."""
        if state.image is None:
            raise InputError("no image yet: upload a photo or click one of the example buttons, then click on it")
        started = time.perf_counter()
        x, y = click_xy(evt)
        what = state.add_click(x, y, mode)
        if what == "corner":
            return self.view(state, "First box corner set; click the opposite corner.")
        if what == "gaze":
            n = len(state.gaze_clicks)
            return self.view(state, f"Gaze path: {n} fixation centre(s). Click more, then **Segment from gaze**.")
        return self.view(state, self._segment(state, multimask), started)

    @friendly
    def undo(self, state: SessionState, multimask: bool) -> Reply:
        """Remove the last point / corner / box and segment again."""
        started = time.perf_counter()
        state.require_image()
        state.undo()
        if state.has_click_prompts():
            return self.view(state, self._segment(state, multimask), started)
        state.result = None
        return self.view(state, "Nothing to segment; click on an object.")

    @friendly
    def clear(self, state: SessionState) -> Reply:
        """Forget every prompt and result of this image."""
        state.require_image()
        state.clear_prompts()
        return self.view(state, "Prompts cleared.")

    # --- other prompt types -------------------------------------------------------------
    @friendly
    def text(self, state: SessionState, text: str, multimask: bool) -> Reply:
        """Segment what ``text`` describes (CLIP ranks candidate regions; needs CLIP weights)."""
        started = time.perf_counter()
        image = state.require_image()
        if not text or not text.strip():
            raise InputError('type what to segment first, e.g. "a cup"')
        state.text = text.strip()
        outcome = service.segment(self.engine, image, text=state.text, multimask=multimask)
        state.result = outcome.masks
        return self.view(
            state, f'**{len(outcome.masks)} mask(s)** for "{state.text}" · {outcome.latency_text()}', started
        )

    @friendly
    def brush(self, state: SessionState, editor: Any, multimask: bool) -> Reply:
        """Use the strokes painted in the brush editor as a prior mask (with any clicked points)."""
        started = time.perf_counter()
        state.require_image()
        mask = brushed_mask(editor, state.size)
        if mask is None:
            raise InputError("paint over the object in the brush editor first (any colour)")
        state.prior_mask = mask
        return self.view(state, "Prior mask from brush · " + self._segment(state, multimask), started)

    @friendly
    def gaze_recording(self, state: SessionState, path: Any, multimask: bool, phrase: str | None = None) -> Reply:
        """Read an eye-tracker recording, show its fixations as heat and segment each fixation,
        or, with a ``phrase``, the named thing that was looked at."""
        from .features import feature

        started = time.perf_counter()
        image = state.require_image()
        if not path:
            raise InputError("choose a gaze recording file first (Pupil, Tobii or generic CSV)")
        state.gaze = feature("read_gaze")(str(self.guard(state).read(str(path), "gaze recording")))
        state.gaze_clicks = []
        text = _phrase(phrase)
        outcome = service.segment(self.engine, image, gaze=state.gaze, text=text, multimask=multimask)
        state.result = outcome.masks
        what = f' + "{text}"' if text else ""
        return self.view(
            state, f"Gaze recording{what}: **{len(outcome.masks)} mask(s)** · {outcome.latency_text()}", started
        )

    @friendly
    def gaze_path(self, state: SessionState, multimask: bool, phrase: str | None = None) -> Reply:
        """Segment from the clicked (simulated) gaze path: samples -> fixations -> prompts; with a
        ``phrase``, the named thing that was looked at."""
        started = time.perf_counter()
        image = state.require_image()
        if not state.gaze_clicks:
            raise InputError("click a gaze path first: choose mode 'gaze path' and click where the eyes rest")
        fixations = fixations_for_state(state)
        text = _phrase(phrase)
        outcome = service.segment(self.engine, image, gaze=fixations, text=text, multimask=multimask)
        state.result = outcome.masks
        what = f' + "{text}"' if text else ""
        return self.view(
            state,
            f"Gaze path{what}: {len(fixations)} fixation(s), **{len(outcome.masks)} mask(s)** · "
            f"{outcome.latency_text()}",
            started,
        )

    @friendly
    def automatic(self, state: SessionState, points_per_side: float) -> Reply:
        """Automatic masks: everything the engine finds, drawn as a map of filled regions."""
        started = time.perf_counter()
        image = state.require_image()
        params: dict[str, Any] = {}
        if "points_per_side" in self.engine.generate_params():
            params["points_per_side"] = int(points_per_side)
        outcome = service.generate(self.engine, image, **params)
        state.points, state.box, state.box_corner = [], None, None
        state.result = outcome.masks
        return self.view(state, f"**{len(outcome.masks)} automatic mask(s)** · {outcome.latency_text()}", started)

    @friendly
    def show_labels(self, state: SessionState, labels: bool) -> Reply:
        """The labels toggle: numbers on automatic regions (their rows in the JSON) or none."""
        state.labels = bool(labels)
        return self.view(state, "Region numbers shown." if state.labels else "Region numbers hidden.")

    @friendly
    def download(self, state: SessionState) -> list[str]:
        """COCO JSON and a zip of PNG masks of the current result."""
        state.require_image()
        folder = self.workspace.session_folder(state.session_id) / f"download-{uuid.uuid4().hex[:12]}"
        return service.export_files(state.result, folder, state.image_name, size=state.original_size)


def _phrase(value: str | None) -> str | None:
    """The Gaze tab's phrase, None when left empty (gaze alone)."""
    text = (value or "").strip()
    return text or None


def click_xy(evt: Any, where: str = "the picture") -> tuple[float, float]:
    """(x, y) pixels of a click from a ``gr.SelectData`` (its ``index``), or an InputError."""
    index = getattr(evt, "index", None)
    if not isinstance(index, (list, tuple)) or len(index) != 2:
        raise InputError(f"could not read the click position ({index!r}); click inside {where}")
    return float(index[0]), float(index[1])


def brushed_mask(editor: Any, size: tuple[int, int]) -> np.ndarray | None:
    """(H, W) bool of painted pixels in an ``gr.ImageEditor`` value (layers' alpha > 0), or None.

    ``size`` is (H, W) of the session image; layers of another size are resized to it.
    """
    if not isinstance(editor, dict):
        return None
    painted = None
    for layer in editor.get("layers") or []:
        if layer is None:
            continue
        arr = np.asarray(layer)
        if arr.ndim == 3 and arr.shape[2] == 4:
            m = arr[:, :, 3] > 0
        elif arr.ndim == 3:
            m = arr.max(axis=2) > 0
        else:
            m = arr > 0
        painted = m if painted is None else (painted | m) if painted.shape == m.shape else painted
    if painted is None or not painted.any():
        return None
    h, w = size
    if painted.shape != (h, w):
        painted = cv2.resize(painted.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST).astype(bool)
    return painted


def state_json(state: SessionState) -> dict[str, Any]:
    """What the page shows under the result: the prompts and one line per mask."""
    out: dict[str, Any] = {"prompts": state.describe() if state.image is not None else None}
    if state.result is not None:
        out["masks"] = state.result.summary()
    return out
