"""The node API: ``@node`` and ``Param``.

A node is a plain function (or, for per-stream state, a class) with typed ports::

    from sam_compose.nodes.api import node, Param
    from sam_compose.nodes.ports import Image, Masks

    @node("inpaint", category="outputs", description="Remove masked objects from an image.")
    def inpaint_node(image: Image, masks: Masks, *,
                     method: str = Param("telea", choices=("telea", "ns"), description="OpenCV method"),
                     radius: int = Param(5, ge=1, le=100, description="radius in pixels")) -> Image:
        ...

* positional parameters are **input ports** (type from the hint; a default of ``None``
  makes the input optional);
* keyword-only parameters are **params** (JSON values set in the graph file; ``Param``
  gives default, range, choices and description; a plain default works too; ``Param()``
  with no default makes the param required);
* the return annotation is the single **output port** (named after its type in lower
  case: ``image``, ``masks``, ``prompts``, ...; ``FilePath`` -> ``path``, ``PointCloud``
  -> ``cloud``; no annotation -> ``out`` of type Any; ``-> None`` -> no output); several outputs: ``@node(..., outputs={"a": Image,
  "b": Depth})`` and return a dict with those keys.

Stateful per-stream nodes (trackers, video writers) are classes::

    @node("track", category="outputs", stateful=True)
    class TrackNode:
        def __init__(self, *, engine: str = Param("opencv")): ...      # params
        def __call__(self, image: Image, masks: Masks | None = None) -> Masks: ...  # per frame
        def close(self) -> None: ...                                      # optional, end of stream

The decorator returns the function or class unchanged (with ``__node_spec__`` set), so
nodes stay callable as ordinary Python. Node modules in ``sam_compose/nodes/`` are
discovered automatically (see :mod:`sam_compose.nodes.registry`).

While a graph runs, :func:`output_path`, :func:`input_path`, :func:`frame_index` and
:func:`current_node` tell a node where relative paths go (``--out DIR``), where the
graph file lives, and which frame of a stream it is processing.
"""

from __future__ import annotations

from ..errors import GraphError
from .context import (
    RunContext,
    current_node,
    file_stamp,
    frame_index,
    guarded_clip_spec,
    input_files,
    input_path,
    model_spec,
    node_engine,
    note,
    output_path,
    reset_run_context,
    run_context,
    set_run_context,
)
from .decorator import node
from .params import PARAM_KINDS, REQUIRED, Param, ParamInfo
from .spec import InputPort, NodeSpec
from .typecheck import check_type, type_name

__all__ = [
    "PARAM_KINDS",
    "REQUIRED",
    "GraphError",
    "InputPort",
    "NodeSpec",
    "Param",
    "ParamInfo",
    "RunContext",
    "check_type",
    "current_node",
    "file_stamp",
    "frame_index",
    "guarded_clip_spec",
    "input_files",
    "input_path",
    "model_spec",
    "node",
    "node_engine",
    "note",
    "output_path",
    "reset_run_context",
    "run_context",
    "set_run_context",
    "type_name",
]
