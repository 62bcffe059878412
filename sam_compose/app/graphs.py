"""The Graph tab without UI: list the demos/ graph files and run one through ``sam_compose.Graph``.

Graph files are JSON or YAML in the format of DESIGN.md. A run returns the runtime's
report (per-node timings and outputs); images found among the outputs (arrays or image
files written by ``save_image``) are collected for a gallery.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..errors import InputError
from ..graph.demos import GRAPH_SUFFIXES
from .features import feature

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


def demos_dir() -> Path:
    """The demos/ folder (see :func:`sam_compose.graph.demos.demos_dir`)."""
    from ..graph.demos import demos_dir as find

    return find() or Path(__file__).resolve().parents[2] / "demos"


def graph_language(name: str) -> Literal["yaml", "json"]:
    """``"yaml"`` or ``"json"`` for the code editor, from the file name."""
    return "yaml" if str(name).lower().endswith((".yaml", ".yml")) else "json"


def list_graphs(folder: Path | None = None) -> list[str]:
    """Names of the graph files in ``folder`` (default :func:`demos_dir`), sorted."""
    folder = folder or demos_dir()
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.suffix.lower() in GRAPH_SUFFIXES and p.is_file())


def read_graph(name: str, folder: Path | None = None) -> str:
    """The text of the graph file ``name`` in ``folder``."""
    folder = folder or demos_dir()
    if not name:
        raise InputError("choose a graph file first")
    path = (folder / name).resolve()
    if path.parent != folder.resolve() or not path.is_file():
        raise InputError(
            f"no graph named {name!r} in {folder}; choose one of {', '.join(list_graphs(folder)) or 'none'}"
        )
    return path.read_text()


def parse_graph(text: str) -> dict[str, Any]:
    """A graph dict from JSON or YAML text (parsed by :func:`sam_compose.graph.serialization.parse_text`)."""
    from ..graph.serialization import parse_text

    if not text or not text.strip():
        raise InputError("the graph is empty: pick a demo graph or paste one")
    doc = parse_text(text, "the graph")  # within the document limits (size, nesting, aliases, ...)
    if not isinstance(doc, dict) or "nodes" not in doc:
        raise InputError(
            'a graph is an object with a "nodes" mapping, e.g. {"nodes": {"img": {"type": "load_image", ...}}}'
        )
    return doc


def run_graph(
    text: str, out_dir: Path, base_dir: Path | None = None, *, guard: Any = None
) -> tuple[dict[str, Any], list[Any]]:
    """Run the graph ``text``; returns (the report's JSON summary, images for a gallery).

    Relative paths in the graph resolve against ``base_dir`` (default :func:`demos_dir`);
    relative output paths go under ``out_dir``. ``guard`` (a
    :class:`~sam_compose.security.paths.PathGuard`) confines every file the graph reads or
    writes; the demo always passes the session's guard, whose only writable folder is
    ``out_dir``. Only images written inside ``out_dir`` (or computed) are returned.
    """
    Graph = feature("Graph")
    doc = parse_graph(text)
    out_dir.mkdir(parents=True, exist_ok=True)
    base = (base_dir or demos_dir()).resolve()
    graph = Graph.from_dict(doc, base_dir=base if base.is_dir() else out_dir)
    report = graph.run(out_dir=str(out_dir), path_guard=guard)
    if not report.ok:
        failed = {nid: info["error"] for nid, info in report["nodes"].items() if "error" in info}
        raise InputError("the graph failed: " + "; ".join(f"{k}: {v}" for k, v in list(failed.items())[:3]))
    images = collect_images(report, out_dir.resolve())
    return report.to_json(), images


def collect_images(value: Any, base: Path, found: list[Any] | None = None) -> list[Any]:
    """Images among a report's values: (H, W, 3) arrays, and paths to image files inside ``base``
    (files anywhere else are never handed to the page, which would serve them)."""
    found = [] if found is None else found
    if isinstance(value, np.ndarray) and value.ndim == 3 and value.shape[2] in (3, 4) and value.dtype == np.uint8:
        found.append(value)
    elif isinstance(value, (str, os.PathLike)) and str(value).lower().endswith(IMAGE_SUFFIXES):
        p = Path(value)
        p = (p if p.is_absolute() else base / p).resolve()
        if p.is_file() and base in p.parents:
            found.append(str(p))
    elif isinstance(value, dict):
        for v in value.values():
            collect_images(v, base, found)
    elif isinstance(value, (list, tuple)):
        for v in value:
            collect_images(v, base, found)
    return found
