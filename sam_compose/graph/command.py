"""Run a graph file (JSON or YAML) and print the run report as JSON.

    sam-compose run GRAPH.json|GRAPH.yaml [--set NODE.PARAM=VALUE]... [--out DIR]

``--set`` values are parsed as JSON (``--set seg.multimask=true``, ``--set
box.boxes=[[10,10,200,200]]``) and otherwise taken as a string (``--set
img.path=photo.jpg``); an unknown node or param is an error (exit code 2). Relative
output paths (``save_image``, ``export``) go under ``--out DIR``. The report goes to
stdout; a progress bar goes to stderr. Exit code 0 when every node ran, 2 when a node
failed on bad input, 1 for any other failure.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("graph", nargs="?", help="graph file (.json, .yaml or .yml)")
    add_set_argument(parser)
    parser.add_argument(
        "--out",
        metavar="DIR",
        help="folder for relative output paths (created if needed); written atomically: only when "
        "every node ran, and files of an earlier run that this one did not write are removed",
    )
    parser.add_argument(
        "--output",
        dest="outputs",
        action="append",
        metavar="NODE[.PORT]",
        help="report only these outputs (and run only what they need); repeatable",
    )
    parser.add_argument("--max-frames", type=int, metavar="N", help="stop a video graph after N frames")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    parser.add_argument("--list-nodes", action="store_true", help="print every node type (JSON) and exit")


def add_set_argument(parser: argparse.ArgumentParser) -> None:
    """``--set NODE.PARAM=VALUE`` (repeatable), as ``sam-compose run`` and ``sam-compose batch`` take it."""
    parser.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="NODE.PARAM=VALUE",
        help="override a param; VALUE is JSON, else a string (repeatable)",
    )


def set_values(graph: Any, texts: list[str]) -> dict[str, Any]:
    """``--set`` texts -> {"node.param": value} for ``graph``; GraphError for a node it lacks."""
    from ..errors import GraphError

    values: dict[str, Any] = {}
    for text in texts:
        target, value = parse_set(text)
        nid = target.partition(".")[0]
        if nid not in graph.nodes:
            raise GraphError(f"--set {text!r}: there is no node {nid!r}; nodes: {', '.join(sorted(graph.nodes))}")
        values[target] = _prefer_string(graph, target, value, text.partition("=")[2])
    return values


def parse_set(text: str) -> tuple[str, Any]:
    """``"seg.engine=opencv"`` -> ("seg.engine", "opencv"); the value is JSON when it parses."""
    from ..errors import GraphError

    target, sep, raw = text.partition("=")
    node, dot, param = target.partition(".")
    if not sep or not dot or not node or not param:
        raise GraphError(f"--set expects NODE.PARAM=VALUE (e.g. seg.engine=opencv), got {text!r}")
    from ..security.documents import parse_json

    try:
        value = parse_json(raw, f"--set {target}")
    except json.JSONDecodeError:
        value = raw
    return target.strip(), value


def _prefer_string(graph: Any, target: str, value: Any, raw: str) -> Any:
    """``--set img.path=123`` means the string "123" when the param is a string and the JSON value does not fit."""
    from ..nodes.api import check_type
    from ..nodes.registry import find

    nid, _, param = target.partition(".")
    spec = find(graph.nodes[nid].type) if nid in graph.nodes else None
    if spec is None or param not in spec.params or isinstance(value, str):
        return value
    annotation = spec.params[param].annotation
    try:
        check_type(annotation, value)
        return value
    except TypeError:
        try:
            check_type(annotation, raw)
            return raw
        except TypeError:
            return value


def tqdm_progress(total_hint: int | None = None) -> tuple[Callable[[dict[str, Any]], None], Callable[[], None]]:
    """A progress callback drawing tqdm bars on stderr (nodes, then frames); returns (callback, close)."""
    from tqdm import tqdm

    bars: dict[str, Any] = {}

    def callback(event: dict[str, Any]) -> None:
        if event["event"] == "node":
            bar = bars.get("nodes")
            if bar is None:
                bar = bars["nodes"] = tqdm(
                    total=event["total"], unit="node", desc="graph", file=sys.stderr, leave=False
                )
            bar.set_postfix_str(f"{event['node']} {event['status']}", refresh=False)
            bar.update(1)
        elif event["event"] == "frame":
            bar = bars.get("frames")
            if bar is None:
                bar = bars["frames"] = tqdm(unit="frame", desc="stream", file=sys.stderr, leave=False)
            bar.update(1)

    def close() -> None:
        for bar in bars.values():
            bar.close()

    return callback, close


def main(args: argparse.Namespace) -> int:
    from ..nodes.registry import catalog
    from .model import Graph

    if args.list_nodes:
        print(json.dumps(catalog(), indent=2))
        return 0
    if not args.graph:
        from ..errors import GraphError

        raise GraphError("give a graph file: sam-compose run GRAPH.json|GRAPH.yaml (or --list-nodes)")
    graph = Graph.from_file(args.graph)
    for target, value in set_values(graph, args.sets).items():
        graph.set_param(target, value)
    graph.validate()  # every problem reported before anything runs (and before a progress bar appears)
    progress, close = (None, lambda: None) if args.no_progress else tqdm_progress()
    try:
        if args.out is None:
            report = graph.run(outputs=args.outputs, progress=progress, max_frames=args.max_frames)
            doc = report.to_json()
        else:
            report, doc = _run_into(graph, args, progress)
    finally:
        close()
    print(json.dumps(doc, indent=2))
    if report.ok:
        return 0
    from .report import GraphRunError

    failed = {n: d for n, d in report["nodes"].items() if "error" in d}
    print(
        f"error: {GraphRunError(report)}{'; nothing was written to ' + args.out if args.out else ''}", file=sys.stderr
    )  # the first failure, and how many more
    return 2 if all(d.get("input_error") for d in failed.values()) else 1


class _Failed(Exception):
    """A node failed: the staged outputs are dropped (--out stays as it was)."""


def _run_into(graph: Any, args: argparse.Namespace, progress: Any) -> tuple[Any, dict[str, Any]]:
    """Run with relative outputs staged next to ``--out`` and renamed into it only if every node ran.

    Paths in the report name their final place. Files an earlier run wrote into ``--out``
    and this one did not are removed (see :mod:`sam_compose.security.atomic`).
    """
    from pathlib import Path

    from ..security.atomic import staged_output

    out = Path(args.out)
    holder: dict[str, Any] = {}
    try:
        with staged_output(out, what=f"sam-compose run {args.graph}") as stage:
            report = graph.run(outputs=args.outputs, out_dir=stage, progress=progress, max_frames=args.max_frames)
            holder["report"] = report
            holder["doc"] = _moved(report.to_json(), str(stage), str(out))
            if not report.ok:
                raise _Failed()
    except _Failed:
        pass
    return holder["report"], holder["doc"]


def _moved(value: Any, old: str, new: str) -> Any:
    """``value`` (a JSON report) with paths under ``old`` renamed to ``new``."""
    if isinstance(value, str):
        return new + value[len(old) :] if value == old or value.startswith(old + "/") else value
    if isinstance(value, dict):
        return {k: _moved(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_moved(v, old, new) for v in value]
    return value
