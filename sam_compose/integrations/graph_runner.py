"""Running graphs for agents: demos by name or files inside the roots, confined by a path guard."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InputError
from .sandbox import AccessError

if TYPE_CHECKING:
    from .service import AgentService

GRAPH_SUFFIXES = (".json", ".yaml", ".yml")


def demos_dir() -> Path | None:
    """The ``demos/`` folder of a source checkout, if there is one."""
    here = Path(__file__).resolve().parents[2] / "demos"
    return here if here.is_dir() else None


def demo_names() -> list[str]:
    d = demos_dir()
    if d is None:
        return []
    return sorted(p.stem for p in d.rglob("*") if p.suffix in GRAPH_SUFFIXES and "data" not in p.parts)


def find_graph(service: "AgentService", graph: str) -> Path:
    """A demo graph by name (``box_segment_overlay``) or a graph file inside the roots."""
    if not isinstance(graph, str) or not graph.strip():
        raise InputError("graph must be a demo name or a graph file path")
    name = graph.strip()
    d = demos_dir()
    if "/" not in name and "\\" not in name and d is not None:
        stem = Path(name).stem if Path(name).suffix in GRAPH_SUFFIXES else name
        for p in sorted(d.rglob("*")):
            if p.stem == stem and p.suffix in GRAPH_SUFFIXES:
                return p
    path = Path(name)
    if path.suffix not in GRAPH_SUFFIXES:
        known = ", ".join(demo_names()) or "none in this installation"
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
