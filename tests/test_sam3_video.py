"""SAM 3 video through transformers, on a tiny random SAM 3 folder built in the test.

``track(..., tracker="sam3")`` must give, frame by frame, what transformers' own streaming
loop gives for the same folder, frames and prompt: ``Sam3VideoModel`` +
``Sam3VideoProcessor.postprocess_outputs`` for text concepts, ``Sam3TrackerVideoModel`` +
``Sam3TrackerVideoProcessor`` for a box. Our sessions are pruned after every frame, so the
match also shows the pruning drops nothing the model reads; the footprint stays flat.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
T = pytest.importorskip("transformers")

from quiet_transformers import quiet_transformers  # noqa: F401  (autouse)
from tiny_models import save_tiny_sam3

import sam_compose as sc
from sam_compose.adapters.outputs import track
from sam_compose.adapters.outputs.tracking.synth import synthetic_video


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return save_tiny_sam3(tmp_path_factory.mktemp("sam3v") / "sam3-tiny", video=True, seed=2)


@pytest.fixture(scope="module")
def clip():
    return synthetic_video("cross", n_frames=3, size=(96, 128))


def _video_processor(folder, cls):
    from transformers.models.sam2_video.video_processing_sam2_video import Sam2VideoVideoProcessor

    ip = T.Sam3ImageProcessor.from_pretrained(str(folder))
    kw = {"tokenizer": T.AutoTokenizer.from_pretrained(str(folder))} if cls is T.Sam3VideoProcessor else {}
    return cls(image_processor=ip, video_processor=Sam2VideoVideoProcessor(size=dict(ip.size)), **kw)


def test_text_concepts_follow_transformers_streaming(folder, clip):
    ours = list(track(clip.frames, sc.Prompt(text="disc"), tracker="sam3", engine=str(folder)))
    model = T.Sam3VideoModel.from_pretrained(str(folder)).eval()
    proc = _video_processor(folder, T.Sam3VideoProcessor)
    sess = proc.init_video_session(inference_device="cpu")
    proc.add_text_prompt(sess, "disc")
    seen = 0
    for t, frame in enumerate(clip.frames):
        enc = proc(images=frame, return_tensors="pt")
        with torch.inference_mode():
            out = model(inference_session=sess, frame=enc.pixel_values[0])
            ref = proc.postprocess_outputs(sess, out, original_sizes=enc.original_sizes)
        assert ours[t].ids.tolist() == ref["object_ids"].tolist(), f"frame {t}"
        assert np.array_equal(ours[t].masks, ref["masks"].numpy()), f"frame {t}"
        np.testing.assert_allclose(ours[t].scores, ref["scores"].numpy(), atol=1e-5)
        assert set(ours[t].rows["text"]) <= {"disc"}
        seen += len(ours[t])
        mem = ours[t].data["memory"]
        assert mem["frames"] == 1
    assert seen > 0


def test_a_box_follows_the_sam3_tracker(folder, clip):
    box = clip.masks_at(0).boxes[0]
    ours = list(track(clip.frames, sc.Prompt(box=box), tracker="sam3", engine=str(folder)))
    km = {
        r"^detector_model\.vision_encoder\.backbone\.": "vision_encoder.backbone.",
        r"^tracker_neck\.": "vision_encoder.neck.",
    }
    model = T.Sam3TrackerVideoModel.from_pretrained(str(folder), key_mapping=km).eval()
    proc = _video_processor(folder, T.Sam3TrackerVideoProcessor)
    sess = proc.init_video_session(inference_device="cpu", video_storage_device="cpu")
    for t, frame in enumerate(clip.frames):
        enc = proc(images=frame, device="cpu", return_tensors="pt")
        if t == 0:
            proc.add_inputs_to_inference_session(
                inference_session=sess,
                frame_idx=0,
                obj_ids=1,
                input_boxes=[[[float(v) for v in box]]],
                original_size=enc.original_sizes[0],
            )
        with torch.inference_mode():
            out = model(inference_session=sess, frame=enc.pixel_values[0])
        ref = proc.post_process_masks([out.pred_masks], original_sizes=enc.original_sizes, binarize=True)[0][0, 0]
        assert ours[t].ids.tolist() == [1], f"frame {t}: {ours[t].data['lost']}"
        agree = float((ours[t].masks[0] == ref.numpy()).mean())
        assert agree > 0.995, f"frame {t}: masks agree on {agree:.4f}"


def test_memory_stays_flat_and_streams_do_not_mix(folder):
    from sam_compose.adapters.outputs.tracking.sam3_video import Sam3VideoTracker

    v = synthetic_video("cross", n_frames=5, size=(64, 64))
    tr = Sam3VideoTracker(str(folder))
    tr.add(sc.Prompt(text="disc"))
    objects, records = [], []
    for frame in v.frames:
        res = tr.step(frame)
        mem = res.data["memory"]
        assert mem["frames"] == 1
        objects.append(len(tr._inner._session.output_dict_per_obj))
        records.append(mem["frame_records"])
        per_object = max(
            (len(o["non_cond_frame_outputs"]) for o in tr._inner._session.output_dict_per_obj.values()), default=0
        )
        assert per_object <= tr._inner.keep_recent
    assert max(records) <= 2 * tr._inner.keep_meta
    with pytest.raises(sc.InputError, match="not both"):
        tr.add(sc.Prompt(box=[5, 5, 30, 30]))
        tr.step(v.frames[0])
    with pytest.raises(sc.InputError, match="needs a SAM 3 engine"):
        track(v.frames, sc.Prompt(text="disc"), tracker="sam3", engine="opencv")
