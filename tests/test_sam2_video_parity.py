"""SAM 2.1 video tracking parity with Meta's ``SAM2VideoPredictor`` on the same random weights.

A hiera-tiny-family SAM 2.1 (shrunk, 256 x 256 input so the test stays fast) is built by
Meta's ``sam2`` from its own config and saved as Meta saves checkpoints, with the resolved
Hydra config beside it. ``track(..., tracker="sam2", engine=<the .pt>)`` must give the same
per-frame masks as ``init_state`` / ``add_new_points_or_box`` / ``add_new_mask`` /
``propagate_in_video`` on a short synthetic clip (JPEG frames, as Meta's loader reads them).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sam2")
PIL = pytest.importorskip("PIL.Image")

from tiny_models import save_meta_sam2_checkpoint, tiny_meta_sam2

import sam_compose as sc
from sam_compose.adapters.outputs import track
from sam_compose.adapters.outputs.tracking.synth import synthetic_video
from sam_compose.errors import EngineError, InputError

N_FRAMES = 6


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """Frames as Meta's predictor reads them (a folder of JPEGs) and the same decoded frames for us."""
    v = synthetic_video("cross", n_frames=N_FRAMES, size=(96, 128))
    folder = tmp_path_factory.mktemp("frames")
    for i, f in enumerate(v.frames):
        PIL.fromarray(f).save(folder / f"{i:05d}.jpg", quality=95)
    frames = [np.asarray(PIL.open(folder / f"{i:05d}.jpg").convert("RGB")) for i in range(N_FRAMES)]
    return folder, frames, v


@pytest.fixture(scope="module")
def meta(tmp_path_factory):
    model = tiny_meta_sam2(seed=4, video=True, image_size=256)
    path = save_meta_sam2_checkpoint(model, tmp_path_factory.mktemp("sam2v") / "sam2.1_tiny_256.pt")
    return model, path


def _reference(model, folder, box, neg, mask):
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tqdm / CPU post-processing notices
        state = model.init_state(str(folder))
        model.add_new_points_or_box(state, frame_idx=0, obj_id=1, box=box, points=[neg], labels=[0])
        model.add_new_mask(state, frame_idx=0, obj_id=2, mask=mask)
        out = {}
        for f, ids, logits in model.propagate_in_video(state):
            out[f] = {int(i): (logits[k, 0] > 0).numpy() for k, i in enumerate(ids)}
    return out


def test_video_predictor_parity(meta, clip):
    model, path = meta
    folder, frames, v = clip
    box = v.masks_at(0).boxes[0]
    neg = [float(box[0]) + 2.0, float(box[1]) + 2.0]
    mask = v.masks[0, 1]
    ref = _reference(model, folder, box, neg, mask)
    init = [sc.Prompt(box=box, points=[neg], labels=[0])]
    ours = list(track(frames, init, tracker="sam2", engine=str(path), add={}))
    assert len(ours) == N_FRAMES
    # the mask-initialised object, added through the tracker directly
    from sam_compose.adapters.outputs.tracking.sam2_video import Sam2VideoTracker

    tr = Sam2VideoTracker(str(path))
    tr.add(init)
    tr.add(sc.Masks(mask[None]))
    steps = [tr.step(f) for f in frames]
    h, w = frames[0].shape[:2]
    for t in range(N_FRAMES):
        for res, objs in ((ours[t], (1,)), (steps[t], (1, 2))):
            got = dict(zip(res.ids.tolist(), res.masks)) if len(res) else {}
            for oid in objs:
                expected = ref[t][oid]
                mine = got.get(oid, np.zeros((h, w), bool))
                agree = float((mine == expected).mean())
                assert agree > 0.995, f"frame {t}, object {oid}: masks agree on {agree:.4f} of pixels"
    assert any(ref[t][2].any() for t in range(N_FRAMES))  # the comparison saw real masks


def test_engine_forms(meta, clip):
    """``engine=`` takes a spec or a loaded SAM 2 engine; the video model shares its weights."""
    _, path = meta
    _, frames, v = clip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        eng = sc.load_engine(str(path), device="cpu")
    from sam_compose.adapters.outputs.tracking.sam2_video import load_sam2_video

    video = load_sam2_video(eng)
    assert video is load_sam2_video(eng)  # built once per engine
    assert (
        video.vision_encoder.backbone.patch_embed.projection.weight.data_ptr()
        == eng.model.vision_encoder.backbone.patch_embed.projection.weight.data_ptr()
    )
    a = list(track(frames[:2], v.masks_at(0, [0]), tracker="sam2", engine=eng))
    b = list(track(frames[:2], v.masks_at(0, [0]), tracker="sam2", engine=str(path)))
    assert all(np.array_equal(x.masks, y.masks) for x, y in zip(a, b))
    with pytest.raises(InputError, match="needs a SAM 2 engine"):
        track(frames, v.masks_at(0, [0]), tracker="sam2", engine="opencv")
    with pytest.raises(InputError, match="needs a SAM 2 engine"):
        track(frames, v.masks_at(0, [0]), tracker="sam2", engine=sc.load_engine("opencv"))


def test_video_needs_the_memory_weights(meta, tmp_path):
    model, _ = meta
    sd = {k: v for k, v in model.state_dict().items() if k != "maskmem_tpos_enc"}
    torch.save({"model": sd}, tmp_path / "no_memory.pt")
    from sam_compose.adapters.outputs.tracking.sam2_video import Sam2VideoTracker

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        eng = sc.load_engine(str(tmp_path / "no_memory.pt"), device="cpu")  # images still work
        with pytest.raises(EngineError, match="maskmem_tpos_enc"):
            Sam2VideoTracker(eng)
    sd = {k: v for k, v in model.state_dict().items() if k != "memory_encoder.out_proj.weight"}
    torch.save({"model": sd}, tmp_path / "no_proj.pt")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(EngineError, match="memory_encoder.out_proj.weight"):
            Sam2VideoTracker(str(tmp_path / "no_proj.pt"))
