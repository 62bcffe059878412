"""The page: tabs, components and the wiring between them and the handlers.

Layout only; what happens on each event is in :mod:`.handlers` (Segment tab),
:mod:`.tab_handlers` (Inpaint, 3D, Video, Graph) and :mod:`.api` (named endpoints).
UI events are private (not in the API listing); the API tab's buttons carry the public
names ``/segment``, ``/generate``, ``/inpaint``, ``/lift3d`` and ``/track``.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from . import graphs
from .api import ApiEndpoints
from .components import photo_input
from .features import availability
from .handlers import SegmentHandlers
from .onnx_click import browser_tab
from .outputs import DEPTH_SOURCES
from .sessions import DemoWorkspace, session_state
from .state import CLICK_MODES, VIDEO_CLICK_MODES, SessionState, VideoState
from .tab_handlers import TabHandlers

EXAMPLES: tuple[str, ...] = ("chelsea", "coffee", "astronaut", "horse", "coins", "motorcycle_left")
"""scikit-image photographs offered as one-click examples (``sample:NAME``)."""

INTRO = """# sam_compose demo
Segment anything with points, boxes, brushed masks, text or gaze; then download, inpaint, lift to 3D,
track in video or run a graph. Engine: **{engine}**. Pick an example or upload a photo, then click on an object."""

ENGINE_QUEUE = "engine"
"""One concurrency group for every event: at most ``concurrency`` of them run at once, the rest queue."""

PRIVATE: dict[str, Any] = {"api_visibility": "private", "concurrency_id": ENGINE_QUEUE}
PUBLIC: dict[str, Any] = {"concurrency_id": ENGINE_QUEUE}


def _segment_tab(seg: SegmentHandlers, state: gr.State) -> dict[str, Any]:
    with gr.Row():
        gr.Markdown("**Examples:**")
        example_buttons = {
            name: gr.Button(name, size="sm", elem_id=f"example-{name}", min_width=80) for name in EXAMPLES
        }
    with gr.Row():
        with gr.Column(scale=1):
            image_in = photo_input(
                label="Photo: upload, then click on it",
                type="filepath",
                sources=["upload", "clipboard"],
                elem_id="input-image",
                format="png",
            )
            mode = gr.Radio(list(CLICK_MODES), value=CLICK_MODES[0], label="A click adds", elem_id="click-mode")
            multimask = gr.Checkbox(False, label="best of 3 candidates (multimask)")
            with gr.Row():
                undo = gr.Button("Undo", size="sm", elem_id="undo")
                clear = gr.Button("Clear prompts", size="sm", elem_id="clear")
                auto = gr.Button("Automatic masks", size="sm", variant="secondary", elem_id="automatic")
            with gr.Row():
                pps = gr.Slider(4, 64, value=16, step=4, label="automatic masks: points per side (SAM engines)")
                labels = gr.Checkbox(False, label="numbers on automatic masks", elem_id="labels")
            with gr.Accordion("Text prompt (CLIP)", open=False):
                text = gr.Textbox(label="Describe the object", placeholder="a cat", elem_id="text-prompt")
                text_btn = gr.Button("Segment text", size="sm")
            with gr.Accordion("Gaze", open=False):
                gr.Markdown(
                    "Load an eye-tracker recording (Pupil, Tobii, generic CSV), or choose the click mode "
                    "*gaze path* and click where the eyes rest; fixations are shown as heat. Add words to "
                    "get the one thing that is both named and looked at."
                )
                gaze_file = gr.File(label="Gaze recording", type="filepath")
                gaze_text = gr.Textbox(
                    label="What was looked at (optional)", placeholder="the mug", elem_id="gaze-text"
                )
                with gr.Row():
                    gaze_file_btn = gr.Button("Segment from recording", size="sm")
                    gaze_path_btn = gr.Button("Segment from gaze path", size="sm", elem_id="gaze-path")
            with gr.Accordion("Brush a prior mask", open=False):
                editor = gr.ImageEditor(
                    label="Paint over the object",
                    type="numpy",
                    image_mode="RGBA",
                    sources=(),
                    transforms=(),
                    layers=False,
                    brush=gr.Brush(colors=["#ff00ff"], color_mode="fixed"),
                )
                brush_btn = gr.Button("Segment with brushed mask", size="sm")
        with gr.Column(scale=1):
            result = gr.Image(label="Result (click here too)", interactive=False, elem_id="result-image", format="png")
            status = gr.Markdown("Pick an example or upload a photo.", elem_id="status")
            info = gr.JSON(label="Prompts and masks", elem_id="info")
            download_btn = gr.Button("Download masks (COCO JSON + PNG zip)", size="sm", elem_id="download")
            files = gr.File(label="Downloads", file_count="multiple", interactive=False)

    reply = [state, result, status, info]
    load_out = [state, image_in, result, status, info, editor]
    for name, btn in example_buttons.items():
        btn.click(lambda s, n=name: seg.load(f"sample:{n}", s), [state], load_out, **PRIVATE)
    image_in.upload(seg.load, [image_in, state], load_out, **PRIVATE)
    image_in.clear(lambda s: seg.load(None, s), [state], load_out, **PRIVATE)
    image_in.select(seg.click, [state, mode, multimask], reply, **PRIVATE)
    result.select(seg.click, [state, mode, multimask], reply, **PRIVATE)
    undo.click(seg.undo, [state, multimask], reply, **PRIVATE)
    clear.click(seg.clear, [state], reply, **PRIVATE)
    auto.click(seg.automatic, [state, pps], reply, **PRIVATE)
    labels.change(seg.show_labels, [state, labels], reply, **PRIVATE)
    text_btn.click(seg.text, [state, text, multimask], reply, **PRIVATE)
    text.submit(seg.text, [state, text, multimask], reply, **PRIVATE)
    gaze_file_btn.click(seg.gaze_recording, [state, gaze_file, multimask, gaze_text], reply, **PRIVATE)
    gaze_path_btn.click(seg.gaze_path, [state, multimask, gaze_text], reply, **PRIVATE)
    brush_btn.click(seg.brush, [state, editor, multimask], reply, **PRIVATE)
    download_btn.click(seg.download, [state], [files], **PRIVATE)
    return {"result": result, "status": status}


def _inpaint_tab(tabs: TabHandlers, state: gr.State) -> None:
    gr.Markdown("Removes the objects of the Segment tab's current result and fills the hole.")
    with gr.Row():
        method = gr.Radio(["telea", "ns"], value="telea", label="Method (OpenCV)")
        radius = gr.Slider(1, 30, value=5, step=1, label="Radius (pixels)")
    btn = gr.Button("Inpaint", variant="primary", elem_id="inpaint")
    out = gr.Image(label="Inpainted", interactive=False, format="png", elem_id="inpainted")
    note = gr.Markdown()
    btn.click(tabs.inpaint_result, [state, method, radius], [out, note], **PRIVATE)


def _lift_tab(tabs: TabHandlers, state: gr.State) -> None:
    gr.Markdown(
        "Lifts the Segment tab's current result into a coloured point cloud. Try the "
        "*motorcycle_left* example: its ground-truth stereo depth is used."
    )
    with gr.Row():
        source = gr.Radio(list(DEPTH_SOURCES), value="auto", label="Depth")
        depth_file = gr.File(label="Depth file (16-bit PNG mm, .npy m)", type="filepath")
    btn = gr.Button("Lift to 3D", variant="primary", elem_id="lift3d")
    with gr.Row():
        model = gr.Model3D(label="Point cloud", elem_id="model3d")
        with gr.Column():
            ply = gr.File(label="PLY download", interactive=False)
            summary = gr.JSON(label="Cloud")
    btn.click(tabs.lift_result, [state, source, depth_file], [model, ply, summary], **PRIVATE)


def _video_tab(tabs: TabHandlers) -> None:
    vstate = session_state(tabs.workspace, VideoState)
    with gr.Row():
        with gr.Column():
            video_in = gr.Video(label="Video", sources=["upload"], elem_id="video-in")
            with gr.Row():
                ex_motion = gr.Button("example: moving shapes", size="sm", elem_id="video-example-motion")
                ex_cross = gr.Button("example: crossing discs", size="sm", elem_id="video-example-cross")
            frame_idx = gr.Slider(0, 1, value=0, step=1, label="Prompt on frame")
            vmode = gr.Radio(list(VIDEO_CLICK_MODES), value=VIDEO_CLICK_MODES[0], label="A click adds")
            frame = gr.Image(label="Frame: click on the object", interactive=False, format="png", elem_id="video-frame")
            with gr.Row():
                vclear = gr.Button("Clear prompts", size="sm")
                track_btn = gr.Button("Track", variant="primary", elem_id="track")
        with gr.Column():
            video_out = gr.Video(label="Tracked overlay", interactive=False, elem_id="video-out")
            vstatus = gr.Markdown("Upload a video.")
            vinfo = gr.JSON(label="Tracking")
    video_in.upload(tabs.video_upload, [video_in, vstate], [vstate, frame, vstatus, frame_idx], **PRIVATE)
    for kind, btn in (("motion", ex_motion), ("cross", ex_cross)):
        btn.click(
            lambda v, k=kind: tabs.video_example(k, v),
            [vstate],
            [vstate, frame, vstatus, frame_idx, video_in],
            **PRIVATE,
        )
    frame_idx.input(
        tabs.video_frame, [vstate, frame_idx], [vstate, frame, vstatus], trigger_mode="always_last", **PRIVATE
    )
    frame.select(tabs.video_click, [vstate, vmode], [vstate, frame, vstatus], **PRIVATE)
    vclear.click(tabs.video_clear, [vstate], [vstate, frame, vstatus], **PRIVATE)
    track_btn.click(tabs.track_clicked, [vstate], [video_out, vinfo, vstatus], **PRIVATE)


def _graph_tab(tabs: TabHandlers, state: gr.State) -> None:
    names = graphs.list_graphs()
    gr.Markdown(f"Runs the graph files of `{graphs.demos_dir()}` (JSON or YAML); edit them here before running.")
    pick = gr.Dropdown(names, value=names[0] if names else None, label="Demo graph", elem_id="graph-pick")
    code = gr.Code(
        value=graphs.read_graph(names[0]) if names else "",
        language=graphs.graph_language(names[0]) if names else "json",
        label="Graph",
        elem_id="graph-code",
    )
    run = gr.Button("Run graph", variant="primary", elem_id="graph-run")
    note = gr.Markdown()
    with gr.Row():
        report = gr.JSON(label="Report")
        gallery = gr.Gallery(label="Images", format="png")
    pick.change(tabs.graph_pick, [pick], [code], **PRIVATE)
    run.click(tabs.graph_run, [code, state], [report, gallery, note], **PRIVATE)


def _api_tab(api: ApiEndpoints) -> None:
    gr.Markdown(
        "Named endpoints for `gradio_client` (see *Use via API* at the bottom of the page). "
        'Prompts are JSON: `{"points": [[x, y]], "labels": [1], "box": [x0, y0, x1, y1]}`.'
    )
    with gr.Accordion("/segment and /generate", open=False):
        with gr.Row():
            img = gr.File(label="image", type="filepath")
            prompt = gr.Textbox('{"points": [[300, 200]], "labels": [1]}', label="prompt (JSON)")
            params = gr.Textbox("{}", label="generate params (JSON)")
        with gr.Row():
            seg_btn = gr.Button("segment")
            gen_btn = gr.Button("generate")
        with gr.Row():
            out_img = gr.Image(label="overlay", format="png", interactive=False)
            out_json = gr.JSON(label="result")
    seg_btn.click(api.segment, [img, prompt], [out_img, out_json], api_name="segment", **PUBLIC)
    gen_btn.click(api.generate, [img, params], [out_img, out_json], api_name="generate", **PUBLIC)
    with gr.Accordion("/inpaint and /lift3d", open=False):
        with gr.Row():
            method = gr.Textbox("telea", label="inpaint method")
            radius = gr.Number(5, label="inpaint radius")
            depth = gr.File(label="depth (optional)", type="filepath")
        with gr.Row():
            inp_btn = gr.Button("inpaint")
            lift_btn = gr.Button("lift3d")
        with gr.Row():
            inp_out = gr.Image(label="inpainted", format="png", interactive=False)
            model = gr.Model3D(label="point cloud")
            lift_json = gr.JSON(label="cloud")
    inp_btn.click(api.inpaint, [img, prompt, method, radius], [inp_out], api_name="inpaint", **PUBLIC)
    lift_btn.click(api.lift3d, [img, prompt, depth], [model, lift_json], api_name="lift3d", **PUBLIC)
    with gr.Accordion("/track", open=False):
        with gr.Row():
            video = gr.File(label="video", type="filepath")
            frame = gr.Number(0, label="frame", precision=0)
            trk_btn = gr.Button("track")
        with gr.Row():
            trk_out = gr.Video(label="tracked", interactive=False)
            trk_json = gr.JSON(label="tracking")
    trk_btn.click(api.track, [video, prompt, frame], [trk_out, trk_json], api_name="track", **PUBLIC)


def _about_tab(engine_spec: str) -> None:
    avail = availability()
    rows = "\n".join(f"| {k} | {'yes' if ok else 'not in this installation'} |" for k, ok in avail.items())
    gr.Markdown(
        f"Engine spec: `{engine_spec}` (`auto` uses a local SAM checkpoint when there is one, "
        f"else the weight-free OpenCV engine).\n\n| library part | available |\n|---|---|\n{rows}"
    )


def build_blocks(
    engine: Any = "auto", *, workspace: DemoWorkspace | None = None, allow_downloads: bool = True
) -> gr.Blocks:
    """The demo's ``gr.Blocks`` for ``engine`` (a spec or an Engine; not launched, queue not configured).

    ``workspace`` holds the per-session folders and path guards (default: a new one in a
    temporary folder). Per-session state comes from its factory: see :mod:`.sessions`.
    The engine picker (:mod:`.engine_picker`) lets the page switch engines without a restart;
    it downloads models only with ``allow_downloads``.
    """
    from .engine_picker import EnginePicker, picker_ui

    workspace = workspace or DemoWorkspace()
    seg = SegmentHandlers(engine, workspace=workspace)
    tabs = TabHandlers(engine, workspace=workspace)
    api = ApiEndpoints(engine, workspace=workspace)
    engine_spec = seg.engine_spec
    picker = EnginePicker(engine_spec, downloads=allow_downloads)
    for source in (seg, tabs, api):
        source.picker = picker
    with gr.Blocks(title="sam_compose demo", analytics_enabled=False) as demo:
        gr.Markdown(INTRO.format(engine=engine_spec))
        picker_ui(picker)
        state = session_state(workspace, SessionState)
        with gr.Tabs():
            with gr.Tab("Segment", id="segment"):
                _segment_tab(seg, state)
            with gr.Tab("Inpaint", id="inpaint"):
                _inpaint_tab(tabs, state)
            with gr.Tab("3D", id="lift"):
                _lift_tab(tabs, state)
            with gr.Tab("Video", id="video"):
                _video_tab(tabs)
            with gr.Tab("Graph", id="graph"):
                _graph_tab(tabs, state)
            with gr.Tab("Browser", id="browser"):
                browser_tab(engine, state, EXAMPLES, PRIVATE, workspace=workspace)
            with gr.Tab("API", id="api"):
                _api_tab(api)
            with gr.Tab("About", id="about"):
                _about_tab(engine_spec)
    return demo
