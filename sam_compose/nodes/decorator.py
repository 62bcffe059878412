"""``@node``: turn a typed function (or a stateful class) into a registered node type.

See :mod:`sam_compose.nodes.api` for the rules (inputs, params, outputs).
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Mapping
from typing import Any

from .params import REQUIRED, Param, ParamInfo
from .ports import PortType, port_of
from .registry import register
from .spec import InputPort, NodeSpec

__all__ = ["node"]


def _hints(obj: Any) -> dict[str, Any]:
    try:
        return typing.get_type_hints(obj, include_extras=True)
    except Exception as exc:  # unresolvable annotations are a node author's bug
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


def node(
    name: str,
    *,
    category: str = "misc",
    description: str = "",
    outputs: Mapping[str, Any] | None = None,
    stateful: bool = False,
    cacheable: bool | None = None,
    cache_key: Callable[[dict[str, Any]], Any] | None = None,
    priority: int = 0,
) -> Callable[[Any], Any]:
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
            in_params = [
                p for p in list(call_sig.parameters.values())[1:] if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
            ]
            par_params = [
                p for p in list(init_sig.parameters.values())[1:] if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
            ]
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
        params: dict[str, ParamInfo] = {}
        for p in par_params:
            default = p.default
            par = (
                default
                if isinstance(default, ParamInfo)
                else Param(REQUIRED if default is inspect.Parameter.empty else default)
            )
            par.name = p.name
            par.annotation = init_hints.get(p.name, Any)
            if not par.required:
                par.validate(par.default, f"node {name!r} default of param {p.name!r}")
            params[p.name] = par
        out_ports, multi = _outputs_from(return_hint, outputs)
        doc = description or (inspect.getdoc(obj) or "").strip().split("\n\n")[0].replace("\n", " ")
        spec = NodeSpec(
            name=name,
            func=obj,
            inputs=inputs,
            outputs=out_ports,
            params=params,
            category=category,
            description=doc,
            stateful=stateful,
            cacheable=(not stateful) if cacheable is None else cacheable,
            cache_key=cache_key,
            priority=priority,
            multi_output=multi,
            _input_kinds=kinds,
        )
        if stateful:
            spec.cacheable = False  # state lives in the instance; never reuse results
        _unwrap_param_defaults(obj.__init__ if stateful else obj)
        obj.__node_spec__ = spec
        register(spec)
        return obj

    return decorate


def _unwrap_param_defaults(func: Any) -> None:
    """Replace ``Param(...)`` defaults by their values so the node stays callable as plain
    Python (a ``Param()`` without a default becomes a required keyword argument)."""
    kw = getattr(func, "__kwdefaults__", None)
    if kw:
        func.__kwdefaults__ = {
            k: (v.default if isinstance(v, ParamInfo) else v)
            for k, v in kw.items()
            if not (isinstance(v, ParamInfo) and v.required)
        } or None
    pos = getattr(func, "__defaults__", None)
    if pos:
        func.__defaults__ = tuple(v.default if isinstance(v, ParamInfo) and not v.required else v for v in pos)
