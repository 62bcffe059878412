"""A batch job: which node the inputs feed, which node gives the masks, what to run.

:func:`make_job` checks everything a batch can check before it starts (the graph, the
input node, the masks node, ``--set`` overrides) and returns a :class:`Job`: plain data
that every worker process or Ray actor rebuilds the graph from.

* **Input node**: the one ``load_image`` node, or the node named by ``--input`` (any node
  with a ``path`` param: ``load_image``, ``load_video``, ``load_gaze``, ...). Its ``path``
  is set to each input file in turn.
* **Masks node** (for ``annotations.json``): the first node named in the graph's
  ``outputs`` whose output is Masks, else the last ``segment`` / ``generate`` / ``track``
  node in running order, else the last node with a Masks output; None when the graph
  makes no masks (then no COCO file is written).
* **Targets**: the graph's ``outputs`` (else every sink), plus the masks node.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ..nodes.api import GraphError

if TYPE_CHECKING:  # pragma: no cover
    from ..graph.structure import NodeDef
    from ..graph.validation import Plan


class BatchGraph(Protocol):
    """What a batch needs of a graph (:class:`sam_compose.Graph` is one). The batch package
    depends on the graph package, never the other way round: workers rebuild the graph with
    the class the job was made from (``Job.graph_type``), so nothing here imports ``Graph``."""

    meta: dict[str, Any]
    base_dir: Any

    @property
    def nodes(self) -> Mapping[str, NodeDef]: ...

    def copy(self) -> BatchGraph: ...

    def set_param(self, dotted: str, value: Any) -> None: ...

    def validate(self) -> Plan: ...

    def to_dict(self) -> dict[str, Any]: ...

    def stream(self, outputs: Any = None, **options: Any) -> Iterator[dict[str, Any]]: ...

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, base_dir: Any = None) -> BatchGraph: ...


INPUT_TYPES = ("load_image", "load_video", "load_gaze")
MASK_TYPES = ("segment", "generate", "track")
PLACEHOLDER = "batch-input.png"


@dataclass
class Job:
    """Everything a worker needs to run items (picklable, JSON-able)."""

    graph: dict[str, Any]
    base_dir: str | None
    input_node: str
    input_type: str
    masks_node: str | None
    targets: list[str]
    file_targets: list[str]
    out: str
    threads: int | None = None
    fingerprint: str = field(default="")
    graph_type: type[BatchGraph] | None = None  # the graph class to rebuild with (pickled by reference)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Job:
        return cls(**dict(d))

    def build_graph(self) -> BatchGraph:
        if self.graph_type is None:
            raise GraphError("this batch job does not say which graph class to rebuild its graph with")
        return self.graph_type.from_dict(self.graph, base_dir=self.base_dir)


def find_input_node(graph: BatchGraph, name: str | None) -> str:
    """The node fed with each input file (see the module docstring); GraphError when unclear."""
    from ..nodes.registry import find

    if name is not None:
        if name not in graph.nodes:
            raise GraphError(f"--input {name!r} is not a node of the graph; nodes: {', '.join(sorted(graph.nodes))}")
        spec = find(graph.nodes[name].type)
        if spec is None or "path" not in spec.params:
            raise GraphError(
                f"--input {name!r} is a {graph.nodes[name].type} node, which reads no file; name a "
                f"node with a path param ({', '.join(INPUT_TYPES)})",
                name,
            )
        return name
    loaders = [nid for nid, nd in graph.nodes.items() if nd.type == "load_image"]
    if len(loaders) == 1:
        return loaders[0]
    if not loaders:
        others = [f"{nid} ({nd.type})" for nid, nd in graph.nodes.items() if nd.type in INPUT_TYPES]
        hint = f"; candidates: {', '.join(others)}" if others else ""
        raise GraphError(
            "the graph has no load_image node to feed the inputs to; name the input node with "
            f"--input NODE (a {', '.join(INPUT_TYPES)} node){hint}"
        )
    raise GraphError(
        f"the graph has {len(loaders)} load_image nodes ({', '.join(loaders)}); name the one fed "
        "with the inputs: --input NODE"
    )


def _port_type(plan: Plan, target: str) -> str | None:
    nid, _, port = target.partition(".")
    outs = plan.specs[nid].outputs
    if port:
        return outs[port].name if port in outs else None
    return next(iter(outs.values())).name if len(outs) == 1 else None


def find_masks_node(graph: BatchGraph, plan: Plan) -> str | None:
    """The output whose masks go into annotations.json (see the module docstring), or None."""
    for out in graph.meta.get("outputs") or []:
        if _port_type(plan, str(out)) == "Masks":
            return str(out)
    typed = [n for n in plan.order if plan.specs[n].name in MASK_TYPES]
    if typed:
        return typed[-1]
    any_masks = [n for n in plan.order if _port_type(plan, n) == "Masks"]
    return any_masks[-1] if any_masks else None


def _fingerprint(graph: dict[str, Any], input_node: str) -> str:
    text = json.dumps({"graph": graph, "input": input_node}, sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


def make_job(
    graph: BatchGraph, out: str | os.PathLike, *, input_node: str | None = None, params: Mapping[str, Any] | None = None
) -> Job:
    """Check the graph for a batch and describe the job; raises GraphError (exit 2) before anything runs."""
    g = graph.copy()
    for dotted, value in (params or {}).items():
        g.set_param(dotted, value)
    node = find_input_node(g, input_node)
    check = g.copy()
    check.set_param(f"{node}.path", PLACEHOLDER)
    plan = check.validate()
    masks = find_masks_node(check, plan)
    targets = [str(t) for t in (g.meta.get("outputs") or [])] or plan.sinks()
    if masks is not None and masks not in targets:
        targets.append(masks)
    files = [t for t in targets if _port_type(plan, t) == "FilePath"]
    d = g.to_dict()
    d["nodes"][node].setdefault("params", {}).pop("path", None)  # each item sets it
    return Job(
        graph=d,
        base_dir=str(g.base_dir) if g.base_dir is not None else None,
        input_node=node,
        input_type=g.nodes[node].type,
        masks_node=masks,
        targets=targets,
        file_targets=files,
        out=os.path.abspath(os.fspath(out)),
        fingerprint=_fingerprint(d, node),
        graph_type=type(graph),
    )


__all__ = ["INPUT_TYPES", "MASK_TYPES", "BatchGraph", "Job", "find_input_node", "find_masks_node", "make_job"]
