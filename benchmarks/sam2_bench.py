"""The SAM 2.1 part of ``bench_sam.py``: our engine and tracker vs Meta's ``sam2`` predictors.

Builds SAM 2.1 hiera-tiny at full size (Meta's ``sam2.1_hiera_t.yaml``, random weights, 1024
input) with Meta's ``sam2``, saves it as Meta does (``{"model": state_dict}`` in a ``.pt``) and
loads it through ``sc.load_engine``. In the same process, interleaved so machine load hits
both alike, it times:

* embedding: ``SAM2ImagePredictor.set_image`` vs our cache-bypassing embedding;
* decode per prompt, post-processing to the original size included (one point, multimask);
* video propagation per frame: ``SAM2VideoPredictor.propagate_in_video`` (frames preloaded
  by ``init_state``, as Meta's API does) vs our streaming tracker (``track``), which also
  reads and prepares each frame inside the step; the two advance one frame each in turn;
  the prompted first frame is excluded.

Our engine runs its large CPU products through oneDNN (:mod:`sam_compose.engines.onednn`);
the last line says which kernels ran (``SAM_COMPOSE_ONEDNN=0`` measures with PyTorch's own).

Targets (issue 16): decode <= 0.5x, embedding <= 0.8x, propagation per frame <= 0.8x.
"""

from __future__ import annotations

import statistics
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch


def _build(video: bool) -> Any:
    from sam2.build_sam import build_sam2, build_sam2_video_predictor

    torch.manual_seed(0)
    build = build_sam2_video_predictor if video else build_sam2
    return build("configs/sam2.1/sam2.1_hiera_t.yaml", None, device="cpu").eval()


def _timeit(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def run(image: np.ndarray, prompts: int = 20, embed_repeats: int = 2, frames: int = 8) -> dict[str, float]:
    """Time SAM 2.1 hiera-tiny, ours vs Meta's; print the rows and return the ratios."""
    from sam2.sam2_image_predictor import SAM2ImagePredictor

    import sam_compose as sc
    from sam_compose.adapters.outputs import track

    warnings.filterwarnings("ignore")
    ref = _build(video=False)
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = Path(tmp) / "sam2.1_hiera_tiny_random.pt"
        torch.save({"model": ref.state_dict()}, str(ckpt))
        eng = sc.load_engine(str(ckpt), device="cpu")
        h, w = image.shape[:2]
        pred = SAM2ImagePredictor(ref)

        # --- embedding --------------------------------------------------------------------
        t_ref, t_our = [], []
        for _ in range(embed_repeats):
            t_ref.append(_timeit(lambda: pred.set_image(image)))
            t_our.append(_timeit(lambda: eng._compute_embedding(image, "bench")))
        eng.embed(image)
        emb = min(t_our) / min(t_ref)

        # --- decode per prompt ------------------------------------------------------------
        rng = np.random.default_rng(0)
        pts = np.stack([rng.uniform(0, w, prompts), rng.uniform(0, h, prompts)], 1)
        lab = np.array([1])
        pred.predict(point_coords=pts[:1], point_labels=lab)
        eng.segment(image, sc.Prompt(points=pts[:1]), multimask=True)
        d_ref, d_our = [], []
        for p in pts:
            d_ref.append(
                _timeit(lambda p=p: pred.predict(point_coords=p[None], point_labels=lab, multimask_output=True))
            )
            d_our.append(_timeit(lambda p=p: eng.segment(image, sc.Prompt(points=p[None]), multimask=True)))
        dec = statistics.median(d_our) / statistics.median(d_ref)

        # --- video ------------------------------------------------------------------------
        from PIL import Image

        vref = _build(video=True)
        torch.save({"model": vref.state_dict()}, str(ckpt))
        clip = [np.ascontiguousarray(np.roll(image, 8 * i, axis=1)) for i in range(frames)]
        folder = Path(tmp) / "frames"
        folder.mkdir()
        for i, f in enumerate(clip):
            Image.fromarray(f).save(folder / f"{i:05d}.jpg", quality=95)
        clip = [np.asarray(Image.open(folder / f"{i:05d}.jpg").convert("RGB")) for i in range(frames)]
        box = np.array([0.3 * w, 0.3 * h, 0.7 * w, 0.7 * h])
        with torch.inference_mode():
            state = vref.init_state(str(folder))
            vref.add_new_points_or_box(state, frame_idx=0, obj_id=1, box=box)
        veng = sc.load_engine(str(ckpt), device="cpu")
        ref_frames = iter(vref.propagate_in_video(state))  # its own inference mode, frame by frame
        our_frames = iter(track(clip, sc.Prompt(box=box), tracker="sam2", engine=veng))
        p_ref, p_our = [], []
        for _ in range(frames):  # interleaved frame by frame, so load changes hit both alike
            p_ref.append(_timeit(lambda: next(ref_frames)))
            p_our.append(_timeit(lambda: next(our_frames)))
        prop = statistics.median(p_our[1:]) / statistics.median(p_ref[1:])
    rows = [
        ("SAM 2.1 hiera-tiny embedding (s)", min(t_our), min(t_ref), emb, "<= 0.80"),
        (
            f"  decode per prompt, multimask, to {w}x{h} (ms)",
            statistics.median(d_our) * 1e3,
            statistics.median(d_ref) * 1e3,
            dec,
            "<= 0.50",
        ),
        (
            f"  video propagation per frame, {frames} frames (s)",
            statistics.median(p_our[1:]),
            statistics.median(p_ref[1:]),
            prop,
            "<= 0.80",
        ),
    ]
    for name, ours, theirs, ratio, target in rows:
        print(f"{name:<44} {ours:>10.2f} {theirs:>10.2f} {ratio:>7.2f}  {target}")
    from sam_compose.engines import onednn

    kernels = (
        "oneDNN (sam_compose.engines.onednn; SAM_COMPOSE_ONEDNN=0 for PyTorch's own)"
        if onednn.available()
        else "PyTorch's own (MKL), as the reference"
    )
    print(f"our CPU products: {kernels}")
    return {"embedding": emb, "decode": dec, "propagation": prop}
