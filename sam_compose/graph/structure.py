"""The data a graph is made of: node definitions, references to nodes and ports, and the
``GraphLike`` protocol that the validator, the runtime and the serializer work on.

These modules never import :mod:`sam_compose.graph.model` (the ``Graph`` builder), so the
graph package has no import cycle: ``model`` -> {``serialization``, ``validation``,
``runtime``} -> ``structure``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..errors import GraphError

NODE_KEYS = ("type", "inputs", "params", "label", "comment", "ui")
GRAPH_KEYS = ("nodes", "name", "description", "version", "outputs")


@dataclass(frozen=True)
class OutputRef:
    """One output port of a node: ``"node.port"`` in a graph file."""

    node: str
    port: str

    def __str__(self) -> str:
        return f"{self.node}.{self.port}"


@dataclass(frozen=True)
class NodeRef:
    """A handle on a node of a graph, returned by :meth:`Graph.add`.

    Wire it as is (the node's only output) or pick a port: ``ref.port("depth")`` or
    ``ref.depth``.
    """

    id: str

    def port(self, name: str) -> OutputRef:
        return OutputRef(self.id, name)

    def __getattr__(self, name: str) -> OutputRef:
        if name.startswith("_"):
            raise AttributeError(name)
        return OutputRef(self.id, name)

    def __str__(self) -> str:
        return self.id


@dataclass
class NodeDef:
    """A node as stored: type, wires, params and optional UI metadata (label, comment, ui)."""

    type: str
    inputs: dict[str, str] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    keys: tuple[str, ...] = ()  # which keys the source dict had (for exact round trips)


def parse_ref(ref: str) -> tuple[str, str | None]:
    """``"node"`` -> (node, None); ``"node.port"`` -> (node, port)."""
    node, sep, port = ref.partition(".")
    return node, (port if sep else None)


def wire_text(value: Any, where: str) -> str:
    if isinstance(value, (NodeRef, OutputRef)):
        return str(value)
    if isinstance(value, str) and value:
        return value
    raise GraphError(f"{where} must be wired to a node (a NodeRef or 'node' / 'node.port'), got {value!r:.60}")


def param_json(value: Any, where: str) -> Any:
    """A JSON-friendly deep copy of a param value (tuples -> lists, numpy scalars -> Python)."""
    import numpy as np

    if isinstance(value, Mapping):
        return {str(k): param_json(v, where) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [param_json(v, where) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise GraphError(
        f"{where} holds a {type(value).__name__}, which a graph file cannot store; "
        "save it to a file and pass the path, or feed it with run(feed=...)"
    )


class GraphLike(Protocol):
    """What the validator, the runtime and the serializer need of a graph."""

    meta: dict[str, Any]
    base_dir: Path | None

    @property
    def nodes(self) -> Mapping[str, NodeDef]: ...

    def copy(self) -> GraphLike: ...

    def set_param(self, dotted: str, value: Any) -> None: ...

    def __contains__(self, node_id: object) -> bool: ...


__all__ = [
    "GRAPH_KEYS",
    "NODE_KEYS",
    "GraphLike",
    "NodeDef",
    "NodeRef",
    "OutputRef",
    "param_json",
    "parse_ref",
    "wire_text",
]
