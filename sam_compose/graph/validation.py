"""Checking a graph before anything runs, and planning its execution.

:func:`validate` finds every problem it can (unknown node types, unknown, missing,
wrongly typed or out-of-range params, unknown input ports, wires to nodes or ports that
do not exist, outputs wired into inputs of another type, missing required inputs,
cycles, misuse of video streams) and raises one :class:`GraphError` whose message lists
them, each naming the node and the port. Nothing is imported from the file and nothing
runs. Everything is iterative, so a chain of 10,000 nodes is fine.

The returned :class:`Plan` holds the topological order, the checked params, the resolved
wires and which nodes run once per frame of a video stream.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from ..errors import GraphError
from ..nodes.ports import connection
from ..nodes.registry import find
from ..nodes.spec import NodeSpec
from .structure import GraphLike, parse_ref

MAX_LISTED_PROBLEMS = 8


@dataclass(frozen=True)
class Wire:
    """An input's source: ``node.port``; ``mode`` is 'direct' or 'per_frame' (Video -> Image)."""

    node: str
    port: str
    mode: str = "direct"


@dataclass
class Plan:
    """A validated graph ready to run."""

    order: list[str]
    specs: dict[str, NodeSpec]
    params: dict[str, dict[str, Any]]
    wires: dict[str, dict[str, Wire]]
    per_frame: set[str] = field(default_factory=set)
    stream_sources: list[str] = field(default_factory=list)
    consumers: dict[str, list[str]] = field(default_factory=dict)
    fed: set[str] = field(default_factory=set)

    @property
    def streaming(self) -> bool:
        return bool(self.per_frame)

    def sinks(self) -> list[str]:
        """Nodes nothing else consumes (the default outputs of a run), in topological order."""
        return [n for n in self.order if not self.consumers.get(n)]

    def ancestors(self, targets: list[str], stop: set[str] | None = None) -> set[str]:
        """``targets`` and every node they depend on (not looking past nodes in ``stop``)."""
        seen = set(targets)
        todo = list(targets)
        while todo:
            n = todo.pop()
            if stop and n in stop:
                continue
            for w in self.wires[n].values():
                if w.node not in seen:
                    seen.add(w.node)
                    todo.append(w.node)
        return seen


class _Problems:
    def __init__(self) -> None:
        self.items: list[GraphError] = []

    def add(self, message: str, node: str | None = None, port: str | None = None) -> None:
        self.items.append(GraphError(message, node, port))

    def raise_if_any(self) -> None:
        if not self.items:
            return
        first = self.items[0]
        if len(self.items) == 1:
            raise first
        listed = "; ".join(str(e) for e in self.items[:MAX_LISTED_PROBLEMS])
        more = f"; and {len(self.items) - MAX_LISTED_PROBLEMS} more" if len(self.items) > MAX_LISTED_PROBLEMS else ""
        err = GraphError(f"{len(self.items)} problems in the graph: {listed}{more}", first.node, first.port)
        err.problems = list(self.items)
        raise err


def validate(graph: GraphLike, *, fed: set[str] | None = None) -> Plan:
    """Check ``graph`` and plan it. ``fed`` names nodes whose outputs the caller supplies
    (their params are not checked and they do not run)."""
    fed = set(fed or ())
    problems = _Problems()
    nodes = graph.nodes
    if not nodes:
        raise GraphError("the graph has no nodes")
    specs: dict[str, NodeSpec] = {}
    params: dict[str, dict[str, Any]] = {}
    for nid, nd in nodes.items():
        spec = find(nd.type)
        if spec is None:
            from ..nodes.registry import DISCOVERY_ERRORS, available

            near = [n for n in available() if n.startswith(nd.type[:3])][:5]
            hint = f"; did you mean {', '.join(near)}?" if near else f"; known types: {', '.join(available())}"
            broken = f" (modules that failed to import: {', '.join(DISCOVERY_ERRORS)})" if DISCOVERY_ERRORS else ""
            problems.add(f"node {nid!r}: unknown node type {nd.type!r}{hint}{broken}", nid)
            continue
        specs[nid] = spec
        if nid in fed:
            params[nid] = dict(nd.params)
            continue
        try:
            params[nid] = spec.check_params(nd.params, nid)
        except GraphError as exc:
            problems.add(str(exc), exc.node, exc.port)

    wires: dict[str, dict[str, Wire]] = {nid: {} for nid in nodes}
    consumers: dict[str, list[str]] = {nid: [] for nid in nodes}
    for nid, nd in nodes.items():
        spec = specs.get(nid)
        for port, ref in nd.inputs.items():
            src, src_port = parse_ref(ref)
            if spec is not None and port not in spec.inputs:
                problems.add(
                    f"node {nid!r} ({nd.type}) has no input port {port!r}; inputs: {', '.join(spec.inputs) or 'none'}",
                    nid,
                    port,
                )
                continue
            if src not in nodes:
                problems.add(f"node {nid!r} input {port!r} refers to node {src!r}, which does not exist", nid, port)
                continue
            src_spec = specs.get(src)
            if src_spec is None or spec is None:
                continue  # the unknown type is already reported
            if src_port is None:
                if len(src_spec.outputs) != 1:
                    outs = ", ".join(f"{src}.{p}" for p in src_spec.outputs) or "none"
                    problems.add(
                        f"node {nid!r} input {port!r}: node {src!r} ({src_spec.name}) has "
                        f"{len(src_spec.outputs)} outputs; name one: {outs}",
                        nid,
                        port,
                    )
                    continue
                (src_port,) = src_spec.outputs
            if src_port not in src_spec.outputs:
                problems.add(
                    f"node {nid!r} input {port!r}: node {src!r} ({src_spec.name}) has no output "
                    f"{src_port!r}; outputs: {', '.join(src_spec.outputs) or 'none'}",
                    nid,
                    port,
                )
                continue
            out_t, in_t = src_spec.outputs[src_port], spec.inputs[port].type
            mode = connection(out_t, in_t)
            if mode is None:
                problems.add(
                    f"node {nid!r} input {port!r} expects {in_t.name} but {src}.{src_port} is {out_t.name}", nid, port
                )
                continue
            wires[nid][port] = Wire(src, src_port, mode)
            consumers[src].append(nid)
        if spec is not None and nid not in fed:
            for port, ip in spec.inputs.items():
                if ip.required and port not in nd.inputs:
                    problems.add(
                        f"node {nid!r} ({nd.type}): required input {port!r} ({ip.type.name}) is not connected",
                        nid,
                        port,
                    )
    outputs = graph.meta.get("outputs") or []
    if not isinstance(outputs, (list, tuple)):
        problems.add(f"graph 'outputs' must be a list of node ids or 'node.port' names, got {outputs!r:.60}")
        outputs = []
    for out in outputs:
        if not isinstance(out, str) or parse_ref(out)[0] not in nodes:
            problems.add(f"graph 'outputs' names {out!r}, which is not a node of the graph")

    order = _topological_order(nodes, wires, problems)
    problems.raise_if_any()
    per_frame, sources = _stream_analysis(order, specs, wires, consumers, fed, problems)
    problems.raise_if_any()
    return Plan(order, specs, params, wires, per_frame, sources, consumers, fed)


def _topological_order(nodes: Any, wires: dict[str, dict[str, Wire]], problems: _Problems) -> list[str]:
    """Kahn's algorithm (stable: file order among ready nodes); reports one cycle if any."""
    indeg = {n: 0 for n in nodes}
    succ: dict[str, list[str]] = {n: [] for n in nodes}
    for n, ws in wires.items():
        for w in ws.values():
            indeg[n] += 1
            succ[w.node].append(n)
    ready = deque(n for n in nodes if indeg[n] == 0)
    order: list[str] = []
    while ready:
        n = ready.popleft()
        order.append(n)
        for m in succ[n]:
            indeg[m] -= 1
            if indeg[m] == 0:
                ready.append(m)
    if len(order) != len(indeg):
        left = {n for n, d in indeg.items() if d > 0}
        cycle = _find_cycle(left, wires)
        first = cycle[0]
        upstream = cycle[1] if len(cycle) > 1 else cycle[0]
        port = next(p for p, w in wires[first].items() if w.node == upstream)
        path = " -> ".join([first, *reversed(cycle[1:]), first])
        problems.add(
            f"the graph has a cycle: {path} (node {first!r} input {port!r} closes it); graphs must be acyclic",
            first,
            port,
        )
    return order


def _find_cycle(left: set[str], wires: dict[str, dict[str, Wire]]) -> list[str]:
    """A cycle among ``left`` (every node there has an upstream node in ``left``), walking upstream."""
    start = next(iter(sorted(left)))
    seen: dict[str, int] = {}
    path: list[str] = []
    n = start
    while n not in seen:
        seen[n] = len(path)
        path.append(n)
        n = next(w.node for w in wires[n].values() if w.node in left)
    return path[seen[n] :]  # each node's wire comes from the next one in the list


def _stream_analysis(
    order: list[str],
    specs: dict[str, NodeSpec],
    wires: dict[str, dict[str, Wire]],
    consumers: dict[str, list[str]],
    fed: set[str],
    problems: _Problems,
) -> tuple[set[str], list[str]]:
    """Which nodes run per frame (downstream of a Video -> Image wire) and which nodes are stream sources."""
    per_frame: set[str] = set()
    sources: list[str] = []
    for n in order:
        ws = wires[n]
        streamed = [w for w in ws.values() if w.mode == "per_frame"]
        if streamed or any(w.node in per_frame for w in ws.values()):
            per_frame.add(n)
        for w in streamed:
            if w.node in per_frame:
                problems.add(
                    f"node {n!r}: {w.node}.{w.port} is a video produced per frame; "
                    "streams of streams are not supported",
                    n,
                )
            elif w.node not in sources:
                sources.append(w.node)
    for src in sources:
        whole = [c for c in consumers[src] if any(w.node == src and w.mode == "direct" for w in wires[c].values())]
        if whole:
            problems.add(
                f"node {whole[0]!r} takes the video {src!r} whole while other nodes take it frame by "
                f"frame; give {whole[0]!r} its own load_video node",
                whole[0],
            )
    return per_frame, sources
