"""LangChain tools: ``segment_image``, ``generate_masks``, ``run_graph``.

    from sam_compose.integrations.langchain import get_tools
    tools = get_tools(engine="auto", allowed_roots=["./images"], output_dir="./out")
    llm_with_tools = chat_model.bind_tools(tools)

Each tool answers the model with a short text (areas, boxes, scores, written files) and
carries the full result as the ToolMessage artifact (``response_format="content_and_artifact"``:
``{"masks": sam_compose.Masks, "files": {...}}``). Problems come back as a ToolMessage with
``status="error"`` whose text tells the model how to fix the call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from ..errors import SamComposeError, require

require("langchain_core", feature="the LangChain tools")
require("pydantic", feature="the LangChain tools")

from langchain_core.tools import BaseTool, ToolException  # noqa: E402
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator  # noqa: E402

from ..engines import Engine  # noqa: E402
from .service import AgentService, ToolOutput  # noqa: E402


def _validation_message(err: ValidationError) -> str:
    parts = []
    for e in err.errors():
        where = ".".join(str(x) for x in e.get("loc", ())) or "input"
        parts.append(f"{where}: {e.get('msg', 'invalid')}")
    return "Invalid arguments: " + "; ".join(parts) + ". Fix these fields and call the tool again."


class SegmentImageArgs(BaseModel):
    """Arguments of ``segment_image``."""

    model_config = ConfigDict(extra="forbid")
    image: str = Field(description="Path of the image inside the allowed folders, or sample:NAME (e.g. sample:coffee).")
    points: list[list[float]] | None = Field(None, description="Pixel points [[x, y], ...] on the object.")
    labels: list[int] | None = Field(None, description="One label per point: 1 = on the object, 0 = background.")
    boxes: list[list[float]] | None = Field(
        None, description="Boxes [[x0, y0, x1, y1], ...] in pixels; one object per box."
    )
    text: str | None = Field(
        None,
        description="What to segment in words, e.g. 'the red mug' (needs CLIP weights). "
        "With gaze: the one thing that is both named and looked at.",
    )
    gaze: str | None = Field(
        None,
        description="Path of an eye-tracker recording inside the allowed folders. "
        "With text: the named thing that was looked at.",
    )
    multimask: bool = Field(False, description="Return three candidate masks per prompt.")

    @field_validator("boxes")
    @classmethod
    def _four_numbers(cls, v: list[list[float]] | None) -> list[list[float]] | None:
        for b in v or []:
            if len(b) != 4:
                raise ValueError(f"each box needs 4 numbers [x0, y0, x1, y1], got {b}")
        return v

    @field_validator("points")
    @classmethod
    def _two_numbers(cls, v: list[list[float]] | None) -> list[list[float]] | None:
        for p in v or []:
            if len(p) != 2:
                raise ValueError(f"each point needs 2 numbers [x, y], got {p}")
        return v


class GenerateMasksArgs(BaseModel):
    """Arguments of ``generate_masks``."""

    model_config = ConfigDict(extra="forbid")
    image: str = Field(description="Path of the image inside the allowed folders, or sample:NAME.")
    points_per_side: int | None = Field(None, ge=2, le=64, description="Density of the point grid (default: engine's).")
    max_masks: int = Field(20, ge=1, le=200, description="Keep at most this many masks, largest first.")


class RunGraphArgs(BaseModel):
    """Arguments of ``run_graph``."""

    model_config = ConfigDict(extra="forbid")
    graph: str = Field(
        description="Name of a demos/ graph (e.g. 'box_inpaint') or a graph file inside the allowed folders."
    )
    overrides: dict[str, Any] | None = Field(
        None, description="Parameter overrides as {'NODE.PARAM': value}, e.g. {'seg.engine': 'opencv'}."
    )


class _SamComposeTool(BaseTool):
    """Shared plumbing: call the service, translate errors, run async in a thread."""

    service: Any = None
    response_format: Literal["content", "content_and_artifact"] = "content_and_artifact"
    handle_tool_error: bool = True
    handle_validation_error: Any = _validation_message

    def _run(self, run_manager: Any = None, **kwargs: Any) -> tuple[str, dict[str, Any]]:
        try:
            # each tool is the AgentService method of the same name
            out: ToolOutput = getattr(self.service, self.name)(**kwargs)
        except (SamComposeError, ValueError, OSError) as exc:
            raise ToolException(f"{' '.join(str(exc).split())}") from exc
        return out.text, out.artifact()

    async def _arun(self, run_manager: Any = None, **kwargs: Any) -> tuple[str, dict[str, Any]]:
        return await asyncio.to_thread(self._run, **kwargs)


class SegmentImageTool(_SamComposeTool):
    name: str = "segment_image"
    description: str = (
        "Segment objects in an image. Give the image path and at least one of: points (with labels), boxes, "
        "text, or a gaze recording; text and gaze together find the one named thing that was looked at. "
        "Returns each mask's score, area, box and the PNG file written."
    )
    args_schema: type[BaseModel] = SegmentImageArgs


class GenerateMasksTool(_SamComposeTool):
    name: str = "generate_masks"
    description: str = (
        "Find every object and region in an image automatically (no prompt needed). Returns the largest masks "
        "with scores, areas, boxes and files."
    )
    args_schema: type[BaseModel] = GenerateMasksArgs


class RunGraphTool(_SamComposeTool):
    name: str = "run_graph"
    description: str = (
        "Run a segmentation pipeline: a demos/ graph by name or a graph file (JSON/YAML) inside the allowed "
        "folders, optionally overriding parameters. Returns the run report with each node's outputs."
    )
    args_schema: type[BaseModel] = RunGraphArgs


def get_tools(
    engine: str | Engine = "auto",
    allowed_roots: Sequence[str | Path] | None = None,
    output_dir: str | Path | None = None,
    max_file_bytes: int | None = None,
    timeout_s: float = 120.0,
    service: AgentService | None = None,
) -> list[BaseTool]:
    """The three tools over one :class:`AgentService` (one engine, one sandbox)."""
    svc = service or AgentService(
        engine=engine,
        allowed_roots=allowed_roots,
        output_dir=output_dir,
        max_file_bytes=max_file_bytes,
        timeout_s=timeout_s,
    )
    return [SegmentImageTool(service=svc), GenerateMasksTool(service=svc), RunGraphTool(service=svc)]
