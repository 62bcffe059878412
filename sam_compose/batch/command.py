"""Run a graph over every file of a folder, a glob or a list, resumably (sam-compose batch).

    sam-compose batch GRAPH --inputs DIR|GLOB|LIST.txt --out OUT [--input NODE] [--workers N]
                      [--backend local|ray] [--gpus-per-worker G] [--resume] [--retry-failed]
                      [--set NODE.PARAM=VALUE]... [--no-merge] [--no-progress]

Each input file is fed to the graph's load_image node (or the node named by --input:
load_video, load_gaze, ...). Writes OUT/manifest.jsonl (a line per finished item),
OUT/annotations.json (COCO, pycocotools-readable) and OUT/items/<name>/. Prints a JSON
summary on stdout and one line on stderr. Exit codes: 0 every item ok; 3 some items
failed (the rest done); 2 bad arguments; 1 stopped (disk full); 130/143 interrupted by
Ctrl-C / SIGTERM (run the same command with --resume to continue).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys


def configure(parser: argparse.ArgumentParser) -> None:
    from ..graph.command import add_set_argument

    parser.add_argument("graph", help="graph file (.json, .yaml or .yml)")
    parser.add_argument(
        "--inputs",
        required=True,
        metavar="DIR|GLOB|LIST",
        help="a folder (searched recursively), a quoted glob such as 'photos/**/*.jpg', "
        "or a text file with one path per line",
    )
    parser.add_argument(
        "--out", required=True, metavar="OUT", help="output folder (manifest.jsonl, annotations.json, items/)"
    )
    parser.add_argument(
        "--input",
        dest="input_node",
        metavar="NODE",
        help="node fed with each file (default: the graph's load_image node)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="worker processes (local, default 1) or actors (ray, default one per CPU)",
    )
    parser.add_argument("--backend", default="local", choices=("local", "ray"), help="where items run (default local)")
    parser.add_argument(
        "--gpus-per-worker", type=float, metavar="G", help="ray: GPUs reserved per actor (e.g. 1 or 0.5)"
    )
    parser.add_argument(
        "--resume", action="store_true", help="continue the run in OUT, skipping what its manifest records"
    )
    parser.add_argument("--retry-failed", action="store_true", help="with --resume: run the failed items again")
    add_set_argument(parser)
    parser.add_argument(
        "--no-merge",
        action="store_true",
        help="no OUT/annotations.json, only each item's items/<name>/_coco.json "
        "(for datasets too large for one JSON file)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


def _resume_command(argv: list[str]) -> str:
    args = list(argv)
    if "--resume" not in args:
        args.append("--resume")
    return "sam-compose " + " ".join(shlex.quote(a) for a in args)


def main(args: argparse.Namespace) -> int:
    from ..graph.command import set_values
    from ..graph.model import Graph
    from ..nodes.api import GraphError

    if args.retry_failed and not args.resume:
        raise GraphError("--retry-failed continues a run: add --resume")
    graph = Graph.from_file(args.graph)
    params = set_values(graph, args.sets)
    summary = graph.run_batch(
        args.inputs,
        args.out,
        workers=args.workers,
        backend=args.backend,
        resume=args.resume,
        input=args.input_node,
        params=params,
        gpus_per_worker=args.gpus_per_worker,
        retry_failed=args.retry_failed,
        progress=not args.no_progress,
        merge=not args.no_merge,
    )
    print(json.dumps(summary.to_json(), indent=2))
    line = summary.message
    if summary.stopped in ("interrupted", "disk full") and sys.argv[1:2] == ["batch"]:
        line = f"{line}: {_resume_command(sys.argv[1:])}"
    print(line, file=sys.stderr)
    return summary.exit_code
