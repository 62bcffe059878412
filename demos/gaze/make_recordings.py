"""Regenerate the demo gaze recordings in this folder (deterministic).

    python demos/gaze/make_recordings.py

* ``coins_gaze.csv``: a Pupil Core ``gaze_positions.csv`` (normalised, origin bottom left,
  with confidence) of someone looking at two coins of scikit-image's coins photograph
  (``sample:coins``, 384x303): 0.9 s on the coin at (348, 186) px with a blink, then 0.4 s
  on the coin at (334, 44), with saccades, noise and a few low-confidence samples.
* ``coins_neon_gaze.csv``: the same viewing as a Pupil Neon ``gaze.csv`` (pixels of a
  1600x1200 scene camera that sees the photograph full-frame).
* ``coins_tobii_gazedata.gz``: the same as Tobii Pro Glasses 3 ``gazedata`` (gzipped JSON lines).
"""

from __future__ import annotations

from pathlib import Path

from sam_compose.adapters.prompts.gaze.synth import synth_trace, write_neon, write_pupil_core, write_tobii

HERE = Path(__file__).resolve().parent
IMAGE = (384, 303)  # width, height of sample:coins
VIEWING = [(348, 186, 0.9), (334, 44, 0.4)]  # image pixels, seconds


def viewing(frame: tuple[int, int]):
    sx, sy = frame[0] / IMAGE[0], frame[1] / IMAGE[1]
    samples, _ = synth_trace(
        [(x * sx, y * sy, d) for x, y, d in VIEWING],
        scene_size=(frame[1], frame[0]),
        start=(40 * sx, 250 * sy),
        noise=0.004 * frame[0],
        blinks=[(0.5, 0.12)],
        low_confidence=0.05,
        t0=1234.5,
        seed=7,
    )
    return samples


def main() -> None:
    write_pupil_core(HERE / "coins_gaze.csv", viewing((1280, 720)))
    write_neon(HERE / "coins_neon_gaze.csv", viewing((1600, 1200)))
    write_tobii(HERE / "coins_tobii_gazedata.gz", viewing((1920, 1080)))
    print("wrote", ", ".join(p.name for p in sorted(HERE.glob("coins_*"))))


if __name__ == "__main__":
    main()
