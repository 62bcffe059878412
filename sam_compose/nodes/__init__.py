"""Graph nodes: thin typed wrappers over engines and adapters.

Write a node with :func:`sam_compose.nodes.api.node` (see docs/graphs.md, "Writing a
node"); put it in a module of this package (discovered automatically) or expose it
through the ``sam_compose.nodes`` entry-point group.

    from sam_compose.nodes import available, get
    available()["segment"].describe()     # inputs, outputs, params with defaults and ranges
"""

from __future__ import annotations

from .api import GraphError, NodeSpec, Param, node
from .registry import available, catalog, discover, find, get

__all__ = ["GraphError", "NodeSpec", "Param", "available", "catalog", "discover", "find", "get", "node"]
