"""Event handlers of the Inpaint, 3D, Video and Graph tabs.

Inpaint and 3D work on the Segment tab's current result (the session's
:class:`~sam_compose.app.state.SessionState`); the Video tab keeps its own
:class:`~sam_compose.app.state.VideoState`. All handlers are wrapped with
:func:`~sam_compose.app.errors.friendly`.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from ..errors import InputError
from ..types import Prompt, jsonable
from . import graphs, outputs, service
from .errors import friendly
from .render import draw_result
from .state import SessionState, VideoState

EXAMPLE_FRAMES = 40
EXAMPLE_SIZE = (240, 320)
"""Length and (H, W) of the synthetic example videos."""


class TabHandlers(service.EngineSource):
    """Handlers of the output tabs, bound to one engine spec."""

    # --- inpaint --------------------------------------------------------------------------
    @friendly
    def inpaint_result(self, state: SessionState, method: str, radius: float) -> tuple[Any, str]:
        """Remove the current result's objects from the photo."""
        image = state.require_image()
        import time

        t0 = time.perf_counter()
        out = outputs.inpaint_image(image, state.result, method=method, radius=int(radius))
        return (
            out,
            f"Inpainted {len(state.result)} object(s) with {method} in {(time.perf_counter() - t0) * 1000:.0f} ms",
        )

    # --- 3D -------------------------------------------------------------------------------
    @friendly
    def lift_result(self, state: SessionState, source: str, depth_file: Any) -> tuple[str, str, dict[str, Any]]:
        """Lift the current result into a point cloud shown in the 3D viewer (GLB) with a PLY download."""
        image = state.require_image()
        depth = str(self.guard(state).read(str(depth_file), "depth file")) if depth_file else None
        glb, ply, summary = outputs.lift(
            image,
            state.image_name,
            state.result,
            self.workspace.new_result_folder(state.session_id, "lift"),
            source=source,
            depth_file=depth,
        )
        return glb, ply, jsonable(summary)

    # --- video ----------------------------------------------------------------------------
    def _video_view(self, vs: VideoState, status: str) -> tuple[VideoState, Any, str]:
        if vs.frame is None:
            return vs, None, status
        return vs, draw_result(vs.frame, None, vs.points, vs.box, vs.box_corner), status

    def _open_clip(self, vs: VideoState, path: str, name: str) -> tuple[VideoState, Any, str, Any]:
        info = outputs.probe_video(path)
        vs.path, vs.n_frames, vs.fps, vs.name = info.path, info.n_frames, info.fps, name
        vs.frame_index, vs.frame = 0, info.first
        vs.clear_prompts()
        h, w = info.first.shape[:2]
        st, picture, _ = self._video_view(vs, "")
        status = (
            f"{name}: {info.n_frames} frames of {w}x{h} at {info.fps:.1f} fps. Pick a frame, click on "
            "the object, then **Track**."
        )
        return st, picture, status, gr.update(maximum=max(info.n_frames - 1, 1), value=0)

    @friendly
    def video_upload(self, path: Any, vs: VideoState) -> tuple[VideoState, Any, str, Any]:
        """Check the uploaded video (frames are decoded one at a time) and show its first frame."""
        if not path:
            vs.path, vs.frame, vs.n_frames = None, None, 0
            vs.clear_prompts()
            return vs, None, "Upload a video.", gr.update(maximum=1, value=0)
        from pathlib import Path

        checked = self.guard(vs).read(str(path), "video")
        return self._open_clip(vs, str(checked), Path(str(path)).name)

    @friendly
    def video_example(self, kind: str, vs: VideoState) -> tuple[VideoState, Any, str, Any, Any]:
        """A synthetic example video (moving, growing and occluded shapes) instead of an upload."""
        from .features import feature
        from .render import write_video

        feature("track")  # the example is only useful where tracking exists
        from ..adapters.outputs.tracking.synth import synthetic_video

        clip = synthetic_video(kind, n_frames=EXAMPLE_FRAMES, size=EXAMPLE_SIZE, seed=1)
        path = write_video(
            clip.frames, self.workspace.new_result_folder(vs.session_id, "example") / f"example_{kind}.webm", fps=10.0
        )
        st, picture, status, slider = self._open_clip(vs, str(path), f"Example video '{kind}'")
        return st, picture, status.replace("the object", "a shape"), slider, str(path)

    @friendly
    def video_frame(self, vs: VideoState, index: float) -> tuple[VideoState, Any, str]:
        """Show frame ``index``; prompts are cleared (they belong to one frame)."""
        path = vs.require_video()
        vs.frame_index = int(min(max(int(index), 0), max(vs.n_frames - 1, 0)))
        vs.frame = outputs.frame_at(path, vs.frame_index)
        vs.clear_prompts()
        return self._video_view(vs, f"Frame {vs.frame_index}: click on the object.")

    @friendly
    def video_click(self, vs: VideoState, mode: str, evt: gr.SelectData) -> tuple[VideoState, Any, str]:
        """Add a point or box corner on the current frame."""
        from .handlers import click_xy

        vs.require_video()
        what = vs.add_click(*click_xy(evt, "the frame"), mode)
        note = (
            "First box corner set; click the opposite corner." if what == "corner" else "Prompt set; press **Track**."
        )
        return self._video_view(vs, note)

    @friendly
    def video_clear(self, vs: VideoState) -> tuple[VideoState, Any, str]:
        vs.clear_prompts()
        return self._video_view(vs, "Prompts cleared.")

    @friendly
    def track_clicked(self, vs: VideoState) -> tuple[str, dict[str, Any], str]:
        """Track the clicked object from the chosen frame to the end (up to 300 frames)."""
        path = vs.require_video()
        if not vs.points and vs.box is None:
            raise InputError("click on the object in the frame first (a point or a box)")
        pts = [[x, y] for x, y, _ in vs.points] or None
        labels = [lab for _, _, lab in vs.points] or None
        prompt = Prompt(points=pts, labels=labels, box=vs.box)
        out, summary = outputs.track_video(
            path,
            prompt,
            vs.frame_index,
            self.workspace.new_result_folder(vs.session_id, "track"),
            fps=vs.fps,
            engine=self.engine,
        )
        return out, summary, f"Tracked {summary['frames_tracked']} frames · {summary['ms_per_frame']} ms per frame"

    # --- graph ----------------------------------------------------------------------------
    @friendly
    def graph_pick(self, name: str) -> Any:
        """The text of the chosen demos/ graph, highlighted as JSON or YAML."""
        return gr.update(value=graphs.read_graph(name), language=graphs.graph_language(name))

    @friendly
    def graph_run(self, text: str, state: SessionState) -> tuple[dict[str, Any], list[Any], str]:
        """Run the graph in the editor; show the report and any images it produced."""
        import time

        t0 = time.perf_counter()
        folder = self.workspace.new_result_folder(state.session_id, "graph")
        report, images = graphs.run_graph(text, folder, guard=self.workspace.guard(state.session_id, folder))
        return report, images, f"Graph ran in {(time.perf_counter() - t0) * 1000:.0f} ms"
