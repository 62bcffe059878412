"""Engines: the protocol, the registry, the weight-free OpenCV engine and the SAM family."""

from __future__ import annotations

from .base import Engine, EngineStats
from .cache import EmbeddingCache
from .registry import clear_shared_engines, load_engine, register_engine, resolve_engine, resolve_spec, shared_engine

__all__ = [
                       "EmbeddingCache",
                       "Engine",
                       "EngineStats",
                       "clear_shared_engines",
                       "load_engine",
                       "register_engine",
                       "resolve_engine",
                       "resolve_spec",
                       "shared_engine",
]
