"""Fixation detection on synthetic traces with known fixations, streaming, live, and parity with pymovements."""

from __future__ import annotations

import numpy as np
import pytest

from sam_compose.adapters.prompts.gaze import (
    FixationDetector,
    GazeError,
    GazeSamples,
    LiveGaze,
    detect_fixations,
    live_fixations,
    px_per_degree,
)
from sam_compose.adapters.prompts.gaze.synth import synth_trace

SCENE = (480, 640)  # (H, W)
WH = (640, 480)
DIAG = float(np.hypot(*SCENE))


def random_targets(seed: int, n: int = 12, frame=WH, min_jump: float = 80.0, dur=(0.15, 0.6)):
    rng = np.random.default_rng(seed)
    out, prev = [], None
    w, h = frame
    while len(out) < n:
        p = rng.uniform([0.06 * w, 0.08 * h], [0.94 * w, 0.92 * h])
        if prev is not None and np.hypot(*(p - prev)) < min_jump:
            continue
        out.append((float(p[0]), float(p[1]), float(rng.uniform(*dur))))
        prev = p
    return out


def match(found, truth):
    """For each true fixation, the detected one overlapping it most in time (or None)."""
    out = []
    for f in truth:
        best, ov = None, 0.0
        for g in found:
            o = min(f.end, g.end) - max(f.start, g.start)
            if o > ov:
                best, ov = g, o
        out.append(best)
    return out


def centre_errors(found, truth):
    return [np.hypot(g.x - f.x, g.y - f.y) if g is not None else np.inf for f, g in zip(truth, match(found, truth))]


@pytest.mark.parametrize("method", ["ivt", "idt"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_clean_trace_exact_count_and_centres(method, seed):
    samples, truth = synth_trace(random_targets(seed), scene_size=SCENE, seed=seed)
    found = detect_fixations(samples, method=method)
    assert len(found) == len(truth)
    assert max(centre_errors(found, truth)) < 0.01 * DIAG
    for f, g in zip(truth, found):  # durations within two saccade lengths
        assert abs(f.duration - g.duration) < 0.08


@pytest.mark.parametrize("rate", [60.0, 120.0, 250.0])
def test_clean_trace_other_rates(rate):
    samples, truth = synth_trace(random_targets(7), scene_size=SCENE, rate=rate)
    found = detect_fixations(samples)
    assert len(found) == len(truth)
    assert max(centre_errors(found, truth)) < 0.01 * DIAG


@pytest.mark.parametrize("method", ["ivt", "idt"])
def test_noise_saccades_drift(method):
    targets = random_targets(4)
    samples, truth = synth_trace(targets, scene_size=SCENE, noise=1.5, drift=6.0, seed=4)
    kw = {"dispersion_threshold": 20.0} if method == "idt" else {}
    found = detect_fixations(samples, method=method, **kw)
    # every true fixation is found, centred within 1% of the diagonal; no fixation invented in saccades
    assert max(centre_errors(found, truth)) < 0.01 * DIAG
    assert len(found) <= len(truth) + 2
    for g in found:
        assert min(np.hypot(g.x - f.x, g.y - f.y) for f in truth) < 0.02 * DIAG


def test_blinks_split_then_merge():
    targets = [(100, 100, 0.5), (400, 300, 0.6), (200, 380, 0.4)]
    samples, truth = synth_trace(targets, scene_size=SCENE, noise=0.5, blinks=[(0.2, 0.12), (0.85, 0.15)])
    assert samples.n_valid < len(samples)
    split = detect_fixations(samples, merge_gap=0.0)
    assert len(split) == 5  # each blink cuts its fixation in two
    merged = detect_fixations(samples, merge_gap=0.3)
    assert len(merged) == 3
    assert max(centre_errors(merged, truth)) < 0.01 * DIAG
    assert merged[0].start == pytest.approx(truth[0].start, abs=0.03)
    assert merged[0].end == pytest.approx(truth[0].end, abs=0.03)


def test_min_duration_drops_short_fixations():
    targets = [(100, 100, 0.4), (400, 300, 0.05), (200, 380, 0.4)]
    samples, _ = synth_trace(targets, scene_size=SCENE)
    assert len(detect_fixations(samples, min_duration=0.1)) == 2
    assert len(detect_fixations(samples, min_duration=0.03)) == 3


def test_low_confidence_and_off_scene_samples_dropped():
    samples, truth = synth_trace([(100, 100, 0.5), (500, 300, 0.5)], scene_size=SCENE, low_confidence=0.2)
    x = samples.x.copy()
    x[:20] = -50.0  # off the scene frame
    conf = samples.confidence.copy()
    conf[:20] = 0.9
    s = GazeSamples(t=samples.t, x=x, y=samples.y, scene_size=SCENE, confidence=conf)
    det = FixationDetector(scene_size=SCENE, min_confidence=0.5, max_gap=0.1)
    found = det.feed(s) + det.flush()
    assert det.dropped["off_scene"] == 20
    assert det.dropped["low_confidence"] > 0.1 * len(s)
    assert len(found) == 2 and max(centre_errors(found, truth)) < 0.01 * DIAG


def test_only_invalid_samples_gives_no_fixation():
    t = np.arange(400) / 200
    s = GazeSamples(t=t, x=np.full(400, np.nan), y=np.full(400, np.nan), scene_size=SCENE)
    assert detect_fixations(s) == []


def test_degrees_with_fov():
    # Neon-like scene camera: 1600x1200 px over 103x77 deg -> ~15.6 px/deg
    scene = (1200, 1600)
    ppd = px_per_degree(scene, (103, 77))
    assert 15.0 < ppd < 16.0
    targets = random_targets(5, frame=(1600, 1200), min_jump=200)
    samples, truth = synth_trace(targets, scene_size=scene, noise=2.0, seed=5)
    found = detect_fixations(samples, fov=(103, 77), velocity_threshold=30.0)
    assert len(found) == len(truth)
    # a threshold of 1 deg/s calls every noisy sample a saccade in the textbook algorithm ...
    assert (
        len(detect_fixations(samples, fov=(103, 77), velocity_threshold=1.0, smoothing=None, adaptive=False))
        < len(truth) // 2
    )
    # ... while the noise-adaptive one raises it to the measured noise floor and says so
    det = FixationDetector(scene_size=scene, fov=(103, 77), velocity_threshold=1.0)
    assert len(det.feed(samples) + det.flush()) == len(truth)
    assert all(b["raised"] for b in det.noise) and min(b["threshold_px_s"] for b in det.noise) > ppd
    with pytest.raises(GazeError, match="fov"):
        detect_fixations(samples, fov=(0, 77))


def test_smoothing_helps_on_noisy_trace():
    samples, truth = synth_trace(random_targets(8), scene_size=SCENE, noise=3.0, seed=8)
    raw = detect_fixations(samples, smoothing=None, velocity_span=0.005, merge_gap=0)
    smooth = detect_fixations(samples, smoothing="median", smooth_window=7, merge_gap=0)
    assert abs(len(smooth) - len(truth)) < abs(len(raw) - len(truth))


@pytest.mark.parametrize("method", ["ivt", "idt"])
def test_streaming_in_chunks_equals_batch(method):
    samples, _ = synth_trace(random_targets(9), scene_size=SCENE, noise=1.5, blinks=[(0.5, 0.1)], drift=4, seed=9)
    ref = detect_fixations(samples, method=method)
    for size in (1, 13, 256):
        chunks = [samples[i : i + size] for i in range(0, len(samples), size)]
        got = detect_fixations(chunks, method=method)
        assert [(f.start, f.end) for f in got] == [(f.start, f.end) for f in ref]
        assert np.allclose([f.x for f in got], [f.x for f in ref])


@pytest.mark.parametrize("merge_gap", [0.075, 0.0])
def test_live_push_one_by_one_equals_file(merge_gap):
    samples, _truth = synth_trace(random_targets(10), scene_size=SCENE, noise=1.0, blinks=[(1.0, 0.1)], seed=10)
    ref = detect_fixations(samples, merge_gap=merge_gap)
    live = LiveGaze(scene_size=SCENE, merge_gap=merge_gap)
    got, when = [], []
    for i in range(len(samples)):
        sample = {"timestamp": samples.t[i], "x": samples.x[i], "y": samples.y[i], "worn": bool(samples.valid[i])}
        new = live.push(sample)
        got += new
        when += [samples.t[i]] * len(new)
        assert live.buffered < 200  # bounded by the current fixation (max 0.6 s at 200 Hz = 120 samples)
    got += live.close()
    assert [(f.start, f.end) for f in got] == [(f.start, f.end) for f in ref]
    if merge_gap == 0:  # without merging a fixation is reported a few samples after it ends,
        # or max_gap (75 ms) after it when a blink follows it
        lat = np.array([t - f.end for f, t in zip(got, when)])
        assert (lat >= 0).all() and (lat < 0.11).all() and np.median(lat) < 0.05


def test_live_fixations_from_an_sdk_style_iterator():
    """A device object that hands out gaze datums until it returns None (Pupil realtime API style)."""
    samples, truth = synth_trace(random_targets(11, n=5), scene_size=SCENE, noise=0.5, seed=11)

    class Datum:
        def __init__(self, i):
            self.x, self.y = float(samples.x[i]), float(samples.y[i])
            self.worn, self.timestamp_unix_seconds = True, 1.7e9 + float(samples.t[i])

    class Device:
        i = 0

        def receive_gaze_datum(self):
            if self.i >= len(samples):
                return None
            self.i += 1
            return Datum(self.i - 1)

    dev = Device()
    got = list(live_fixations(iter(dev.receive_gaze_datum, None), scene_size=SCENE))
    assert len(got) == len(truth)
    assert all(np.hypot(g.x - f.x, g.y - f.y) < 0.01 * DIAG for f, g in zip(truth, got))


def test_live_normalised_bottom_left_and_bad_samples():
    live = LiveGaze(scene_size=(1000, 1000), units="norm", origin="bottom-left")
    for i in range(100):
        live.push((i / 100, 0.25, 0.75))  # (t, x, y): one long fixation at (250, 250) px
    (f,) = live.close()
    assert (f.x, f.y) == pytest.approx((250, 250))
    live = LiveGaze(scene_size=SCENE)
    live.push((1.0, 10, 10))
    with pytest.raises(GazeError, match="back in time"):
        live.push((0.5, 10, 10))
    with pytest.raises(GazeError, match=r"\(t, x, y"):
        live.push((1.0, 2.0))
    with pytest.raises(GazeError, match="needs a time"):
        live.push({"x": 1, "y": 2})


def test_bad_parameters():
    s, _ = synth_trace([(100, 100, 0.3)], scene_size=SCENE)
    with pytest.raises(GazeError, match="ivt"):
        detect_fixations(s, method="hmm")
    with pytest.raises(GazeError, match="seconds"):
        detect_fixations(s, min_duration=-1)
    with pytest.raises(GazeError, match="GazeSamples"):
        detect_fixations([[0, 1, 2]])


# ------------------------------------------------------------------ parity with pymovements
def _pm_centres(events, t_ms, pos):
    out = []
    for on, off in zip(events.frame["onset"], events.frame["offset"]):
        m = (t_ms >= on) & (t_ms <= off)
        out.append((pos[m, 0].mean(), pos[m, 1].mean()))
    return np.array(out)


@pytest.mark.parametrize("seed", [0, 2, 3])
def test_agrees_with_pymovements_ivt_and_idt(seed):
    import pymovements as pm  # test dependency: the reference implementation
    from pymovements.transforms.numpy import pos2vel

    samples, _ = synth_trace(random_targets(seed), scene_size=SCENE, noise=0.5, seed=seed)
    pos = np.stack([samples.x, samples.y], 1)
    t_ms = np.round(samples.t * 1000).astype(int)
    # I-VT: same threshold (px/s), same minimum duration, the textbook algorithm on our side
    ref = pm.events.ivt(
        pos2vel(pos, sampling_rate=200, method="smooth"), timesteps=t_ms, minimum_duration=60, velocity_threshold=400.0
    )
    ours = detect_fixations(
        samples, velocity_threshold=400.0, smoothing=None, merge_gap=0, min_duration=0.06, adaptive=False
    )
    assert len(ours) == len(ref.frame)
    dist = np.hypot(*(np.array([[f.x, f.y] for f in ours]) - _pm_centres(ref, t_ms, pos)).T)
    assert dist.max() < 0.01 * DIAG
    onsets = np.array([round(f.start * 1000) for f in ours])
    assert np.abs(onsets - ref.frame["onset"].to_numpy()).max() <= 25
    # I-DT: same dispersion threshold (x range + y range, px) and minimum duration
    ref = pm.events.idt(pos, timesteps=t_ms, minimum_duration=60, dispersion_threshold=25.0)
    ours = detect_fixations(
        samples, method="idt", dispersion_threshold=25.0, smoothing=None, merge_gap=0, adaptive=False
    )
    assert len(ours) == len(ref.frame)
    dist = np.hypot(*(np.array([[f.x, f.y] for f in ours]) - _pm_centres(ref, t_ms, pos)).T)
    assert dist.max() < 0.01 * DIAG
