"""Vendor data as it comes: the device's own fixations, Invisible told from Neon, Tobii Pro Lab events,
Neon native folders, time units, and reading bounds (a gzip bomb line, a row limit)."""

from __future__ import annotations

import gzip
import json
import tracemalloc
import warnings
import zlib

import numpy as np
import pytest

from sam_compose.adapters.prompts.gaze import GazeError, GazeLimitError, detect_fixations, detect_format, read_gaze
from sam_compose.adapters.prompts.gaze.metrics import event_f1
from sam_compose.adapters.prompts.gaze.synth import synth_trace, write_generic, write_neon, write_neon_fixations

TARGETS = [(0.3, 0.35, 0.4), (0.6, 0.4, 0.5), (0.45, 0.7, 0.3)]


def trace(scene, **kw):
    h, w = scene
    return synth_trace([(x * w, y * h, d) for x, y, d in TARGETS], scene_size=scene, t0=100.0, noise=1.0, **kw)


def fixation_ids(samples, truth):
    ids = np.zeros(len(samples), int)
    for k, f in enumerate(truth, 1):
        ids[(samples.t >= f.start) & (samples.t <= f.end)] = k
    return ids


# ------------------------------------------------------------------ the device's own fixations
def test_pupil_cloud_fixation_ids_are_used_unless_asked_to_detect(tmp_path):
    samples, truth = trace((1080, 1088))
    ids = fixation_ids(samples, truth)
    ids[ids == 2] = 0  # the device saw only two of the three (its own detector, its own say)
    path = write_neon(tmp_path / "gaze.csv", samples, fixation_ids=ids)
    got = read_gaze(path)
    assert got.fixations is not None and [f.id for f in got.fixations] == [1, 3]
    device = detect_fixations(got)
    assert len(device) == 2 and device[0].start == pytest.approx(truth[0].start, abs=1e-6)
    assert len(detect_fixations(got, fixations="detect")) == 3  # asked to detect
    with pytest.raises(GazeError, match="no fixations of the device"):
        detect_fixations(
            read_gaze(
                write_neon(tmp_path / "plain" / "gaze.csv", samples) if (tmp_path / "plain").mkdir() is None else None
            ),
            fixations="device",
        )
    # streamed in small chunks, a fixation spanning two chunks is one fixation
    from sam_compose.adapters.prompts.gaze import iter_gaze

    chunked = detect_fixations(iter_gaze(path, chunk_size=37))
    assert [(f.start, f.end) for f in chunked] == [(f.start, f.end) for f in device]


def test_fixations_csv_beside_the_gaze_file_is_used(tmp_path):
    samples, truth = trace((1200, 1600))
    write_neon(tmp_path / "gaze.csv", samples)
    write_neon_fixations(tmp_path / "fixations.csv", truth[:2])
    got = read_gaze(tmp_path)  # the export folder
    assert got.source == "neon" and len(got.fixations) == 2
    assert [round(f.x, 2) for f in detect_fixations(got)] == [round(f.x, 2) for f in truth[:2]]


def test_tobii_pro_lab_export_events(tmp_path):
    samples, truth = trace((1080, 1920), blinks=[(0.6, 0.05)])
    ids = fixation_ids(samples, truth)
    rows = [
        "Recording timestamp [μs]\tSensor\tGaze point X\tGaze point Y\tValidity left\tValidity right\t"
        "Eye movement type\tEye movement type index\tFixation point X\tFixation point Y\t"
        "Recording resolution width\tRecording resolution height"
    ]
    fx = {k: (f.x, f.y) for k, f in enumerate(truth, 1)}
    for t, x, y, k in zip(samples.t, samples.x, samples.y, ids):
        ok = np.isfinite(x)
        kind = "Fixation" if k else ("Saccade" if ok else "EyesNotFound")
        fpx, fpy = fx.get(k, ("", ""))
        rows.append(
            f"{int(round((t - 100) * 1e6))}\tEye Tracker\t{x if ok else ''}\t{y if ok else ''}\t"
            f"{'Valid' if ok else 'Invalid'}\t{'Valid' if ok else 'Invalid'}\t{kind}\t{k or ''}\t"
            f"{fpx}\t{fpy}\t1920\t1080"
        )
    path = tmp_path / "export.tsv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    assert detect_format(path) == "tobii_prolab"
    got = read_gaze(path)
    assert got.scene_size == (1080, 1920) and got.t[1] - got.t[0] == pytest.approx(0.005)
    assert got.dropped.get("invalid", 0) == int((~np.isfinite(samples.x)).sum())
    device = detect_fixations(got)
    assert [f.id for f in device] == [1, 2, 3]
    assert max(np.hypot(f.x - g.x, f.y - g.y) for f, g in zip(truth, device)) < 1e-6


# ------------------------------------------------------------------ Invisible or Neon
def test_invisible_and_neon_told_apart_from_the_gaze_angles(tmp_path, recwarn):
    for scene, label in (((1080, 1088), "invisible"), ((1200, 1600), "neon")):
        samples, _ = trace(scene)
        (tmp_path / label).mkdir()
        got = read_gaze(write_neon(tmp_path / label / "gaze.csv", samples))
        assert got.scene_size == scene and got.meta["device"] == label
        assert "gaze angles" in got.meta["device_from"]
    assert not [w for w in recwarn if "cannot be told" in str(w.message)]


def test_info_json_and_scene_camera_json_decide_first(tmp_path):
    samples, _ = trace((1080, 1088))
    folder = tmp_path / "a"
    folder.mkdir()
    write_neon(folder / "gaze.csv", samples)
    (folder / "info.json").write_text(
        json.dumps({"glasses_serial_number": "abc12", "android_device_name": "Pupil Invisible Companion"})
    )
    got = read_gaze(folder / "gaze.csv")
    assert got.meta["device"] == "invisible" and "info.json" in got.meta["device_from"]
    folder = tmp_path / "b"
    folder.mkdir()
    write_neon(folder / "gaze.csv", samples)
    (folder / "scene_camera.json").write_text(json.dumps({"camera_matrix": [[891, 0, 812], [0, 891, 595], [0, 0, 1]]}))
    got = read_gaze(folder / "gaze.csv")
    assert got.meta["device"] == "neon" and got.scene_size == (1200, 1600)


def test_a_scene_camera_that_cannot_be_told_warns_once_with_the_assumption(tmp_path):
    samples, _ = trace((1080, 1088))
    path = write_neon(tmp_path / "gaze.csv", samples)
    text = path.read_text().splitlines()
    cols = text[0].split(",")
    keep = [i for i, c in enumerate(cols) if not c.startswith(("azimuth", "elevation"))]
    path.write_text("\n".join(",".join(r.split(",")[i] for i in keep) for r in text) + "\n")
    from sam_compose.adapters.prompts.gaze import iter_gaze

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        chunks = list(iter_gaze(path, chunk_size=50))
    said = [str(w.message) for w in caught if "cannot be told" in str(w.message)]
    assert len(chunks) > 3 and len(said) == 1
    assert (
        "Pupil Labs Invisible's 1088x1080 frame, so it is assumed" in said[0] and "scene_size=(1200, 1600)" in said[0]
    )
    assert all(c.scene_size == (1080, 1088) for c in chunks)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_gaze(path, scene_size=(1200, 1600)).scene_size == (1200, 1600)  # stated: no warning


# ------------------------------------------------------------------ Neon native recordings
def _native_recording(folder, samples, fixations, blinks=()):
    """A minimal Neon native recording in the binary format pupil-labs-neon-recording reads."""
    folder.mkdir()
    ns = np.round(samples.t * 1e9).astype("<i8")
    (folder / "info.json").write_text(
        json.dumps(
            {
                "start_time": int(ns[0]),
                "duration": int(ns[-1] - ns[0]),
                "app_version": "2.9.40",
                "module_serial_number": "123456",
            }
        )
    )
    ns.tofile(folder / "gaze ps1.time")
    np.stack([samples.x, samples.y], 1).astype("<f4").tofile(folder / "gaze ps1.raw")
    np.full(len(ns), 255, np.uint8).tofile(folder / "worn ps1.raw")
    rec = np.zeros(
        len(fixations),
        dtype=[("event_type", "<i4"), ("start", "<i8"), ("end", "<i8")] + [(f"f{i}", "<f4") for i in range(10)],
    )
    rec["event_type"] = 1
    rec["start"] = [int(round(f.start * 1e9)) for f in fixations]
    rec["end"] = [int(round(f.end * 1e9)) for f in fixations]
    rec["f4"] = [f.x for f in fixations]  # mean gaze x, y
    rec["f5"] = [f.y for f in fixations]
    rec.tofile(folder / "fixations ps1.raw")
    rec["end"].astype("<i8").tofile(folder / "fixations ps1.time")
    b = np.array([(int(s * 1e9), int(e * 1e9)) for s, e in blinks], dtype="<i8").reshape(-1, 2)
    b.tofile(folder / "blinks ps1.raw")
    b[:, 1].copy().tofile(folder / "blinks ps1.time")


def test_neon_native_recording_folder(tmp_path):
    pytest.importorskip("pupil_labs.neon_recording")
    samples, truth = trace((1200, 1600))
    blink = (truth[1].start + 0.1, truth[1].start + 0.2)
    _native_recording(tmp_path / "rec", samples, truth, blinks=[blink])
    assert detect_format(tmp_path / "rec") == "neon_native"
    got = read_gaze(tmp_path)  # found inside the parent folder too
    assert got.source == "neon_native" and got.scene_size == (1200, 1600) and len(got) == len(samples)
    assert np.allclose(got.t, samples.t, atol=1e-6) and np.allclose(got.x, samples.x, atol=1e-3)
    assert got.dropped["blink"] == int(((samples.t >= blink[0]) & (samples.t < blink[1])).sum())
    device = detect_fixations(got)
    assert [round(f.x, 2) for f in device] == [round(f.x, 2) for f in truth]
    assert event_f1(detect_fixations(got, fixations="detect", fov=(103, 77)), truth)["recall"] == 1.0


# ------------------------------------------------------------------ time units
@pytest.mark.parametrize("scale, unit, warned", [(1.0, "s", False), (1e3, "ms", True), (1e9, "ns", True)])
def test_generic_time_column_without_a_unit(tmp_path, scale, unit, warned):
    samples, truth = trace((480, 640))
    p = tmp_path / "g.csv"
    p.write_text(
        "timestamp,x_px,y_px\n"
        + "".join(f"{t * scale:.6f},{x:.2f},{y:.2f}\n" for t, x, y in zip(samples.t, samples.x, samples.y))
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = read_gaze(p, scene_size=(480, 640))
    said = [str(w.message) for w in caught if "declares no unit" in str(w.message)]
    assert bool(said) == warned and (not warned or f"suggests {unit}" in said[0])
    assert np.allclose(got.t, samples.t, atol=1e-5)
    assert len(detect_fixations(got)) == len(truth)


# ------------------------------------------------------------------ bounds
def test_a_gzip_bomb_line_is_refused_fast_in_bounded_memory(tmp_path):
    path = tmp_path / "gaze.csv.gz"
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip container
    block = b"1" * (1 << 20)
    with open(path, "wb") as fh:
        fh.write(comp.compress(b"t,x,y\n"))
        for _ in range(256):  # one 256 MiB line (the reader must stop after 1 MiB of it)
            fh.write(comp.compress(block))
        fh.write(comp.flush())
    assert path.stat().st_size < 1 << 20
    tracemalloc.start()
    try:
        with pytest.raises(
            GazeLimitError, match="a line: .* is over the limit of 1,048,576 bytes.*SAM_COMPOSE_MAX_LINE_BYTES"
        ):
            read_gaze(path, units="px")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 40e6
    with gzip.open(tmp_path / "ok.csv.gz", "wt") as fh:
        fh.write("t,x_px,y_px\n0.0,1,2\n0.01,1,2\n")
    assert len(read_gaze(tmp_path / "ok.csv.gz")) == 2


def test_row_limit(tmp_path, monkeypatch):
    samples, _ = trace((480, 640))
    p = write_generic(tmp_path / "g.csv", samples, units="px", names=("t", "x_px", "y_px"))
    monkeypatch.setenv("SAM_COMPOSE_MAX_GAZE_ROWS", "100")
    with pytest.raises(GazeLimitError, match="over the limit of 100 rows.*SAM_COMPOSE_MAX_GAZE_ROWS"):
        read_gaze(p, scene_size=(480, 640))
    with pytest.raises(GazeLimitError):
        read_gaze(np.c_[samples.t, samples.x, samples.y])
