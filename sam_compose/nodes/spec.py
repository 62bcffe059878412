"""``NodeSpec`` and ``InputPort``: what the runtime knows about a node type."""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import GraphError
from .params import ParamInfo
from .ports import PortType
from .typecheck import type_name

__all__ = ["InputPort", "NodeSpec"]


@dataclass
class InputPort:
    """An input port: name, type, whether it may be left unconnected."""

    name: str
    type: PortType
    required: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type.name, "required": self.required}


@dataclass
class NodeSpec:
    """Everything the runtime needs to know about a node type."""

    name: str
    func: Callable[..., Any]
    inputs: dict[str, InputPort]
    outputs: dict[str, PortType]
    params: dict[str, ParamInfo]
    category: str = "misc"
    description: str = ""
    stateful: bool = False
    cacheable: bool = True
    cache_key: Callable[[dict[str, Any]], Any] | None = None
    priority: int = 0
    multi_output: bool = False
    _input_kinds: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def origin(self) -> str:
        """``module:qualname`` of the implementing function or class."""
        return f"{self.func.__module__}:{self.func.__qualname__}"

    def check_params(self, params: Mapping[str, Any], node_id: str = "?") -> dict[str, Any]:
        """Validate ``params``; return them with defaults filled in. Raises :class:`GraphError`."""
        unknown = [k for k in params if k not in self.params]
        if unknown:
            raise GraphError(
                f"node {node_id!r} ({self.name}): unknown param {unknown[0]!r}; "
                f"known params: {sorted(self.params) or 'none'}",
                node_id,
                unknown[0],
            )
        out: dict[str, Any] = {}
        for name, p in self.params.items():
            if name in params:
                try:
                    out[name] = p.validate(params[name], f"node {node_id!r} ({self.name}) param {name!r}")
                except GraphError as exc:
                    raise GraphError(str(exc), node_id, name) from None
            elif p.required:
                raise GraphError(
                    f"node {node_id!r} ({self.name}): required param {name!r} is missing "
                    f"({p.description or type_name(p.annotation)})",
                    node_id,
                    name,
                )
            else:
                out[name] = copy.deepcopy(p.default) if isinstance(p.default, (dict, list)) else p.default
        return out

    def instantiate(self, params: Mapping[str, Any]) -> Callable[..., Any]:
        """A callable taking the inputs as keywords: the function with params bound, or a new instance."""
        if self.stateful:
            return self.func(**params)
        func = self.func
        kinds = self._input_kinds

        def call(**inputs: Any) -> Any:
            args = [inputs[n] for n, k in kinds.items() if k == inspect.Parameter.POSITIONAL_ONLY]
            kw = {n: v for n, v in inputs.items() if kinds.get(n) != inspect.Parameter.POSITIONAL_ONLY}
            return func(*args, **kw, **params)

        return call

    def split_outputs(self, result: Any, node_id: str = "?") -> dict[str, Any]:
        """The node's return value as ``{output port: value}``."""
        if not self.outputs:
            return {}
        if not self.multi_output:
            (name,) = self.outputs
            return {name: result}
        if not isinstance(result, Mapping) or set(result) != set(self.outputs):
            got = sorted(result) if isinstance(result, Mapping) else type(result).__name__
            raise GraphError(
                f"node {node_id!r} ({self.name}) must return a dict with keys {sorted(self.outputs)}, got {got}",
                node_id,
            )
        return dict(result)

    def describe(self) -> dict[str, Any]:
        """JSON description of the node type (for UIs, agents and docs)."""
        return {
            "type": self.name,
            "category": self.category,
            "description": self.description,
            "stateful": self.stateful,
            "inputs": {n: p.to_dict() for n, p in self.inputs.items()},
            "outputs": {n: t.name for n, t in self.outputs.items()},
            "params": {n: p.to_dict() for n, p in self.params.items()},
        }
