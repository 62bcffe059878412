"""Reading and writing graph files (JSON and YAML, the DESIGN.md structure).

    {"nodes": {"img": {"type": "load_image", "params": {"path": "photo.jpg"}},
               "seg": {"type": "segment", "inputs": {"image": "img", "prompts": "box"}}}}

Graph files are data only: YAML is read with ``yaml.safe_load`` (no Python tags), node
types come from the registry, and nothing in a file is evaluated or imported. Optional
keys: graph-level ``name``, ``description``, ``version``, ``outputs`` (node ids to
report); node-level ``label``, ``comment``, ``ui`` (kept for editors). Any other key is
an error, so a typo such as ``param:`` does not pass silently.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import GraphError, LimitError
from ..security import limits
from ..security.documents import check_document, parse_json, parse_yaml
from ..security.paths import check_regular_file
from .structure import GRAPH_KEYS, NODE_KEYS, GraphLike, NodeDef, param_json

MAX_FILE_BYTES = limits.LIMITS["graph_bytes"].default
"""Default largest graph file (``SAM_COMPOSE_MAX_GRAPH_BYTES`` changes it; see docs/security.md)."""


def parse_graph_dict(data: Mapping[str, Any]) -> tuple[dict[str, NodeDef], dict[str, Any]]:
    """(nodes, meta) from the graph file structure; raises GraphError naming node and key.

    :meth:`sam_compose.graph.Graph.from_dict` builds the graph from them."""

    if not isinstance(data, Mapping):
        raise GraphError(f"a graph must be an object with a 'nodes' key, got {type(data).__name__}")
    unknown = [k for k in data if k not in GRAPH_KEYS]
    if unknown:
        raise GraphError(f"unknown top-level key {unknown[0]!r} in the graph; allowed: {', '.join(GRAPH_KEYS)}")
    nodes = data.get("nodes")
    if not isinstance(nodes, Mapping):
        raise GraphError('the graph needs a \'nodes\' object: {"nodes": {"id": {"type": ..., "params": {...}}}}')
    limits.check("graph_nodes", len(nodes), "the graph", "split it into smaller graphs")
    check_document(data, "the graph")
    out: dict[str, NodeDef] = {}
    for nid, raw in nodes.items():
        if not isinstance(nid, str) or not nid or "." in nid:
            raise GraphError(f"node id must be a non-empty string without '.', got {nid!r}", str(nid))
        if not isinstance(raw, Mapping):
            raise GraphError(
                f"node {nid!r} must be an object with 'type' (and 'inputs', 'params'), got {type(raw).__name__}", nid
            )
        bad = [k for k in raw if k not in NODE_KEYS]
        if bad:
            raise GraphError(f"node {nid!r}: unknown key {bad[0]!r}; allowed: {', '.join(NODE_KEYS)}", nid)
        ntype = raw.get("type")
        if not isinstance(ntype, str) or not ntype:
            raise GraphError(f"node {nid!r} has no 'type' (a node type name such as 'segment')", nid)
        inputs = raw.get("inputs", {})
        params = raw.get("params", {})
        if inputs is None:
            inputs = {}
        if params is None:
            params = {}
        if not isinstance(inputs, Mapping):
            raise GraphError(f"node {nid!r}: 'inputs' must be an object {{port: 'node' or 'node.port'}}", nid)
        if not isinstance(params, Mapping):
            raise GraphError(f"node {nid!r}: 'params' must be an object {{name: value}}", nid)
        for port, ref in inputs.items():
            if not isinstance(ref, str) or not ref:
                raise GraphError(
                    f"node {nid!r} input {port!r} must name a node ('node' or 'node.port'), got {ref!r}", nid, str(port)
                )
        extra = {k: raw[k] for k in ("label", "comment", "ui") if k in raw}
        out[nid] = NodeDef(
            ntype,
            {str(k): v for k, v in inputs.items()},
            param_json(dict(params), f"node {nid!r} params"),
            extra,
            tuple(raw.keys()),
        )
    meta = {k: data[k] for k in GRAPH_KEYS if k != "nodes" and k in data}
    return out, meta


def graph_to_dict(graph: GraphLike) -> dict[str, Any]:
    """The file structure of ``graph``; keys appear as they did in the file read (exact round trip)."""
    nodes: dict[str, Any] = {}
    for nid, nd in graph.nodes.items():
        entry: dict[str, Any] = {}
        values = {
            "type": nd.type,
            "inputs": dict(nd.inputs),
            "params": param_json(nd.params, f"node {nid!r} params"),
            **nd.extra,
        }
        keys = nd.keys or ("type",)
        for k in keys:
            if k in values:
                entry[k] = values[k]
        # keys added since reading (or built in Python): include when non-empty
        for k in ("inputs", "params", *nd.extra):
            if k not in entry and values[k]:
                entry[k] = values[k]
        nodes[nid] = entry
    out: dict[str, Any] = {}
    for k in GRAPH_KEYS:
        if k == "nodes":
            out["nodes"] = nodes
        elif k in graph.meta:
            out[k] = graph.meta[k]
    return out


def parse_text(text: str, source: str = "graph", fmt: str | None = None) -> Any:
    """Parse JSON or YAML text (``fmt`` 'json' / 'yaml', or None to try JSON then YAML), within
    the document limits of :mod:`sam_compose.security.documents` (size, nesting, aliases,
    integers, strings); every problem is one line naming ``source``."""
    import yaml

    if fmt in (None, "json"):
        try:
            return parse_json(text, source)
        except json.JSONDecodeError as exc:
            if fmt == "json":
                raise GraphError(f"{source} is not valid JSON: {exc}") from None
    try:
        return parse_yaml(text, source)
    except LimitError:
        raise
    except yaml.YAMLError as exc:
        what = "is not valid YAML" if fmt == "yaml" else "is neither JSON nor YAML"
        reason = " ".join(str(exc).split())
        raise GraphError(f"{source} {what}: {reason[:200]}") from None
    except ValueError as exc:
        raise GraphError(f"{source} is not a valid graph document: {' '.join(str(exc).split())[:200]}") from None


def load_file(path: str | os.PathLike) -> tuple[Mapping[str, Any], Path]:
    """Read a graph file (``.json``, ``.yaml``/``.yml``, or anything else as JSON then YAML):
    its structure and the folder it lives in (relative paths in it resolve there)."""
    p = Path(path).expanduser()
    if not p.exists():
        raise GraphError(f"graph file {str(path)!r} does not exist")
    if p.is_dir():
        raise GraphError(f"{str(path)!r} is not a file; give a .json or .yaml graph file")
    st = check_regular_file(p, "graph file")  # a FIFO would block forever
    limits.check("graph_bytes", st.st_size, f"graph file {p.name}", "is it really a graph?")
    try:
        with open(p, "rb") as f:
            raw = f.read(limits.get("graph_bytes") + 1)
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise GraphError(f"graph file {p} is not text (neither JSON nor YAML)") from None
    suffix = p.suffix.lower()
    fmt = "json" if suffix == ".json" else "yaml" if suffix in (".yaml", ".yml") else None
    data = parse_text(text, f"graph file {p.name}", fmt)
    if not isinstance(data, Mapping):
        raise GraphError(
            f"graph file {p} is neither a JSON nor a YAML graph: expected an object with "
            f"a 'nodes' key, found {type(data).__name__}"
        )
    if isinstance(data.get("nodes"), Mapping):
        limits.check("graph_nodes", len(data["nodes"]), f"graph file {p.name}", "split it into smaller graphs")
    return data, p.resolve().parent


def to_json(graph: GraphLike, indent: int | None = 2) -> str:
    """The graph file structure as JSON text."""
    return json.dumps(graph_to_dict(graph), indent=indent)


def to_yaml(graph: GraphLike) -> str:
    """The graph file structure as YAML text."""
    import yaml

    return yaml.safe_dump(graph_to_dict(graph), sort_keys=False)


def save_file(graph: GraphLike, path: str | os.PathLike) -> Path:
    """Write ``graph`` as JSON or YAML depending on the suffix; returns the path."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix in (".yaml", ".yml"):
        text = to_yaml(graph)
    elif suffix == ".json":
        text = to_json(graph)
    else:
        raise GraphError(f"cannot tell the format of {str(path)!r}; name it .json, .yaml or .yml")
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, p)
    return p
