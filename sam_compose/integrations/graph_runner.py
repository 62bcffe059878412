"""Running graphs for agents: demos by name or files inside the roots, confined by a path guard."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InputError
from ..graph.demos import GRAPH_SUFFIXES, demo_graphs, demos_dir, find_demo
from .sandbox import AccessError

if TYPE_CHECKING:
    from .service import AgentService


def find_graph(service: "AgentService", graph: str) -> Path:
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
    return service.sandbox.resolve_input(name, "graph file")


def run_graph_sandboxed(service: "AgentService", graph: str, overrides: dict[str, Any]) -> tuple[dict[str, Any], Path]:
    """Validate and run ``graph`` with ``overrides`` ({"node.param": value}); every file a node reads
    must be inside the roots (or the demos folder), every file it writes goes inside the run folder."""
    from ..graph import Graph

    path = find_graph(service, graph)
    g = Graph.from_file(path)
    folder = service.sandbox.new_output_folder("graph")
    demos = demos_dir()
    readable = [*service.sandbox.roots, folder] + ([demos] if demos is not None else [])

    def inside(p: Path, roots: list[Path]) -> bool:
        real = p.resolve()
        return any(real == r or r in real.parents for r in roots)

    def guard(p: Any, mode: str) -> None:
        text = str(p)
        if text.startswith("sample:"):
            return
        if mode == "write":
            if not inside(Path(text), [folder]):
                raise AccessError(f"graph node writes {text}, outside this run's folder {folder}; use a relative path")
        elif not inside(Path(text), readable):
            raise AccessError(f"graph node reads {text}, outside the allowed folders ({service.sandbox.describe_roots()})")

    if not isinstance(overrides, dict):
        raise InputError("overrides must be an object like {\"seg.engine\": \"opencv\"}")
    report = service._bounded(lambda: g.run(params=dict(overrides), out_dir=folder, path_guard=guard))
    doc = report.to_json()
    if not doc.get("ok", True):
        failed = {nid: info.get("error") for nid, info in doc.get("nodes", {}).items() if info.get("error")}
        raise InputError(f"graph {graph!r} failed: " + "; ".join(f"{k}: {v}" for k, v in failed.items()))
    return doc, folder
