"""The demo's *Browser* tab: clicks decoded in the page by ONNX Runtime Web, no server round trip.

With an ONNX export as the engine (``sam-compose demo --engine onnx:DIR``), the server
computes an image's embedding once (the engine's cache) and sends it to the page as raw
float32 files; the page loads onnxruntime-web (vendored into ``app/static/ort`` at build
time by ``make vendor-ort``, never from a CDN) and the export's ``decoder.onnx``, then
decodes every click locally (:file:`static/onnx_click.js`) and shows the click-to-mask time.

:func:`browser_tab` lays the tab out; :class:`BrowserDecoding` holds its one handler. The
rest of the demo is untouched: ``ui.py`` only calls :func:`browser_tab`.
"""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np

from ..errors import InputError
from ..geometry import resized_shape
from . import service
from .errors import friendly
from .sessions import DemoWorkspace, default_workspace
from .state import SessionState

STATIC_DIR = Path(__file__).resolve().parent / "static"
ORT_DIR = STATIC_DIR / "ort"
ORT_FILES = ("ort.wasm.min.js", "ort-wasm-simd-threaded.wasm", "ort-wasm-simd-threaded.mjs")
"""What ``make vendor-ort`` copies from the onnxruntime-web npm package (see web/package.json)."""
CLICK_JS = STATIC_DIR / "onnx_click.js"

CANVAS_HTML = """<div id="sc-onnx" style="max-width:100%">
<canvas id="sc-onnx-canvas" width="640" height="360" style="max-width:100%;cursor:crosshair;border:1px solid #ddd"></canvas>
<div id="sc-onnx-status" style="margin-top:6px">{message}</div></div>"""


def runtime_missing() -> list[str]:
    """The vendored onnxruntime-web files that are not in this installation."""
    return [name for name in ORT_FILES if not (ORT_DIR / name).is_file()]


def _engine_is_onnx(engine: Any) -> bool:
    if isinstance(engine, str):
        return engine.strip().lower().startswith("onnx:")
    return getattr(engine, "name", "") == "onnx"


def _static_path(path: Path) -> str:
    """The path part of a URL under which Gradio serves ``path`` (registered as a static path)."""
    return "gradio_api/file=" + str(path.resolve())


class BrowserDecoding(service.EngineSource):
    """Prepares an image for in-browser decoding: its embedding as files in the session's folder
    (the previous image's files are removed), plus what the page needs to know."""

    def __init__(self, engine: Any = "auto", *, workspace: DemoWorkspace | None = None) -> None:
        super().__init__(engine)
        self.workspace = workspace or default_workspace()
        self._lock = threading.Lock()
        self._last: dict[str, Path] = {}

    def _folder(self, session_id: str) -> Path:
        folder = self.workspace.new_result_folder(session_id, "browser")
        with self._lock:
            old = self._last.pop(session_id, None)
            self._last[session_id] = folder
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return folder

    @friendly
    def prepare(self, source: Any, state: SessionState) -> tuple[SessionState, dict[str, Any], list[str] | None]:
        """``source``: ``sample:NAME`` or None for the Segment tab's photo. Returns (state, info, files)."""
        from ..engines.onnx.engine import OnnxEngine

        engine = self.engine
        if not isinstance(engine, OnnxEngine):
            return (
                state,
                {
                    "ready": False,
                    "message": "Browser decoding needs an ONNX export as the engine: "
                    "sam-compose export onnx MODEL --out DIR, then sam-compose demo --engine onnx:DIR",
                },
                None,
            )
        missing = runtime_missing()
        if missing:
            return (
                state,
                {
                    "ready": False,
                    "message": f"onnxruntime-web is not vendored in this installation "
                    f"(missing {', '.join(missing)}): run `make vendor-ort`",
                },
                None,
            )
        if source is None:
            image, name = state.require_image(), state.image_name
        else:
            image, name = service.prepare_image(source)
            state.set_image(image, name)
        t0 = time.perf_counter()
        emb = engine.embed(image)
        embed_ms = (time.perf_counter() - t0) * 1000
        folder = self._folder(state.session_id)
        key = emb.image_key[:16]
        _save_png(image, folder / f"{key}.png")
        files = [str(folder / f"{key}.png")]
        outputs = []
        for name_out in engine.encoder_outputs:
            arr = np.ascontiguousarray(emb.features[name_out].numpy(), dtype=np.float32)
            arr.tofile(folder / f"{key}.{name_out}.bin")
            files.append(str(folder / f"{key}.{name_out}.bin"))
            outputs.append({"name": name_out, "shape": list(arr.shape)})
        h, w = image.shape[:2]
        info = {
            "ready": True,
            "name": name,
            "image_size": [h, w],
            "resized_size": list(resized_shape((h, w))),
            "lowres_frame": engine.lowres_frame,
            "family": engine.family,
            "outputs": outputs,
            "decoder": _static_path(engine.folder / engine.manifest.decoder.file),
            "ort_script": _static_path(ORT_DIR / ORT_FILES[0]),
            "ort_wasm_dir": _static_path(ORT_DIR) + "/",
            "embed_ms": embed_ms,
            "model": engine.manifest.model_id,
        }
        return state, info, files


def _save_png(image: np.ndarray, path: Path) -> None:
    from PIL import Image

    Image.fromarray(image).save(str(path))


def _set_image_js() -> str:
    return (
        "async (info, files) => {\n"
        + CLICK_JS.read_text(encoding="utf-8")
        + "\nawait window.samComposeOnnx.setImage(info, files);\n}"
    )


def browser_tab(
    engine: Any,
    state: gr.State,
    examples: tuple[str, ...],
    event_kwargs: dict[str, Any],
    workspace: DemoWorkspace | None = None,
) -> None:
    """The tab's components and events (call inside ``gr.Tab``). ``engine``: a spec or an Engine;
    ``state``: the demo's per-session state (its image is the Segment tab's photo)."""
    handler = BrowserDecoding(engine, workspace=workspace)
    enabled = _engine_is_onnx(engine)
    if enabled:
        static = [ORT_DIR] if not runtime_missing() else []
        eng_folder = None
        if not isinstance(engine, str):
            eng_folder = engine.folder / engine.manifest.decoder.file
        else:
            from ..engines.onnx.manifest import read_manifest

            try:
                folder = Path(engine.strip()[len("onnx:") :]).expanduser()
                eng_folder = folder / read_manifest(folder).decoder.file
            except (InputError, ValueError):
                eng_folder = None  # reported when the engine loads
        if eng_folder is not None:
            static.append(eng_folder)
        if static:
            gr.set_static_paths(static)
    message = (
        "Pick an example or use the Segment tab's photo; the server computes the embedding once, then "
        "every click is decoded here, in your browser."
        if enabled
        else "Browser decoding needs an ONNX export as the engine: `sam-compose export onnx MODEL --out DIR`, then "
        "`sam-compose demo --engine onnx:DIR`."
    )
    gr.Markdown(
        "Clicks on this picture run the exported prompt decoder in the page with ONNX Runtime Web "
        "(no request per click). Shift-click adds a background point."
    )
    with gr.Row():
        buttons = {
            name: gr.Button(name, size="sm", elem_id=f"browser-example-{name}", min_width=80) for name in examples
        }
        use_photo = gr.Button("Segment tab's photo", size="sm", elem_id="browser-use-photo")
        clear = gr.Button("Clear points", size="sm", elem_id="browser-clear")
    gr.Checkbox(False, label="best of 3 candidates (multimask; read by the page)", elem_id="sc-onnx-multimask")
    gr.HTML(CANVAS_HTML.format(message=message))
    info = gr.JSON(visible=False)
    files = gr.File(visible=False, file_count="multiple")
    js = _set_image_js()
    for name, btn in buttons.items():
        btn.click(
            lambda s, n=name: handler.prepare(f"sample:{n}", s), [state], [state, info, files], **event_kwargs
        ).then(None, [info, files], None, js=js)
    use_photo.click(lambda s: handler.prepare(None, s), [state], [state, info, files], **event_kwargs).then(
        None, [info, files], None, js=js
    )
    clear.click(None, None, None, js="() => { if (window.samComposeOnnx) window.samComposeOnnx.clear(); }")
