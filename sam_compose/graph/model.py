"""The graph model: nodes, wires, params, and the Python builder.

A graph holds, per node id, a node type, input wires (``port -> "node"`` or
``"node.port"``) and params (JSON values). It is plain data: nothing is checked or run
until :meth:`Graph.validate` / :meth:`Graph.run`. Building in Python::

    g = Graph()
    img = g.add("load_image", path="sample:astronaut")
    box = g.add("box_prompt", boxes=[[140, 20, 330, 220]])
    seg = g.add("segment", image=img, prompts=box, engine="opencv")
    g.add("save_image", image=g.add("overlay", image=img, masks=seg), path="overlay.png")
    report = g.run()
    report.value(seg)            # the Masks

Keyword arguments of :meth:`Graph.add` that name an input port of the node type are
wires (a :class:`NodeRef`, ``ref.port("name")`` / ``ref.name``, or a ``"node.port"``
string); the others are params. ``g.segment(image=img, ...)`` is short for
``g.add("segment", ...)``.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from ..errors import GraphError
from . import runtime, serialization, validation
from .report import RunReport
from .structure import GRAPH_KEYS, NODE_KEYS, NodeDef, NodeRef, OutputRef, param_json, parse_ref, wire_text
from .validation import Plan

__all__ = ["GRAPH_KEYS", "NODE_KEYS", "Graph", "NodeDef", "NodeRef", "OutputRef", "param_json", "parse_ref"]


class Graph:
    """A typed node graph; see the module docstring for building, :meth:`run` for running."""

    def __init__(
        self,
        nodes: Mapping[str, NodeDef] | None = None,
        *,
        meta: Mapping[str, Any] | None = None,
        base_dir: str | os.PathLike | None = None,
    ) -> None:
        self._nodes: dict[str, NodeDef] = dict(nodes or {})
        self.meta: dict[str, Any] = dict(meta or {})
        self.base_dir: Path | None = Path(base_dir) if base_dir is not None else None

    # ---------------------------------------------------------------- building
    def add(self, type: str, id: str | None = None, **kwargs: Any) -> NodeRef:  # reads naturally
        """Add a node of ``type``; keyword arguments are wires (input ports) or params.

        ``id`` defaults to the type name (``segment``, then ``segment_2``, ...). Raises
        :class:`GraphError` at once for an unknown type or a duplicate id; everything else
        is checked by :meth:`validate`.
        """
        from ..nodes.registry import get

        spec = get(type)
        node_id = self._new_id(type) if id is None else id
        self._check_id(node_id)
        inputs, params = {}, {}
        for key, value in kwargs.items():
            if key in spec.inputs:
                if value is not None:
                    inputs[key] = wire_text(value, f"node {node_id!r} input {key!r}")
            elif isinstance(value, (NodeRef, OutputRef)):
                raise GraphError(
                    f"node {node_id!r} ({type}) has no input port {key!r}; inputs: {sorted(spec.inputs) or 'none'}",
                    node_id,
                    key,
                )
            else:
                params[key] = value
        self._nodes[node_id] = NodeDef(type, inputs, params)
        return NodeRef(node_id)

    def __getattr__(self, name: str) -> Any:
        """``g.segment(image=img, prompts=box)`` is ``g.add("segment", image=img, prompts=box)``."""
        if name.startswith("_"):
            raise AttributeError(name)
        from ..nodes.registry import find

        if find(name) is None:
            raise AttributeError(f"Graph has no attribute {name!r} and there is no node type {name!r}")

        def add_node(id: str | None = None, **kwargs: Any) -> NodeRef:
            return self.add(name, id=id, **kwargs)

        return add_node

    def _new_id(self, base: str) -> str:
        if base not in self._nodes:
            return base
        i = 2
        while f"{base}_{i}" in self._nodes:
            i += 1
        return f"{base}_{i}"

    def _check_id(self, node_id: str) -> None:
        if not isinstance(node_id, str) or not node_id or "." in node_id:
            raise GraphError(f"node id must be a non-empty string without '.', got {node_id!r}", str(node_id))
        if node_id in self._nodes:
            raise GraphError(f"node id {node_id!r} is already used; choose another id", node_id)

    def connect(self, source: NodeRef | OutputRef | str, node: NodeRef | str, port: str) -> None:
        """Wire ``source`` into input ``port`` of ``node`` (replacing any previous wire)."""
        nid = str(node)
        self._get(nid).inputs[port] = wire_text(source, f"node {nid!r} input {port!r}")

    def set(self, node: NodeRef | str, **params: Any) -> Graph:
        """Set params of ``node`` (no check until validate); returns the graph."""
        self._get(str(node)).params.update(params)
        return self

    def set_param(self, dotted: str, value: Any) -> None:
        """``set_param("seg.engine", "opencv")``: like ``--set``; unknown node or param is an error."""
        nid, param = parse_ref(dotted)
        if param is None:
            raise GraphError(f"--set needs NODE.PARAM=VALUE, got {dotted!r}")
        node = self._get(nid)
        from ..nodes.registry import find

        spec = find(node.type)
        if spec is not None and param not in spec.params:
            raise GraphError(
                f"node {nid!r} ({node.type}) has no param {param!r}; params: {sorted(spec.params) or 'none'}",
                nid,
                param,
            )
        from ..security.documents import check_document

        check_document(value, f"the value of {dotted}")
        node.params[param] = value

    def remove(self, node: NodeRef | str) -> None:
        """Remove a node (wires into it become dangling and fail validation)."""
        self._get(str(node))
        del self._nodes[str(node)]

    def _get(self, nid: str) -> NodeDef:
        try:
            return self._nodes[nid]
        except KeyError:
            raise GraphError(
                f"there is no node {nid!r}; nodes: {', '.join(sorted(self._nodes)) or 'none'}", nid
            ) from None

    # ---------------------------------------------------------------- reading
    @property
    def nodes(self) -> Mapping[str, NodeDef]:
        """Node id -> :class:`NodeDef` (treat as read-only; use add/set/connect to change)."""
        return self._nodes

    def __getitem__(self, node_id: str) -> NodeRef:
        self._get(node_id)
        return NodeRef(node_id)

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._nodes

    def __len__(self) -> int:
        return len(self._nodes)

    def __iter__(self) -> Iterator[str]:
        return iter(self._nodes)

    def __repr__(self) -> str:
        return f"Graph({len(self)} nodes: {', '.join(list(self._nodes)[:8])}{', ...' if len(self) > 8 else ''})"

    def copy(self) -> Graph:
        return Graph(copy.deepcopy(self._nodes), meta=copy.deepcopy(self.meta), base_dir=self.base_dir)

    # ---------------------------------------------------------------- (de)serialising
    def to_dict(self) -> dict[str, Any]:
        """The graph file structure ``{"nodes": {id: {"type", "inputs", "params"}}}``.

        A graph read with :meth:`from_dict` comes back exactly (same keys, same values).
        """
        return serialization.graph_to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, base_dir: str | os.PathLike | None = None) -> Graph:
        """Read the graph file structure; structural problems raise :class:`GraphError`."""
        nodes, meta = serialization.parse_graph_dict(data)
        return cls(nodes, meta=meta, base_dir=base_dir)

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> Graph:
        """Read a ``.json`` or ``.yaml``/``.yml`` graph file (other names: JSON, then YAML)."""
        data, base_dir = serialization.load_file(path)
        return cls.from_dict(data, base_dir=base_dir)

    def to_file(self, path: str | os.PathLike) -> Path:
        """Write JSON (``.json``) or YAML (``.yaml``/``.yml``)."""
        return serialization.save_file(self, path)

    def to_json(self, indent: int | None = 2) -> str:
        return serialization.to_json(self, indent)

    def to_yaml(self) -> str:
        return serialization.to_yaml(self)

    # ---------------------------------------------------------------- checking and running
    def validate(self, *, feed: Mapping[str, Any] | None = None) -> Plan:
        """Check everything before running; returns the execution plan or raises GraphError."""
        return validation.validate(self, fed=set(feed or ()))

    def run(self, outputs: list[str | NodeRef] | None = None, **options: Any) -> RunReport:
        """Validate, then run; see :func:`sam_compose.graph.runtime.run_graph` for options."""
        return runtime.run_graph(self, outputs=outputs, **options)

    def stream(self, outputs: list[str | NodeRef] | None = None, **options: Any) -> Iterator[dict[str, Any]]:
        """Run and yield ``{node: value}`` per frame of a video graph (once for an image graph)."""
        return runtime.stream_graph(self, outputs=outputs, **options)

    def run_batch(
        self,
        inputs: Any,
        out: str | os.PathLike,
        *,
        workers: int | None = None,
        backend: str = "local",
        resume: bool = False,
        **options: Any,
    ) -> Any:
        """Run the graph once per input file (a folder, glob, list file or list of paths) into ``out``;
        returns a :class:`~sam_compose.batch.BatchSummary`. See :func:`sam_compose.batch.run_batch`."""
        from ..batch import run_batch

        return run_batch(self, inputs, out, workers=workers, backend=backend, resume=resume, **options)

    def as_runnable(self, **options: Any) -> Any:
        """This graph as a LangChain ``Runnable``; see :class:`sam_compose.graph.runnable.GraphRunnable`."""
        from .runnable import GraphRunnable

        return GraphRunnable(self, **options)
