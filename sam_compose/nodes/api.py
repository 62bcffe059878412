"""The node API: ``@node`` and ``Param``.

A node is a plain function (or, for per-stream state, a class) with typed ports::

    from sam_compose.nodes.api import node, Param
    from sam_compose.nodes.ports import Image, Masks

    @node("inpaint", category="outputs", description="Remove masked objects from an image.")
    def inpaint_node(image: Image, masks: Masks, *,
                     method: str = Param("telea", choices=("telea", "ns"), description="OpenCV method"),
                     radius: int = Param(5, ge=1, le=100, description="radius in pixels")) -> Image:
        ...

* positional parameters are **input ports** (type from the hint; a default of ``None``
  makes the input optional);
* keyword-only parameters are **params** (JSON values set in the graph file; ``Param``
  gives default, range, choices and description; a plain default works too; ``Param()``
  with no default makes the param required);
* the return annotation is the single **output port** (named after its type in lower
  case: ``image``, ``masks``, ``prompts``, ...; ``FilePath`` -> ``path``, ``PointCloud``
  -> ``cloud``; no annotation -> ``out`` of type Any; ``-> None`` -> no output); several outputs: ``@node(..., outputs={"a": Image,
  "b": Depth})`` and return a dict with those keys.

Stateful per-stream nodes (trackers, video writers) are classes::

    @node("track", category="outputs", stateful=True)
    class TrackNode:
        def __init__(self, *, engine: str = Param("opencv")): ...      # params
        def __call__(self, image: Image, masks: Masks | None = None) -> Masks: ...  # per frame
        def close(self) -> None: ...                                      # optional, end of stream

The decorator returns the function or class unchanged (with ``__node_spec__`` set), so
nodes stay callable as ordinary Python. Node modules in ``sam_compose/nodes/`` are
discovered automatically (see :mod:`sam_compose.nodes.registry`).

While a graph runs, :func:`output_path`, :func:`input_path`, :func:`frame_index` and
:func:`current_node` tell a node where relative paths go (``--out DIR``), where the
graph file lives, and which frame of a stream it is processing.
"""

from __future__ import annotations

import copy
import inspect
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Mapping

from ..errors import InputError
from .context import (RunContext, current_node, file_stamp, frame_index, guarded_clip_spec, input_path,
                      node_engine, note, output_path, reset_run_context, run_context, set_run_context)
from .ports import PortType, port_of


class GraphError(InputError):
    """A graph or node is invalid (unknown type, bad param, bad wiring, cycle, ...).

    ``node`` and ``port`` name where the problem is (either may be None).
    """

    def __init__(self, message: str, node: str | None = None, port: str | None = None) -> None:
        super().__init__(message)
        self.node = node
        self.port = port


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()
"""Marker default: the param (or input) must be given."""


class Param:
    """A node parameter's schema: default, range, choices and description.

    ``ge``/``le``/``gt``/``lt`` bound numbers; ``choices`` lists the allowed values;
    ``Param()`` without a default makes the parameter required. The Python type comes
    from the annotation of the keyword-only parameter it is the default of.
    """

    def __init__(self, default: Any = REQUIRED, *, ge: float | None = None, le: float | None = None,
                 gt: float | None = None, lt: float | None = None, choices: typing.Sequence[Any] | None = None,
                 description: str = "") -> None:
        self.default = default
        self.ge, self.le, self.gt, self.lt = ge, le, gt, lt
        self.choices = tuple(choices) if choices is not None else None
        self.description = description
        self.name: str = ""
        self.annotation: Any = Any

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def __repr__(self) -> str:
        return f"Param({self.default!r})" if not self.required else "Param()"

    def validate(self, value: Any, where: str) -> Any:
        """Return ``value`` (type-normalised) or raise :class:`GraphError` naming ``where``."""
        try:
            value = check_type(self.annotation, value)
        except TypeError as exc:
            raise GraphError(f"{where}: {exc}; got {value!r:.80}") from None
        if self.choices is not None and value not in self.choices:
            raise GraphError(f"{where}: {value!r} is not one of {list(self.choices)}")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            for bound, ok, text in ((self.ge, lambda b: value >= b, ">="), (self.le, lambda b: value <= b, "<="),
                                    (self.gt, lambda b: value > b, ">"), (self.lt, lambda b: value < b, "<")):
                if bound is not None and not ok(bound):
                    raise GraphError(f"{where}: {value!r} is out of range; it must be {text} {bound}")
        return value

    def to_dict(self) -> dict[str, Any]:
        """JSON description (for UIs, tools and docs)."""
        d: dict[str, Any] = {"type": type_name(self.annotation), "description": self.description}
        if not self.required:
            d["default"] = self.default
        else:
            d["required"] = True
        for key in ("ge", "le", "gt", "lt"):
            if getattr(self, key) is not None:
                d[key] = getattr(self, key)
        if self.choices is not None:
            d["choices"] = list(self.choices)
        return d


def type_name(hint: Any) -> str:
    """A short readable name for a type hint (``int``, ``list[float]``, ``str | None``)."""
    if hint is Any or hint is inspect.Parameter.empty:
        return "any"
    if isinstance(hint, type):
        return hint.__name__
    return str(hint).replace("typing.", "")


def check_type(hint: Any, value: Any) -> Any:
    """Check a JSON-ish ``value`` against a type hint; return it normalised or raise TypeError.

    Understands ``int`` (integral floats accepted), ``float`` (ints accepted), ``bool``,
    ``str``, ``Literal``, ``X | None``, unions, ``list[X]``/``Sequence[X]``/``tuple``,
    ``dict[K, V]``; other classes by ``isinstance``; ``Any`` accepts everything.
    """
    if hint is Any or hint is inspect.Parameter.empty or hint is None and value is None:
        return value
    if hint is type(None):
        if value is None:
            return None
        raise TypeError("expected null")
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Annotated:
        return check_type(args[0], value)
    if origin is typing.Union or isinstance(hint, types.UnionType):
        for arg in args:
            try:
                return check_type(arg, value)
            except TypeError:
                continue
        raise TypeError(f"expected {type_name(hint)}")
    if origin is Literal:
        if value in args:
            return value
        raise TypeError(f"expected one of {list(args)}")
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise TypeError("expected true or false")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise TypeError("expected an integer")
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise TypeError("expected a number")
    if hint is str:
        if isinstance(value, str):
            return value
        raise TypeError("expected a string")
    import collections.abc as cabc

    if origin in (list, tuple, cabc.Sequence, cabc.Iterable) or hint in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise TypeError(f"expected a list ({type_name(hint)})")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise TypeError(f"expected {len(args)} items ({type_name(hint)})")
            return [check_type(a, v) for a, v in zip(args, value)]
        if args:
            try:
                return [check_type(args[0], v) for v in value]
            except TypeError as exc:
                raise TypeError(f"expected {type_name(hint)} ({exc} in an item)") from None
        return list(value)
    if origin in (dict, cabc.Mapping) or hint in (dict,):
        if not isinstance(value, Mapping):
            raise TypeError(f"expected an object ({type_name(hint)})")
        if len(args) == 2:
            return {check_type(args[0], k): check_type(args[1], v) for k, v in value.items()}
        return dict(value)
    if isinstance(hint, type):
        if isinstance(value, hint):
            return value
        raise TypeError(f"expected {hint.__name__}")
    return value


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
    params: dict[str, Param]
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
                f"known params: {sorted(self.params) or 'none'}", node_id, unknown[0])
        out: dict[str, Any] = {}
        for name, p in self.params.items():
            if name in params:
                try:
                    out[name] = p.validate(params[name], f"node {node_id!r} ({self.name}) param {name!r}")
                except GraphError as exc:
                    raise GraphError(str(exc), node_id, name) from None
            elif p.required:
                raise GraphError(f"node {node_id!r} ({self.name}): required param {name!r} is missing "
                                 f"({p.description or type_name(p.annotation)})", node_id, name)
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
            raise GraphError(f"node {node_id!r} ({self.name}) must return a dict with keys "
                             f"{sorted(self.outputs)}, got {got}", node_id)
        return dict(result)

    def describe(self) -> dict[str, Any]:
        """JSON description of the node type (for UIs, agents and docs)."""
        return {
            "type": self.name, "category": self.category, "description": self.description,
            "stateful": self.stateful,
            "inputs": {n: p.to_dict() for n, p in self.inputs.items()},
            "outputs": {n: t.name for n, t in self.outputs.items()},
            "params": {n: p.to_dict() for n, p in self.params.items()},
        }


def _hints(obj: Any) -> dict[str, Any]:
    try:
        return typing.get_type_hints(obj, include_extras=True)
    except Exception as exc:  # noqa: BLE001 - unresolvable annotations are a node author's bug
        raise TypeError(f"cannot resolve the type hints of {obj!r}: {exc}") from exc


def _outputs_from(return_hint: Any, outputs: Mapping[str, Any] | None) -> tuple[dict[str, PortType], bool]:
    if outputs is not None:
        ports = {name: port_of(h)[0] for name, h in outputs.items()}
        return ports, len(ports) > 1
    if return_hint in (None, type(None)):
        return {}, False
    if return_hint is inspect.Parameter.empty:
        return {"out": port_of(Any)[0]}, False
    port = port_of(return_hint)[0]
    return {_DEFAULT_OUTPUT_NAMES.get(port.name, port.name.lower()): port}, False


_DEFAULT_OUTPUT_NAMES = {"FilePath": "path", "PointCloud": "cloud"}


def node(name: str, *, category: str = "misc", description: str = "", outputs: Mapping[str, Any] | None = None,
         stateful: bool = False, cacheable: bool | None = None,
         cache_key: Callable[[dict[str, Any]], Any] | None = None, priority: int = 0) -> Callable[[Any], Any]:
    """Register a function (or a ``stateful`` class) as the node type ``name``.

    ``outputs`` names several output ports ({port: type}); ``cacheable=False`` makes the
    node run on every graph run (side effects such as writing files); ``cache_key(params)``
    adds to the cache key what the params do not capture (e.g. a file's modification time);
    ``priority`` decides which of two registrations of one name wins (higher wins; core
    fallbacks use -10 so topic modules can replace them).
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"node type name must be an identifier such as 'load_image', got {name!r}")

    def decorate(obj: Any) -> Any:
        if stateful:
            if not inspect.isclass(obj):
                raise TypeError(f"@node({name!r}, stateful=True) decorates a class, got {obj!r}")
            call_sig = inspect.signature(obj.__call__)
            call_hints = _hints(obj.__call__)
            init_sig = inspect.signature(obj.__init__)
            init_hints = _hints(obj.__init__)
            in_params = [p for p in list(call_sig.parameters.values())[1:]
                         if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
            par_params = [p for p in list(init_sig.parameters.values())[1:]
                          if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
            return_hint = call_hints.get("return", inspect.Parameter.empty)
        else:
            if not callable(obj) or inspect.isclass(obj):
                raise TypeError(f"@node({name!r}) decorates a function (use stateful=True for a class)")
            sig = inspect.signature(obj)
            call_hints = init_hints = _hints(obj)
            in_params = [p for p in sig.parameters.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
            par_params = [p for p in sig.parameters.values() if p.kind == p.KEYWORD_ONLY]
            return_hint = call_hints.get("return", inspect.Parameter.empty)
        inputs: dict[str, InputPort] = {}
        kinds: dict[str, Any] = {}
        for p in in_params:
            port, optional = port_of(call_hints.get(p.name, Any))
            required = p.default is inspect.Parameter.empty and not optional
            if p.default is not inspect.Parameter.empty and p.default is not None:
                raise TypeError(f"node {name!r}: input {p.name!r} may only default to None (inputs come from wires)")
            inputs[p.name] = InputPort(p.name, port, required)
            kinds[p.name] = p.kind
        params: dict[str, Param] = {}
        for p in par_params:
            default = p.default
            par = default if isinstance(default, Param) else Param(
                REQUIRED if default is inspect.Parameter.empty else default)
            par.name = p.name
            par.annotation = init_hints.get(p.name, Any)
            if not par.required:
                par.validate(par.default, f"node {name!r} default of param {p.name!r}")
            params[p.name] = par
        out_ports, multi = _outputs_from(return_hint, outputs)
        doc = description or (inspect.getdoc(obj) or "").strip().split("\n\n")[0].replace("\n", " ")
        spec = NodeSpec(name=name, func=obj, inputs=inputs, outputs=out_ports, params=params,
                        category=category, description=doc, stateful=stateful,
                        cacheable=(not stateful) if cacheable is None else cacheable,
                        cache_key=cache_key, priority=priority, multi_output=multi, _input_kinds=kinds)
        if stateful:
            spec.cacheable = False  # state lives in the instance; never reuse results
        _unwrap_param_defaults(obj.__init__ if stateful else obj)
        obj.__node_spec__ = spec
        from .registry import register

        register(spec)
        return obj

    return decorate


def _unwrap_param_defaults(func: Any) -> None:
    """Replace ``Param(...)`` defaults by their values so the node stays callable as plain
    Python (a ``Param()`` without a default becomes a required keyword argument)."""
    kw = getattr(func, "__kwdefaults__", None)
    if kw:
        func.__kwdefaults__ = {k: (v.default if isinstance(v, Param) else v) for k, v in kw.items()
                               if not (isinstance(v, Param) and v.required)} or None
    pos = getattr(func, "__defaults__", None)
    if pos:
        func.__defaults__ = tuple(v.default if isinstance(v, Param) and not v.required else v for v in pos)


__all__ = ["node", "Param", "REQUIRED", "NodeSpec", "InputPort", "GraphError", "check_type", "type_name",
           "RunContext", "run_context", "set_run_context", "reset_run_context",
           "output_path", "input_path", "frame_index", "current_node", "note", "file_stamp",
           "node_engine", "guarded_clip_spec"]
