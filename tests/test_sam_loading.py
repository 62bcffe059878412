"""Loading SAM-family engines: folders, Meta checkpoints, bad inputs, offline behaviour, cache."""

from __future__ import annotations

import os
import pickle
import warnings

import numpy as np
import pytest
import torch
from tiny_models import save_tiny_pretrained, tiny_meta_sam

import sam_compose as sc
from sam_compose.engines.sam import meta_checkpoint
from sam_compose.errors import EngineError

skdata = pytest.importorskip("skimage.data")


@pytest.fixture(scope="module")
def meta_sd():
    return tiny_meta_sam(embed_dim=32, depth=2, heads=1, global_attn=(1,), seed=5).state_dict()


@pytest.fixture(scope="module")
def image():
    return np.ascontiguousarray(skdata.coffee()[::2, ::2])  # 200 x 300


@pytest.mark.parametrize("family,cls", [("sam", "SamEngine"), ("sam_hq", "SamHQEngine"), ("sam2", "Sam2Engine")])
def test_save_pretrained_folder_loads_and_segments(family, cls, tmp_path, image):
    folder = save_tiny_pretrained(tmp_path / family, family=family)
    eng = sc.load_engine(str(folder), device="cpu")
    assert type(eng).__name__ == cls and eng.describe()["family"] == family
    h, w = image.shape[:2]
    prompts = [
        sc.Prompt(points=[[50, 60]]),
        sc.Prompt(points=[[200, 100]]),
        sc.Prompt(box=[20, 20, 150, 180]),
        sc.Prompt(box=[20, 20, 150, 180], points=[[60, 70], [100, 90]], labels=[1, 0]),
    ]
    res = eng.segment(image, prompts, multimask=True)
    assert res.masks.shape == (12, h, w) and res.masks.dtype == bool
    assert res.logits.shape == (12, 256, 256) and res.scores.shape == (12,)
    assert res.prompt_index.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
    # feeding the low-res logits back as a prompt, alone and with points
    again = eng.segment(image, [sc.Prompt(mask=res.logits[0]), sc.Prompt(points=[[50, 60]], mask=res.logits[1])])
    assert len(again) == 2 and again.prompt_index.tolist() == [0, 1]
    auto = eng.generate(image, points_per_side=2, pred_iou_thresh=0.0, stability_score_thresh=0.0, box_nms_thresh=1.0)
    assert len(auto) == 12 and auto.masks.shape[1:] == (h, w)
    st = eng.stats
    assert st.embeddings_computed == 1 and st.embedding_cache_hits == 2  # one embedding per image
    assert st.prompts_decoded == 6


def test_embedding_nbytes_is_accurate(tmp_path, meta_sd, image):
    path = tmp_path / "tiny.pth"
    torch.save(meta_sd, str(path))
    eng = sc.load_engine(str(path), device="cpu")
    emb = eng.embed(image)
    tensors = [v for v in emb.features.values() if isinstance(v, torch.Tensor)]
    distinct = {t.untyped_storage().data_ptr(): t.untyped_storage().nbytes() for t in tensors}
    assert emb.nbytes == sum(distinct.values())
    assert emb.nbytes >= 256 * 64 * 64 * 4  # at least the (1, 256, 64, 64) float32 embedding
    assert eng.cache.nbytes == emb.nbytes
    # a budget smaller than one embedding disables caching: every call recomputes
    from sam_compose.engines.cache import EmbeddingCache

    small = sc.load_engine(str(path), device="cpu")
    small.cache = EmbeddingCache(max_bytes=emb.nbytes - 1)
    small.embed(image)
    small.embed(image)
    assert small.stats.embeddings_computed == 2


def test_meta_architecture_is_inferred(meta_sd):
    cfg = meta_checkpoint.infer_config(meta_sd)
    v = cfg["vision_config"]
    assert (v["hidden_size"], v["num_hidden_layers"], v["num_attention_heads"]) == (32, 2, 1)
    assert v["global_attn_indexes"] == [1] and v["window_size"] == 14 and v["mlp_dim"] == 128
    sd = tiny_meta_sam(embed_dim=48, depth=4, heads=3, global_attn=(0, 3), seed=1).state_dict()
    v = meta_checkpoint.infer_config(sd)["vision_config"]
    assert (v["hidden_size"], v["num_hidden_layers"], v["num_attention_heads"]) == (48, 4, 3)
    assert v["global_attn_indexes"] == [0, 3]


def test_checkpoint_with_missing_block_names_keys(tmp_path, meta_sd):
    sd = {k: v for k, v in meta_sd.items() if not k.startswith("image_encoder.blocks.0.")}
    path = tmp_path / "broken.pth"
    torch.save(sd, str(path))
    with pytest.raises(EngineError, match=r"missing keys for blocks \[0\]"):
        sc.load_engine(str(path), device="cpu")
    sd = {k: v for k, v in meta_sd.items() if k != "mask_decoder.iou_token.weight"}
    sd["mask_decoder.hf_token.weight"] = torch.zeros(1, 256)
    torch.save(sd, str(path))
    # an HQ token makes it a SAM-HQ checkpoint, one lacking the rest of the HQ decoder
    with pytest.raises(EngineError, match=r"SAM-HQ architecture.*missing keys \[mask_decoder.compress_vit_conv1"):
        sc.load_engine(str(path), device="cpu")


def test_checkpoint_named_for_another_variant_warns_and_loads(tmp_path, meta_sd, monkeypatch):
    # pretend width 32 is ViT-L's, then name the file like ViT-B: the tensors win, with a warning
    monkeypatch.setitem(meta_checkpoint._STANDARD, 32, "vit_l")
    path = tmp_path / "sam_vit_b_01ec64.pth"
    torch.save(meta_sd, str(path))
    with pytest.warns(UserWarning, match="named like vit_b but its tensors are a vit_l"):
        eng = sc.load_engine(str(path), device="cpu")
    assert eng.model.config.vision_config.hidden_size == 32


def test_not_a_sam_checkpoint(tmp_path):
    path = tmp_path / "resnet.pth"
    torch.save({"conv1.weight": torch.zeros(3, 3)}, str(path))
    with pytest.raises(EngineError, match="not a Segment Anything checkpoint: expected Meta.s SAM"):
        sc.load_engine(str(path), device="cpu")


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_pickled_code_is_refused(tmp_path):
    path = tmp_path / "evil.pth"
    with open(path, "wb") as f:
        pickle.dump({"model": _Evil()}, f)
    with pytest.raises(EngineError, match="refusing to load evil.pth: it contains pickled code"):
        sc.load_engine(str(path), device="cpu")
    path2 = tmp_path / "evil_torch.pth"
    torch.save({"x": torch.zeros(1), "f": _Evil()}, str(path2))
    with pytest.raises(EngineError, match="refusing to load"):
        sc.load_engine(str(path2), device="cpu")


def test_truncated_checkpoint(tmp_path, meta_sd):
    path = tmp_path / "trunc.pth"
    torch.save(meta_sd, str(path))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(EngineError, match="could not read checkpoint|refusing"):
        sc.load_engine(str(path), device="cpu")


def test_corrupted_safetensors_folder(tmp_path):
    folder = save_tiny_pretrained(tmp_path / "sam", family="sam")
    weights = folder / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 3])
    with pytest.raises(EngineError, match="corrupted or truncated"):
        sc.load_engine(str(folder), device="cpu")
    weights.write_bytes(b"\x00" * 64)
    with pytest.raises(EngineError, match="corrupted or truncated"):
        sc.load_engine(str(folder), device="cpu")


def test_folder_without_config(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(EngineError, match="no config.json"):
        sc.load_engine(str(tmp_path / "empty"), device="cpu")


def test_uncached_hub_id_offline_fails_without_touching_the_network(monkeypatch, no_network):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for spec in ("facebook/sam-vit-huge", "sam2.1-hiera-tiny", "someone/unknown-sam"):
        with pytest.raises(EngineError, match="sam-compose models download"):
            sc.load_engine(spec, device="cpu")
    assert no_network == []


def test_unknown_spec_lists_accepted_forms():
    with pytest.raises(EngineError, match="accepted: 'opencv'.*Hugging Face id.*\\.pth"):
        sc.load_engine("definitely not a model", device="cpu")
    with pytest.raises(EngineError, match="checkpoint file not found"):
        sc.load_engine("/nowhere/sam_vit_b_01ec64.pth", device="cpu")


def test_device_and_dtype_options(tmp_path, meta_sd, image):
    path = tmp_path / "tiny.pth"
    torch.save(meta_sd, str(path))
    with pytest.raises(EngineError, match="dtype must be one of"):
        sc.load_engine(str(path), device="cpu", dtype="int8")
    with pytest.raises(EngineError, match="float16 is not supported on CPU"):
        sc.load_engine(str(path), device="cpu", dtype="float16")
    if not torch.cuda.is_available():
        with pytest.raises(EngineError, match="CUDA is not available"):
            sc.load_engine(str(path), device="cuda")
    with pytest.raises(EngineError, match="unknown device|unsupported device"):
        sc.load_engine(str(path), device="toaster")
    f32 = sc.load_engine(str(path), device="cpu")
    bf16 = sc.load_engine(str(path), device="cpu", dtype="bfloat16")
    p = sc.Prompt(box=[30, 30, 250, 180])
    a, b = f32.segment(image, p), bf16.segment(image, p)
    assert b.logits.dtype == np.float32 and b.masks.shape == a.masks.shape
    assert (a.masks == b.masks).mean() > 0.9  # bfloat16 is close, not exact
    assert f32.key != bf16.key


def test_shared_engine_shares_the_cache(tmp_path, meta_sd, image):
    from sam_compose.engines.registry import clear_shared_engines

    path = tmp_path / "tiny.pth"
    torch.save(meta_sd, str(path))
    clear_shared_engines()
    a = sc.shared_engine(str(path), device="cpu")
    b = sc.shared_engine(str(path), device="cpu")
    assert a is b
    a.segment(image, sc.Prompt(points=[[10, 10]]))
    b.segment(image, sc.Prompt(points=[[20, 10]]))
    assert a.stats.embeddings_computed == 1 and a.stats.embedding_cache_hits == 1
    clear_shared_engines()


def test_generate_rejects_unknown_and_bad_params(tmp_path, meta_sd, image):
    path = tmp_path / "tiny.pth"
    torch.save(meta_sd, str(path))
    eng = sc.load_engine(str(path), device="cpu")
    with pytest.raises(sc.InputError if hasattr(sc, "InputError") else ValueError, match="accepted"):
        eng.generate(image, points_per_sid=8)
    with pytest.raises(ValueError, match="points_per_side must be >= 1"):
        eng.generate(image, points_per_side=0)
    assert set(eng.generate_params()) >= {"points_per_side", "pred_iou_thresh", "min_mask_region_area"}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        eng.generate(image, points_per_side=2, min_mask_region_area=50)


def test_concurrent_segments_share_one_embedding(tmp_path, meta_sd, image):
    from concurrent.futures import ThreadPoolExecutor

    path = tmp_path / "tiny.pth"
    torch.save(meta_sd, str(path))
    eng = sc.load_engine(str(path), device="cpu")
    pts = [[20 + 30 * i, 40 + 10 * i] for i in range(6)]
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(lambda p: eng.segment(image, sc.Prompt(points=[p])), pts))
    alone = [eng.segment(image, sc.Prompt(points=[p])) for p in pts]
    assert all(np.array_equal(a.masks, b.masks) for a, b in zip(results, alone))
    st = eng.stats
    assert st.embeddings_computed == 1 and st.embedding_cache_hits == 11


def test_shared_engine_loads_once_without_blocking_other_specs():
    import threading

    from sam_compose.engines.opencv import OpenCVEngine
    from sam_compose.engines.registry import register_engine

    loads = []
    release = threading.Event()

    def slow_factory(spec, device, dtype):
        loads.append(spec)
        release.wait(10)  # a model that takes a while to load
        return OpenCVEngine(spec=spec)

    register_engine("test-slow-load", slow_factory)
    got = []
    threads = [
        threading.Thread(target=lambda: got.append(sc.shared_engine("test-slow-load", device="cpu"))) for _ in range(3)
    ]
    for t in threads:
        t.start()
    assert sc.shared_engine("opencv") is sc.shared_engine("OpenCV")  # not held up by the load in progress
    assert not release.is_set()  # (it returned while the slow load was still blocked)
    release.set()
    for t in threads:
        t.join(10)
    assert len(loads) == 1 and len(got) == 3 and len({id(e) for e in got}) == 1
