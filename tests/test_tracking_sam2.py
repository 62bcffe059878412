"""SAM 2 video tracking through transformers, on a tiny randomly initialised Sam2VideoModel.

Random weights say nothing about quality, so these tests check the plumbing: geometry of
inputs and outputs, stable ids, objects added / corrected / removed mid-stream, lost and
re-acquired reports driven by the object-score head, and a memory bank that stays bounded.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from sam_compose import EngineError, InputError, Masks, Prompt
from sam_compose.adapters.outputs import track
from sam_compose.adapters.outputs.tracking.sam2_video import Sam2VideoTracker
from sam_compose.adapters.outputs.tracking.synth import disc_mask_at, synthetic_stream, synthetic_video
from sam_compose.geometry import mask_iou


def tiny_sam2_video_config(size: int = 64):
    """The smallest Sam2VideoConfig whose shapes line up (hidden 128 > memory 64, as in SAM 2)."""
    from transformers import Sam2VideoConfig

    s = size
    return Sam2VideoConfig(
        vision_config=dict(
            model_type="sam2_vision_model",
            backbone_config=dict(
                model_type="sam2_hiera_det_model",
                hidden_size=8,
                image_size=[s, s],
                blocks_per_stage=[1, 1, 2, 1],
                embed_dim_per_stage=[8, 16, 32, 64],
                num_attention_heads_per_stage=[1, 1, 1, 1],
                window_size_per_stage=[4, 2, 2, 1],
                global_attention_blocks=[3],
                window_positional_embedding_background_size=[2, 2],
            ),
            backbone_channel_list=[64, 32, 16, 8],
            backbone_feature_sizes=[[s // 4] * 2, [s // 8] * 2, [s // 16] * 2],
            fpn_hidden_size=128,
        ),
        prompt_encoder_config=dict(hidden_size=128, image_size=s, patch_size=16, mask_input_channels=4),
        mask_decoder_config=dict(hidden_size=128, mlp_dim=32, num_attention_heads=2, iou_head_hidden_dim=16),
        image_size=s,
        num_maskmem=3,
        max_object_pointers_in_encoder=4,
        memory_attention_hidden_size=128,
        memory_attention_num_layers=1,
        memory_attention_feed_forward_hidden_size=32,
        memory_attention_rope_feat_sizes=[s // 16, s // 16],
        memory_encoder_hidden_size=128,
        memory_encoder_output_channels=64,
        mask_downsampler_embed_dim=128,
        memory_fuser_embed_dim=128,
        memory_fuser_intermediate_dim=32,
        memory_fuser_num_layers=1,
    )


@pytest.fixture(scope="module")
def model():
    from transformers import Sam2VideoModel

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: threads only contend on a shared CPU
    torch.manual_seed(0)
    yield Sam2VideoModel(tiny_sam2_video_config()).eval()
    torch.set_num_threads(threads)


def test_mask_init_round_trips_through_the_model_frame(model):
    """A mask input comes back as the output on its frame: checks resize in and out (non-square frame)."""
    v = synthetic_video("cross", n_frames=3, size=(60, 90))
    tr = Sam2VideoTracker(model, keep_logits=True)
    assert tr.add(v.masks_at(0)) == [1, 2]
    res = tr.step(v.frames[0])
    assert res.ids.tolist() == [1, 2]
    assert res.masks.shape == (2, 60, 90)
    for i in range(2):
        assert mask_iou(res.masks[i], v.masks[0, i]) >= 0.8
    assert res.logits.shape == (2, 256, 256)
    assert res.data["tracker"] == "sam2" and res.data["frame"] == 0


def test_stream_with_adds_corrections_removal_and_bounded_memory(model):
    size = (64, 64)
    tr = Sam2VideoTracker(model, max_cond_frames=2)
    tr.add(Masks(disc_mask_at(0, size)))
    keep = tr.keep_recent
    seen: list[set[int]] = []
    for i, frame in enumerate(synthetic_stream(40, size)):
        if i == 5:
            assert tr.add(Prompt(box=[4, 4, 30, 30], points=[[16, 16]], labels=[1])) == [2]
        if i in (10, 15, 20, 25):
            tr.correct(1, Prompt(points=[[32, 32], [5, 60]], labels=[1, 0]))
        if i == 30:
            tr.remove(2)
        res = tr.step(frame)
        present = set(res.ids.tolist()) | set(res.data["lost"])
        seen.append(present)
        n_obj = 1 if (i < 5 or i >= 30) else 2
        assert present == set(range(1, n_obj + 1)), (i, present)
        mem = res.data["memory"]
        assert mem["frames"] == 1
        assert mem["memories"] <= keep * n_obj
        assert mem["cond_frames"] <= 2 * n_obj
    sess = tr._session
    assert max(len(o["non_cond_frame_outputs"]) for o in sess.output_dict_per_obj.values()) <= keep
    assert all(len(v) <= 1 for v in sess.point_inputs_per_obj.values())


def test_lost_and_reacquired_follow_the_object_score(model):
    import copy

    m = copy.deepcopy(model)
    head = m.mask_decoder.pred_obj_score_head.proj_out
    size = (64, 64)
    frames = list(synthetic_stream(8, size))
    tr = Sam2VideoTracker(m)
    tr.add(Masks(disc_mask_at(0, size)))
    with torch.no_grad():
        head.weight.zero_()
        head.bias.fill_(-30.0)
    r0 = tr.step(frames[0])  # a mask input decides presence on its own frame
    assert r0.ids.tolist() == [1] and r0.data["lost"] == []
    r1 = tr.step(frames[1])
    assert len(r1) == 0 and r1.data["lost"] == [1] and r1.data["lost_reasons"] == {1: "not_visible"}
    with torch.no_grad():
        head.bias.fill_(30.0)
    r2 = tr.step(frames[2])
    assert r2.data["lost"] == [] and r2.data["reacquired"] == [1]


def test_track_function_and_loading(model, tmp_path):
    v = synthetic_video("late", n_frames=6, size=(64, 64))
    results = list(
        track(v.frames, v.masks_at(0, [0]), tracker="sam2", engine=model, add={3: Prompt(box=[30, 30, 60, 60])})
    )
    assert len(results) == 6
    assert all((set(r.ids.tolist()) | set(r.data["lost"])) == ({1} if t < 3 else {1, 2}) for t, r in enumerate(results))
    model.save_pretrained(tmp_path / "tiny-sam2")
    loaded = Sam2VideoTracker(str(tmp_path / "tiny-sam2"))
    assert loaded.input_size == 64
    with pytest.raises(InputError, match="needs a SAM 2 engine"):
        track(v.frames, v.masks_at(0, [0]), tracker="sam2")
    with pytest.raises(EngineError, match="models download"):
        Sam2VideoTracker("facebook/sam2.1-hiera-tiny")


def test_flow_tracker_with_a_sam_engine_falls_back_then_reports_low_score(tmp_path):
    """The flow tracker drives any engine. A random SAM disagrees with the flow: the carried
    masks stand (tracking stays right) with a low score, and after ``patience`` frames of
    disagreement the objects are reported lost ("low_score"). No frame's embedding stays cached."""
    from tiny_models import tiny_meta_sam

    from sam_compose import load_engine
    from sam_compose.adapters.outputs.tracking.flow import FlowTracker

    sam = tiny_meta_sam(embed_dim=32, depth=2, heads=2, global_attn=(1,), seed=0, randomize_positions=False)
    torch.save(sam.state_dict(), tmp_path / "sam_vit_tiny.pth")
    eng = load_engine(str(tmp_path / "sam_vit_tiny.pth"), device="cpu")
    v = synthetic_video("cross", n_frames=30)
    tr = FlowTracker(engine=eng, patience=3, lost_score=0.55)
    assert tr.refine_with == "box+points+mask"
    tr.add(v.masks_at(0))
    for t in range(3):
        res = tr.step(v.frames[t])
        assert res.ids.tolist() == [1, 2]
        for i in range(2):
            assert mask_iou(res.masks[i], v.masks[t, i]) >= 0.85
        if t:
            assert (res.scores < 0.55).all()
    res = tr.step(v.frames[3])
    assert res.data["lost"] == [1, 2] and set(res.data["lost_reasons"].values()) == {"low_score"}
    assert eng.stats.prompts_decoded == 6  # both objects, on frames 1 to 3
    assert len(eng.cache) == 0


def test_preprocessing_agrees_with_the_transformers_video_processor(model):
    from transformers.models.sam2_video.video_processing_sam2_video import Sam2VideoVideoProcessor

    v = synthetic_video("photo", n_frames=2)
    ref = Sam2VideoVideoProcessor(size={"height": 64, "width": 64})(videos=[v.frames], return_tensors="pt")
    ours = Sam2VideoTracker(model)._pixels(v.frames[1])[0].numpy()
    diff = abs(ours - ref.pixel_values_videos[0, 1].numpy())
    assert ours.shape == (3, 64, 64)
    assert diff.mean() < 0.05  # same channel order, scale and normalisation; resampling differs slightly
