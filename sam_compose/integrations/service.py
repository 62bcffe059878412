"""The logic behind the agent tools, shared by LangChain and MCP.

``AgentService`` validates what an agent sends (files inside the allowed roots, size and
time limits), calls the same engine and adapters as the CLI and the demo, writes masks to
its output folder and answers with a short text for the model plus the full result.
"""

from __future__ import annotations

import concurrent.futures
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..engines import Engine, resolve_engine, shared_engine
from ..errors import InputError
from ..image_io import load_image, save_png
from ..masks import Masks
from ..security.deadlines import run_with_deadline
from .graph_runner import run_graph_guarded
from .sandbox import FileSandbox

DEFAULT_TIMEOUT_S = 120.0
MAX_LISTED_MASKS = 20


@dataclass
class ToolOutput:
    """What a tool call produced: ``text`` for the model, the rest as the artifact."""

    text: str
    masks: Masks | None = None
    files: dict[str, Any] = field(default_factory=dict)
    overlay_png: bytes | None = None
    report: dict[str, Any] | None = None

    def artifact(self) -> dict[str, Any]:
        out: dict[str, Any] = {"files": self.files}
        if self.masks is not None:
            out["masks"] = self.masks
        if self.report is not None:
            out["report"] = self.report
        return out


class AgentService:
    """Segmentation for agents, confined to ``roots`` and bounded in size and time.

    Args:
        engine: an engine spec (``"auto"``, ``"opencv"``, a SAM id or path) or an Engine.
        allowed_roots: folders the tools may read (default: the current directory).
        output_dir: where masks and overlays are written (default: ``<root>/sam_compose_out``).
        max_file_bytes: largest input file accepted.
        timeout_s: longest a call may compute; past it the work is stopped at its next step
            (see :mod:`sam_compose.security.deadlines`) and the agent is told to simplify it.
    """

    def __init__(
        self,
        engine: str | Engine = "auto",
        allowed_roots: Sequence[str | Path] | None = None,
        output_dir: str | Path | None = None,
        max_file_bytes: int | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        kw: dict[str, Any] = {}
        if max_file_bytes is not None:
            kw["max_file_bytes"] = int(max_file_bytes)
        self.sandbox = FileSandbox(
            roots=[Path(r) for r in (allowed_roots or [])], output_dir=Path(output_dir) if output_dir else None, **kw
        )
        # a spec is loaded on first use; an engine (or a duck-typed one) is checked now and kept as it is
        self._engine_spec = engine if isinstance(engine, str) else None
        self._engine: Engine | None = None if isinstance(engine, str) else resolve_engine(engine)
        self.timeout_s = float(timeout_s)
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="sam-compose-tool")

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = shared_engine(self._engine_spec or "auto")
        return self._engine

    # --- helpers ------------------------------------------------------------------------
    def _bounded(self, fn: Any, *args: Any, what: str = "the call", **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)`` under the call's deadline: answered by then, stopped at its next step."""
        return run_with_deadline(fn, *args, seconds=self.timeout_s, what=what, executor=self._pool, **kwargs)

    def load(self, image: str) -> np.ndarray:
        """An image by path inside the roots, or ``sample:NAME``."""
        if not isinstance(image, str) or not image.strip():
            raise InputError("image must be a file path inside the allowed folders, or sample:NAME")
        if image.startswith("sample:"):
            return load_image(image)
        if image.startswith(("http://", "https://")):
            raise InputError(
                "URLs are not fetched by this tool; save the image inside the allowed folders and pass its path"
            )
        return load_image(self.sandbox.resolve_input(image, "image"))

    def _describe(self, masks: Masks, size: tuple[int, int], folder: Path | None) -> list[str]:
        total = float(size[0] * size[1])
        lines = []
        order = np.argsort(-masks.scores) if len(masks) else np.zeros(0, np.int64)
        for i in order[:MAX_LISTED_MASKS]:
            x0, y0, x1, y1 = (int(round(float(v))) for v in masks.boxes[i])
            area = int(masks.areas[i])
            line = (
                f"mask {i}: score {masks.scores[i]:.2f}, area {area} px ({100 * area / total:.1f}% of the image), "
                f"box [{x0}, {y0}, {x1}, {y1}]"
            )
            prompt = masks.prompt_of(int(i))
            if prompt is not None and prompt.data.get("phrase"):
                line += f", phrase {prompt.data['phrase']!r}"
            if prompt is not None and prompt.data.get("adapter") == "text_gaze":
                line += (
                    f" (looked at: text {prompt.data.get('text_score')}, gaze {prompt.data.get('gaze_score')}; "
                    f"{prompt.data.get('why', '')})"
                )
            if folder is not None:
                line += f", file {folder / f'mask_{i}.png'}"
            lines.append(line)
        if len(masks) > MAX_LISTED_MASKS:
            lines.append(f"... and {len(masks) - MAX_LISTED_MASKS} more (all in the COCO file)")
        return lines

    def _write(
        self, image: np.ndarray, masks: Masks, prefix: str, source: str, points: Sequence[tuple[float, float, int]] = ()
    ) -> tuple[Path, dict[str, Any], bytes]:
        from ..adapters.outputs.exports import export_masks
        from ..visualize import overlay

        folder = self.sandbox.new_output_folder(prefix)
        export_masks(masks, folder, format="png")
        coco = export_masks(masks, folder / "masks.json", format="coco", file_name=source)
        ov = overlay(image, masks, points=list(points), scores=True)
        ov_path = save_png(folder / "overlay.png", ov)
        buf = io.BytesIO()
        from PIL import Image

        Image.fromarray(ov).save(buf, format="PNG")
        files = {
            "folder": str(folder),
            "overlay": str(ov_path),
            "coco": str(coco),
            "masks": [str(folder / f"mask_{i}.png") for i in range(len(masks))],
        }
        return folder, files, buf.getvalue()

    # --- tools --------------------------------------------------------------------------
    def segment_image(
        self,
        image: str,
        points: Sequence[Sequence[float]] | None = None,
        labels: Sequence[int] | None = None,
        boxes: Sequence[Sequence[float]] | None = None,
        text: str | None = None,
        gaze: str | None = None,
        multimask: bool = False,
    ) -> ToolOutput:
        """Segment objects in ``image`` given points (+labels), boxes, text or a gaze recording."""
        from ..adapters.prompts.request import prompts_from_request
        from ..security.documents import check_document

        check_document({"points": points, "labels": labels, "boxes": boxes, "text": text}, "segment_image arguments")
        img = self.load(image)
        if boxes is not None:
            for b in boxes:
                if len(b) != 4:
                    raise InputError(f"each box needs 4 numbers [x0, y0, x1, y1], got {list(b)}")
        gaze_path = None if gaze is None else self.sandbox.resolve_input(gaze, "gaze recording")

        def work() -> Masks:
            prompts = prompts_from_request(
                img, points=points, labels=labels, boxes=boxes, text=text, gaze=gaze_path, engine=self.engine
            )
            return self.engine.segment(img, prompts, multimask=multimask)

        masks = self._bounded(work, what="segment_image")
        pts = [(float(p[0]), float(p[1]), int(lab)) for p, lab in zip(points or [], labels or [1] * len(points or []))]
        folder, files, png = self._write(img, masks, "segment", image, pts)
        h, w = img.shape[:2]
        head = f"Segmented {image} ({w}x{h}) with engine {self.engine.spec}: {len(masks)} mask(s)."
        body = self._describe(masks, (h, w), folder)
        tail = f"Overlay: {files['overlay']}. COCO RLE: {files['coco']}."
        return ToolOutput("\n".join([head, *body, tail]), masks=masks, files=files, overlay_png=png)

    def generate_masks(
        self, image: str, points_per_side: int | None = None, max_masks: int = MAX_LISTED_MASKS
    ) -> ToolOutput:
        """Every object and region the engine finds in ``image``, largest first."""
        img = self.load(image)
        if points_per_side is not None and not 2 <= int(points_per_side) <= 64:
            raise InputError(f"points_per_side must be between 2 and 64, got {points_per_side}")
        if int(max_masks) < 1:
            raise InputError(f"max_masks must be at least 1, got {max_masks}")
        params = {} if points_per_side is None else {"points_per_side": int(points_per_side)}
        masks = self._bounded(self.engine.generate, img, what="generate_masks", **params)
        if len(masks) > int(max_masks):
            masks = masks[np.argsort(-masks.areas)[: int(max_masks)]]
        folder, files, png = self._write(img, masks, "generate", image)
        h, w = img.shape[:2]
        head = f"Found {len(masks)} region(s) in {image} ({w}x{h}) with engine {self.engine.spec}."
        return ToolOutput(
            "\n".join([head, *self._describe(masks, (h, w), folder), f"Overlay: {files['overlay']}."]),
            masks=masks,
            files=files,
            overlay_png=png,
        )

    def run_graph(self, graph: str, overrides: dict[str, Any] | None = None) -> ToolOutput:
        """Run a demos/ graph by name, or a graph file inside the roots; relative outputs go to a fresh folder."""
        from ..security.documents import check_document

        check_document(overrides, "run_graph overrides")
        folder = self.sandbox.new_output_folder("graph")
        report = self._bounded(
            run_graph_guarded, self.sandbox, graph, overrides or {}, folder, what=f"run_graph {graph!r}"[:80]
        )
        text = json.dumps(report, default=str)
        if len(text) > 4000:
            text = text[:4000] + " ... (truncated; the full report is in the artifact)"
        return ToolOutput(
            f"Ran graph {graph}; outputs in {folder}.\n{text}", files={"folder": str(folder)}, report=report
        )
