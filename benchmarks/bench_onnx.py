"""Benchmark: the onnx:DIR engine (float32 and int8) vs our PyTorch engine vs Meta's reference.

Same random ViT-B weights (Meta layout, saved as a ``.pth``: loaded by ``sc.load_engine``,
exported with ``sam-compose export onnx``, and run by ``segment_anything.SamPredictor``),
one 640x480 photograph, one process. Prints, per engine:

* embedding time (cache bypassed; the best of ``--embed-repeats`` interleaved runs);
* decode per prompt after the embedding, post-processing to 640x480 included: one
  ``segment`` (``SamPredictor.predict``) call per point prompt, interleaved across engines
  so that load from other processes hits all alike; median of ``--prompts``;
* mask agreement with our PyTorch engine (% of pixels, over all prompts' masks);
* the ratios the issue sets targets for: ONNX decode <= 0.5x PyTorch decode; int8
  embedding <= 0.6x float32 embedding with masks agreeing on > 98% of pixels.

An informational row quantises the decoder too (``int8 enc+dec``), to show what it would
buy and cost. Exports are cached in ``--work DIR`` (by weights fingerprint) across runs.

Usage: ``python benchmarks/bench_onnx.py [--prompts 20] [--embed-repeats 2] [--work DIR] [--threads N]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def _image() -> np.ndarray:
    from PIL import Image
    from skimage import data

    return np.asarray(Image.fromarray(data.chelsea()).resize((640, 480), Image.BILINEAR))


def _time(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _exports(ckpt: Path, work: Path) -> dict[str, Path]:
    """float32, int8 (encoder) and int8 encoder+decoder folders, made once per weights."""
    from sam_compose.deploy import export_onnx
    from sam_compose.deploy.quantize import quantize_folder
    from sam_compose.engines.onnx.manifest import read_manifest

    dirs = {"onnx fp32": work / "fp32", "onnx int8": work / "int8", "int8 enc+dec": work / "int8_all"}
    if not (dirs["onnx fp32"] / "sam_onnx.json").is_file():
        t = _time(lambda: export_onnx(str(ckpt), dirs["onnx fp32"]))
        print(f"exported float32 ONNX in {t:.1f} s")
    if not (dirs["onnx int8"] / "sam_onnx.json").is_file():
        t = _time(lambda: export_onnx(f"onnx:{dirs['onnx fp32']}", dirs["onnx int8"], quantize="int8"))
        print(f"quantised to int8 in {t:.1f} s")
    if not (dirs["int8 enc+dec"] / "sam_onnx.json").is_file():
        export_onnx(f"onnx:{dirs['onnx fp32']}", dirs["int8 enc+dec"])
        quantize_folder(dirs["int8 enc+dec"], read_manifest(dirs["int8 enc+dec"]), roles=("encoder", "decoder"))
    return dirs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompts", type=int, default=20, help="point prompts timed one by one")
    ap.add_argument("--embed-repeats", type=int, default=2)
    ap.add_argument("--work", default=None, help="folder for the checkpoint and exports (reused across runs)")
    ap.add_argument("--threads", type=int, default=None, help="threads for torch and onnxruntime")
    ap.add_argument("--skip-reference", action="store_true", help="leave out Meta's SamPredictor")
    args = ap.parse_args()
    if args.threads:
        import os

        torch.set_num_threads(args.threads)
        os.environ["SAM_COMPOSE_ORT_THREADS"] = str(args.threads)

    import onnxruntime
    from tiny_models import tiny_meta_sam

    import sam_compose as sc

    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="bench_onnx_"))
    work.mkdir(parents=True, exist_ok=True)
    ckpt = work / "sam_vit_b_random.pth"
    ref = tiny_meta_sam(embed_dim=768, depth=12, heads=12, global_attn=(2, 5, 8, 11), seed=0)
    if not ckpt.is_file():
        torch.save(ref.state_dict(), str(ckpt))
    print(
        f"torch {torch.__version__} ({torch.get_num_threads()} threads), onnxruntime {onnxruntime.__version__}; "
        f"random ViT-B weights; work folder {work}"
    )
    dirs = _exports(ckpt, work)
    engines = {"pytorch": sc.load_engine(str(ckpt), device="cpu")}
    engines.update({name: sc.load_engine(f"onnx:{d}") for name, d in dirs.items()})
    img = _image()
    h, w = img.shape[:2]
    print(f"image {w}x{h}")

    pred = None
    if not args.skip_reference:
        from segment_anything import SamPredictor

        pred = SamPredictor(ref)

    # --- embedding (cache bypassed), interleaved ------------------------------------------
    t_emb: dict[str, list[float]] = {name: [] for name in engines}
    t_emb["meta reference"] = []
    for _ in range(args.embed_repeats):
        for name, eng in engines.items():
            if name == "int8 enc+dec":
                continue  # same encoder as "onnx int8"
            t_emb[name].append(_time(lambda e=eng: e._compute_embedding(img, "bench")))
        if pred is not None:
            with torch.inference_mode():
                t_emb["meta reference"].append(_time(lambda: pred.set_image(img)))
    t_emb["int8 enc+dec"] = t_emb["onnx int8"]
    for eng in engines.values():
        eng.embed(img)

    # --- decode per prompt, post-processing included, interleaved -------------------------
    rng = np.random.default_rng(0)
    pts = np.stack([rng.uniform(0, w, args.prompts), rng.uniform(0, h, args.prompts)], 1)
    lab = np.array([1])
    results: dict[str, list] = {name: [] for name in engines}
    t_dec: dict[str, list[float]] = {name: [] for name in list(engines) + ["meta reference"]}
    for eng in engines.values():
        eng.segment(img, sc.Prompt(points=pts[:1]), multimask=True)  # warm-up
    if pred is not None:
        with torch.inference_mode():
            pred.predict(point_coords=pts[:1], point_labels=lab)
    for p in pts:
        prompt = sc.Prompt(points=p[None])
        for name, eng in engines.items():
            t0 = time.perf_counter()
            res = eng.segment(img, prompt, multimask=True)
            t_dec[name].append(time.perf_counter() - t0)
            results[name].append(res.masks)
        if pred is not None:
            with torch.inference_mode():
                t_dec["meta reference"].append(
                    _time(lambda p=p: pred.predict(point_coords=p[None], point_labels=lab, multimask_output=True))
                )

    base = np.concatenate(results["pytorch"])
    agree = {name: float((np.concatenate(r) == base).mean()) for name, r in results.items()}
    med = {name: statistics.median(v) for name, v in t_dec.items() if v}
    best_emb = {name: min(v) for name, v in t_emb.items() if v}

    print()
    print(f"{'engine':<16} {'embedding (s)':>14} {'decode/prompt (ms)':>19} {'vs pytorch':>11} {'masks = pytorch':>16}")
    for name in list(engines) + (["meta reference"] if pred is not None else []):
        ratio = med[name] / med["pytorch"]
        ag = f"{agree[name]:.4%}" if name in agree else "-"
        print(f"{name:<16} {best_emb[name]:>14.2f} {med[name] * 1e3:>19.1f} {ratio:>10.2f}x {ag:>16}")
    print()
    d_ratio = med["onnx fp32"] / med["pytorch"]
    e_ratio = best_emb["onnx int8"] / best_emb["onnx fp32"]
    print(
        f"ONNX fp32 decode per prompt / PyTorch decode: {d_ratio:.2f} (target <= 0.50: "
        f"{'met' if d_ratio <= 0.5 else 'NOT met'})"
    )
    print(
        f"ONNX int8 decode per prompt / PyTorch decode: {med['onnx int8'] / med['pytorch']:.2f}; "
        f"int8 enc+dec: {med['int8 enc+dec'] / med['pytorch']:.2f}"
    )
    print(
        f"int8 embedding / fp32 embedding: {e_ratio:.2f} (target <= 0.60: {'met' if e_ratio <= 0.6 else 'NOT met'}); "
        f"int8 masks agree with PyTorch on {agree['onnx int8']:.2%} of pixels (target > 98%: "
        f"{'met' if agree['onnx int8'] > 0.98 else 'NOT met'}), fp32 on {agree['onnx fp32']:.4%}"
    )
    if pred is not None:
        print(
            f"vs Meta's reference: PyTorch engine decode {med['pytorch'] / med['meta reference']:.2f}x, "
            f"ONNX fp32 {med['onnx fp32'] / med['meta reference']:.2f}x; embedding ONNX fp32 "
            f"{best_emb['onnx fp32'] / best_emb['meta reference']:.2f}x, int8 "
            f"{best_emb['onnx int8'] / best_emb['meta reference']:.2f}x"
        )
    sizes = {name: sum(f.stat().st_size for f in d.glob("*.onnx")) / 1e6 for name, d in dirs.items()}
    print("files: " + ", ".join(f"{n} {s:.0f} MB" for n, s in sizes.items()))


if __name__ == "__main__":
    main()
