"""Shared fixtures. Tests never download: the hub is offline for the whole session."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from sam_compose.samples import Scene, synthetic_scene  # noqa: E402


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
