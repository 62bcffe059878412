"""The node registry: every ``@node`` lands here; node modules are discovered lazily.

Discovery (once per process, thread-safe, on the first lookup) imports

1. every module in the ``sam_compose.nodes`` package (``core``, ``gaze``, ``prompts``,
   ``outputs``, ``tracking``, ... : a new file there needs no registration), then
2. every entry point of the ``sam_compose.nodes`` group, so a third-party package adds
   nodes with, in its pyproject.toml::

       [project.entry-points."sam_compose.nodes"]
       my_nodes = "my_package.nodes"          # a module full of @node functions

A module that fails to import is reported with a warning (and named in the "unknown
node type" error) instead of breaking every other node.

When two registrations use one name the higher ``priority`` wins (core fallbacks use
-10 so topic modules can replace them); on a tie the first one stays and a warning
names both.
"""

from __future__ import annotations

import importlib
import pkgutil
import threading
import warnings
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from .spec import NodeSpec

ENTRY_POINT_GROUP = "sam_compose.nodes"
_INFRA_MODULES = {"api", "ports", "registry", "context", "decorator", "params", "spec", "typecheck"}

_REGISTRY: dict[str, NodeSpec] = {}
_LOCK = threading.Lock()  # guards _REGISTRY only (short critical sections, never held while importing)
_DISCOVER_LOCK = threading.RLock()  # held while importing node modules; register() never takes it
_DISCOVERED = False
_DISCOVERING = False
DISCOVERY_ERRORS: dict[str, str] = {}
"""module or entry point -> one-line reason it could not be imported."""


def register(spec: NodeSpec) -> NodeSpec:
    """Add ``spec`` (called by ``@node``); see the module docstring for name clashes."""
    with _LOCK:
        old = _REGISTRY.get(spec.name)
        if old is None or old.origin == spec.origin or spec.priority > old.priority:
            _REGISTRY[spec.name] = spec
        elif spec.priority == old.priority:
            warnings.warn(
                f"node type {spec.name!r} is defined twice ({old.origin} and {spec.origin}); keeping {old.origin}",
                stacklevel=3,
            )
    return spec


def unregister(name: str) -> None:
    """Remove a node type (tests, plugins that reload)."""
    with _LOCK:
        _REGISTRY.pop(name, None)


def discover(force: bool = False) -> None:
    """Import every node module and entry point (once; ``force`` repeats it)."""
    global _DISCOVERED, _DISCOVERING
    with _DISCOVER_LOCK:
        if (_DISCOVERED and not force) or _DISCOVERING:
            return
        _DISCOVERING = True
        try:
            from .. import nodes as package

            for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: (i.name != "core", i.name)):
                if info.name in _INFRA_MODULES or info.name.startswith("_"):
                    continue
                _import(f"{package.__name__}.{info.name}")
            _load_entry_points()
            _DISCOVERED = True
        finally:
            _DISCOVERING = False


def _import(module: str) -> None:
    try:
        importlib.import_module(module)
    except Exception as exc:  # one broken module must not hide every other node
        DISCOVERY_ERRORS[module] = f"{type(exc).__name__}: {exc}"
        warnings.warn(
            f"node module {module} could not be imported ({type(exc).__name__}: {exc}); its node types are unavailable",
            stacklevel=3,
        )


def _load_entry_points() -> None:
    from importlib.metadata import entry_points

    try:
        eps = entry_points(group=ENTRY_POINT_GROUP)
    except Exception:  # broken metadata of an unrelated distribution
        return
    for ep in eps:
        try:
            ep.load()  # importing the module runs its @node decorators
        except Exception as exc:
            DISCOVERY_ERRORS[f"entry point {ep.name} = {ep.value}"] = f"{type(exc).__name__}: {exc}"
            warnings.warn(f"node plugin {ep.name} ({ep.value}) could not be loaded: {exc}", stacklevel=3)


def get(name: str) -> NodeSpec:
    """The spec of node type ``name``; raises ``GraphError`` listing the known types."""
    discover()
    spec = _REGISTRY.get(name)
    if spec is None:
        from ..errors import GraphError

        known = ", ".join(sorted(_REGISTRY))
        broken = f"; modules that failed to import: {', '.join(DISCOVERY_ERRORS)}" if DISCOVERY_ERRORS else ""
        raise GraphError(f"unknown node type {name!r}; known types: {known}{broken}")
    return spec


def find(name: str) -> NodeSpec | None:
    """Like :func:`get` but returns None for an unknown name."""
    discover()
    return _REGISTRY.get(name)


def available() -> dict[str, NodeSpec]:
    """All registered node types by name (after discovery)."""
    discover()
    with _LOCK:
        return dict(sorted(_REGISTRY.items()))


def catalog() -> list[dict]:
    """JSON descriptions of every node type (for UIs, agents and docs)."""
    return [spec.describe() for spec in available().values()]


__all__ = [
    "DISCOVERY_ERRORS",
    "ENTRY_POINT_GROUP",
    "available",
    "catalog",
    "discover",
    "find",
    "get",
    "register",
    "unregister",
]
