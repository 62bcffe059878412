"""Live Neon gaze through pupil-labs-realtime-api, against a stand-in Companion on 127.0.0.1."""

from __future__ import annotations

import numpy as np
import pytest
from neon_standin import NeonStandIn

from sam_compose.adapters.prompts.gaze import GazeError, detect_fixations
from sam_compose.adapters.prompts.gaze.metrics import event_f1
from sam_compose.adapters.prompts.gaze.synth import synth_trace

pytest.importorskip("pupil_labs.realtime_api")
pytest.importorskip("aiortsp")


@pytest.fixture(scope="module")
def viewing():
    targets = [(400, 300, 0.4), (1100, 500, 0.5), (700, 900, 0.4), (1300, 300, 0.3)]
    samples, truth = synth_trace(targets, scene_size=(1200, 1600), noise=2.0, t0=1.7e9, seed=3)
    return samples, truth


def test_fixations_from_a_live_neon_equal_the_recorded_ones(viewing):
    from sam_compose.adapters.prompts.gaze.neon_live import iter_neon_gaze, neon_fixations

    samples, truth = viewing
    with NeonStandIn(np.c_[samples.t, samples.x, samples.y]) as dev:
        got = list(neon_fixations(dev.address, dev.port, max_samples=len(samples), duration=30))
        assert "GET /api/status HTTP/1.1" in dev.requests and "PLAY" in dev.requests
        # the datums themselves: positions as sent, times on the Unix clock
        datums = list(iter_neon_gaze(url=dev.rtsp_url, max_samples=20, duration=30))
    assert len(datums) == 20 and datums[0].worn
    assert np.allclose([d.x for d in datums], samples.x[:20], atol=1e-3)
    assert abs(datums[0].timestamp_unix_seconds - samples.t[0]) < 1e-3
    ref = detect_fixations(samples, fov=(103, 77))
    assert event_f1(got, truth)["f1"] == 1.0
    assert [(round(f.start, 3), round(f.end, 3)) for f in got] == [(round(f.start, 3), round(f.end, 3)) for f in ref]


def test_unreachable_device_is_a_clear_error():
    import socket

    from sam_compose.adapters.prompts.gaze.neon_live import neon_fixations

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here
    with pytest.raises(GazeError, match="cannot reach the Neon Companion at 127.0.0.1"):
        list(neon_fixations("127.0.0.1", port, duration=5))
