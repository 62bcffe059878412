"""Node graphs: build in Python or read JSON/YAML, check before running, run with a cache.

    import sam_compose as sc
    g = sc.Graph.from_file("demos/box_segment_overlay.json")
    report = g.run(out_dir="out")          # {"ok", "ms", "nodes": {...}, "outputs": {...}}

See docs/graphs.md.
"""

from __future__ import annotations

from ..errors import GraphError
from .cache import ResultCache, default_cache
from .model import Graph, NodeRef, OutputRef
from .report import GraphRunError, RunReport, summarize
from .validation import Plan

__all__ = [
    "Graph",
    "GraphError",
    "GraphRunError",
    "NodeRef",
    "OutputRef",
    "Plan",
    "ResultCache",
    "RunReport",
    "default_cache",
    "summarize",
]
