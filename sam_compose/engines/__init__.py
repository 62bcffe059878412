"""Engines: the protocol (``base``), the registry and shared instances (``registry``), model loading
(``hub``, ``downloads``, ``catalog``), and one sub-package per family: ``opencv/`` (weight-free),
``sam/`` (SAM, SlimSAM, SAM-HQ), ``sam2/`` (SAM 2.1, EdgeTAM), ``sam3/``; ``onnx_engine`` runs exports."""

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
