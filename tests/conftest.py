"""Shared fixtures. Tests never download: the hub is offline for the whole session."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import numpy as np
import pytest

from sam_compose.samples import Scene, synthetic_scene


@pytest.fixture(scope="session")
def scene() -> Scene:
    """A 480x640 synthetic scene with three objects and their exact masks."""
    return synthetic_scene(seed=1)


@pytest.fixture(scope="session")
def opencv_engine():
    """One OpenCV engine for the session (no weights needed)."""
    from sam_compose.engines.opencv import OpenCVEngine

    return OpenCVEngine()


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


class _NetworkAttempts(list):
    """Hosts something tried to reach while the ``no_network`` fixture was active."""


@pytest.fixture
def no_network(monkeypatch):
    """Fail (and record) any attempt to open a network connection or resolve a name.

    Tests of offline behaviour use it instead of a stopwatch: an answer that never touches
    the network cannot be waiting for it."""
    import socket

    attempts = _NetworkAttempts()

    def refuse(*args, **kwargs):
        attempts.append(args[0] if args else kwargs)
        raise OSError("network access during a test that must stay offline")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", lambda self, *a: refuse(*a))
    return attempts
