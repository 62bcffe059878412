"""EdgeTAM (the fast SAM 2-style model) through transformers, on a tiny random EdgeTAM built in the test.

Image mode (``sc.load_engine(folder)``) must equal ``EdgeTamModel`` + ``Sam2Processor`` +
``post_process_masks``; ``track(..., tracker="edgetam")`` must equal transformers' own
``EdgeTamVideoModel`` streaming loop fed the same frames and box (our sessions are pruned
after every frame, so this also shows the pruning drops nothing the model reads).
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
T = pytest.importorskip("transformers")
pytest.importorskip("timm")
skdata = pytest.importorskip("skimage.data")

from predictor_cases import assert_matches_transformers
from quiet_transformers import quiet_transformers  # noqa: F401  (autouse)
from tiny_models import EDGETAM_SIZE, save_tiny_edgetam

import sam_compose as sc
from sam_compose.adapters.outputs import track
from sam_compose.adapters.outputs.tracking.synth import synthetic_video


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return save_tiny_edgetam(tmp_path_factory.mktemp("edgetam") / "edgetam-tiny", seed=3)


def test_image_mode_matches_transformers(folder):
    eng = sc.load_engine(str(folder), device="cpu")
    assert eng.family == "edgetam" and eng.input_size == EDGETAM_SIZE
    model = T.EdgeTamModel.from_pretrained(str(folder)).eval()
    proc = T.Sam2Processor(T.Sam2ImageProcessor(size={"height": EDGETAM_SIZE, "width": EDGETAM_SIZE}))
    image = skdata.chelsea()
    assert_matches_transformers(eng, model, proc, image, score_atol=2e-3, min_agree=0.995)


def test_video_matches_transformers_streaming(folder):
    from sam_compose.adapters.outputs.tracking.sam2_video import sam2_frame_pixels

    v = synthetic_video("cross", n_frames=3, size=(96, 128))
    box = v.masks_at(0).boxes[0]
    ours = list(track(v.frames, sc.Prompt(box=box), tracker="edgetam", engine=str(folder)))
    model = T.EdgeTamVideoModel.from_pretrained(str(folder)).eval()
    proc = T.Sam2VideoProcessor(
        T.Sam2ImageProcessor(size={"height": EDGETAM_SIZE, "width": EDGETAM_SIZE}),
        T.Sam2VideoVideoProcessor(size={"height": EDGETAM_SIZE, "width": EDGETAM_SIZE}),
    )
    sess = proc.init_video_session(inference_device="cpu", video_storage_device="cpu")
    h, w = v.size
    for t, frame in enumerate(v.frames):
        if t == 0:
            proc.add_inputs_to_inference_session(
                inference_session=sess,
                frame_idx=0,
                obj_ids=1,
                input_boxes=[[[float(x) for x in box]]],
                original_size=[h, w],
            )
        with torch.inference_mode():
            out = model(inference_session=sess, frame=sam2_frame_pixels(frame, EDGETAM_SIZE)[0])  # our pixels
        ref = proc.post_process_masks([out.pred_masks], original_sizes=[[h, w]], binarize=True)[0][0, 0].numpy()
        assert ours[t].ids.tolist() == [1], f"frame {t}"
        agree = float((ours[t].masks[0] == ref).mean())
        assert agree > 0.995, f"frame {t}: masks agree on {agree:.4f}"
    with pytest.raises(sc.InputError, match="needs an EdgeTAM engine"):
        track(v.frames, sc.Prompt(box=box), tracker="edgetam", engine="opencv")
