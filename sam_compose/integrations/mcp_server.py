"""An MCP server exposing ``segment_image``, ``generate_masks`` and ``run_graph``.

Built on the official ``mcp`` SDK (``MCPServer``). Tools answer with text for the model
and, for segmentation, the overlay as image content. Errors come back as tool errors
whose text tells the model how to fix the call.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ..errors import SamComposeError
from .service import AgentService, ToolOutput


def build_server(service: AgentService, name: str = "sam-compose") -> Any:
    """An ``mcp.server.MCPServer`` with the three tools bound to ``service``."""
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError
    from mcp.server.mcpserver.utilities.types import Image

    server = MCPServer(
        name,
        log_level="WARNING",
        instructions=(
            "Segment Anything tools. Image paths must be inside the allowed folders "
            f"({service.sandbox.describe_roots()}) or sample:NAME. Coordinates are pixels: points [x, y], "
            "boxes [x0, y0, x1, y1]."
        ),
    )

    async def call(fn: Any, **kwargs: Any) -> ToolOutput:
        try:
            return await asyncio.to_thread(fn, **kwargs)
        except (SamComposeError, ValueError, OSError) as exc:
            raise ToolError(" ".join(str(exc).split())) from exc

    def with_image(out: ToolOutput) -> list[Any]:
        parts: list[Any] = [out.text]
        if out.overlay_png is not None:
            parts.append(Image(data=out.overlay_png, format="png"))
        return parts

    @server.tool(
        name="segment_image",
        structured_output=False,
        description=(
            "Segment objects in an image from points (with labels 1 = object, 0 = background), boxes "
            "[[x0, y0, x1, y1]], text, or a gaze recording path; text with gaze finds the one named thing that was "
            "looked at. Returns scores, areas, boxes, files and an overlay."
        ),
    )
    async def segment_image(
        image: str,
        points: list[list[float]] | None = None,
        labels: list[int] | None = None,
        boxes: list[list[float]] | None = None,
        text: str | None = None,
        gaze: str | None = None,
        multimask: bool = False,
    ) -> list[Any]:
        for p in points or []:
            if len(p) != 2:
                raise ToolError(f"each point needs 2 numbers [x, y], got {p}")
        return with_image(
            await call(
                service.segment_image,
                image=image,
                points=points,
                labels=labels,
                boxes=boxes,
                text=text,
                gaze=gaze,
                multimask=multimask,
            )
        )

    @server.tool(
        name="generate_masks",
        structured_output=False,
        description=(
            "Find every object and region in an image automatically. Returns the largest masks and an overlay."
        ),
    )
    async def generate_masks(image: str, points_per_side: int | None = None, max_masks: int = 20) -> list[Any]:
        return with_image(
            await call(service.generate_masks, image=image, points_per_side=points_per_side, max_masks=max_masks)
        )

    @server.tool(
        name="run_graph",
        structured_output=False,
        description=(
            "Run a segmentation pipeline: a demos/ graph by name or a graph file inside the allowed folders; "
            "overrides as {'NODE.PARAM': value}. Returns the run report."
        ),
    )
    async def run_graph(graph: str, overrides: dict[str, Any] | None = None) -> str:
        return (await call(service.run_graph, graph=graph, overrides=overrides)).text

    return server
