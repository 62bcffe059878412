"""Running graphs for agents: demos by name or files inside the roots, confined by the path guard.

Knows only the :class:`~sam_compose.integrations.sandbox.FileSandbox` (not the service that
calls it), so ``service -> graph_runner -> sandbox`` has no import cycle.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import InputError
from ..graph.demos import GRAPH_SUFFIXES, demo_graphs, find_demo
from .sandbox import FileSandbox

__all__ = ["find_graph", "run_graph_guarded"]


def find_graph(sandbox: FileSandbox, graph: str) -> Path:
    """A demo graph by name (``box_segment_overlay``) or a graph file inside the roots."""
    if not isinstance(graph, str) or not graph.strip():
        raise InputError("graph must be a demo name or a graph file path")
    name = graph.strip()
    if "/" not in name and "\\" not in name:
        demo = find_demo(name)
        if demo is not None:
            return demo
    path = Path(name)
    if path.suffix not in GRAPH_SUFFIXES:
        known = ", ".join(demo_graphs()) or "none in this installation"
        raise InputError(f"graph {graph!r} is neither a demo name ({known}) nor a .json/.yaml file")
    return sandbox.resolve_input(name, "graph file")


def run_graph_guarded(sandbox: FileSandbox, graph: str, overrides: dict[str, Any], folder: Path) -> dict[str, Any]:
    """Validate and run ``graph`` with ``overrides`` ({"node.param": value}) under the call's guard:
    every file a node reads must be inside the roots (or the demos folder) and every file it writes
    inside ``folder``. Returns the report's JSON; a failed node is an InputError naming it."""
    from ..graph import Graph

    if not isinstance(overrides, dict):
        raise InputError('overrides must be an object like {"seg.engine": "opencv"}')
    path = find_graph(sandbox, graph)
    g = Graph.from_file(path)
    report = g.run(params=dict(overrides), out_dir=folder, path_guard=sandbox.call_guard(folder))
    doc = report.to_json()
    if not doc.get("ok", True):
        failed = {nid: info.get("error") for nid, info in doc.get("nodes", {}).items() if info.get("error")}
        raise InputError(f"graph {graph!r} failed: " + "; ".join(f"{k}: {v}" for k, v in failed.items()))
    return doc
