"""Shared fixtures. Tests never download: the hub is offline for the whole session."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import numpy as np
import pytest
from network_guard import refuse_network

from sam_compose.samples import Scene, synthetic_scene

# the demo tests' fixtures (small_scene, assets, upload_dir) live beside their helpers
pytest_plugins = ["app_cases"]


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


@pytest.fixture
def no_network(monkeypatch):
    """Fail (and record) any attempt to open a network connection or resolve a name.

    Tests of offline behaviour use it instead of a stopwatch: an answer that never touches
    the network cannot be waiting for it."""
    return refuse_network(monkeypatch)


@pytest.fixture(scope="session")
def tiny_sam_onnx(tmp_path_factory, request):
    """(Meta .pth of a tiny random SAM, its `sam-compose export onnx` folder), exported once per test run
    (pytest-xdist workers share it through the run's common temporary folder and a lock)."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    import torch
    from filelock import FileLock
    from tiny_models import tiny_meta_sam

    from sam_compose.deploy import export_onnx

    base = tmp_path_factory.getbasetemp()
    in_worker = hasattr(request.config, "workerinput")  # a pytest-xdist worker: share with the others
    root = (base.parent if in_worker else base) / "tiny_sam_onnx"
    ckpt, out = root / "sam_tiny.pth", root / "export"
    with FileLock(str(root) + ".lock"):
        if not (out / "sam_onnx.json").is_file():
            root.mkdir(parents=True, exist_ok=True)
            model = tiny_meta_sam(embed_dim=32, depth=2, heads=2, global_attn=(1,), seed=5)
            with torch.no_grad():  # positive IoU predictions, so automatic-mask thresholds have something to keep
                model.mask_decoder.iou_prediction_head.layers[-1].bias += 1.0
            torch.save(model.state_dict(), str(ckpt))
            export_onnx(str(ckpt), out)
    return ckpt, out
