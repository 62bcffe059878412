"""Engine protocol, embedding cache and registry (with the weight-free engine)."""

from __future__ import annotations

import threading
import time
import warnings

import numpy as np
import pytest
from cache_race import race_a_failure

import sam_compose as sc
from sam_compose.engines import registry
from sam_compose.engines.cache import EmbeddingCache
from sam_compose.types import ImageEmbedding


def _emb(nbytes: int, key: str = "k") -> ImageEmbedding:
    return ImageEmbedding(features=None, image_size=(8, 8), input_size=(8, 8), engine="e", image_key=key, nbytes=nbytes)


def test_cache_is_bounded_in_bytes_and_lru():
    cache = EmbeddingCache(max_bytes=100)
    for i in range(5):
        cache.put(("e", str(i)), _emb(40, str(i)))
    assert cache.nbytes <= 100 and len(cache) == 2
    assert cache.get(("e", "0")) is None and cache.get(("e", "4")) is not None
    cache.put(("e", "big"), _emb(1000))  # larger than the budget: not kept
    assert cache.get(("e", "big")) is None


def test_cache_computes_once_under_concurrency():
    cache = EmbeddingCache(max_bytes=10_000)
    calls = []

    def compute():
        calls.append(1)
        time.sleep(0.05)
        return _emb(10)

    results = []
    threads = [
        threading.Thread(target=lambda: results.append(cache.get_or_compute(("e", "x"), compute))) for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and sum(hit for _, hit in results) == 7


def test_one_embedding_per_image_however_many_prompts(scene):
    eng = sc.load_engine("opencv")
    for i in range(len(scene.masks)):
        eng.segment(scene.image, sc.Prompt(box=scene.boxes[i]))
    eng.segment(scene.image.copy(), [sc.Prompt(points=[scene.interior_point(0)])])
    st = eng.stats
    assert st.embeddings_computed == 1
    assert st.embedding_cache_hits == len(scene.masks)
    assert st.segment_calls == len(scene.masks) + 1
    other = scene.image.copy()
    other[0, 0] ^= 1
    eng.embed(other)
    assert eng.stats.embeddings_computed == 2


def test_segment_records_provenance_and_rows_per_prompt(scene):
    eng = sc.load_engine("opencv")
    prompts = [sc.Prompt(box=scene.boxes[0]), sc.Prompt(points=[scene.interior_point(1)])]
    res = eng.segment(scene.image, prompts)
    assert len(res) == 2 and res.prompt_index.tolist() == [0, 1]
    assert res.data["engine"] == "opencv" and res.prompts == prompts
    assert res.masks.shape == (2,) + scene.image.shape[:2] and res.logits.shape == (2, 256, 256)
    multi = eng.segment(scene.image, prompts, multimask=True)
    assert len(multi) == 6 and multi.prompt_index.tolist() == [0, 0, 0, 1, 1, 1]
    assert len(multi.best()) == 2


def test_generate_rejects_unknown_parameters(scene):
    eng = sc.load_engine("opencv")
    with pytest.raises(sc.InputError, match="does not take.*accepted"):
        eng.generate(scene.image, not_a_param=3)


def test_shared_engine_is_one_instance_per_key_across_threads():
    registry.clear_shared_engines()
    got = []
    threads = [threading.Thread(target=lambda: got.append(sc.shared_engine("opencv"))) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(e) for e in got}) == 1
    assert sc.shared_engine("opencv") is got[0]
    assert sc.load_engine("opencv") is not got[0]


def test_auto_falls_back_to_opencv_offline_and_warns_once(monkeypatch, tmp_path, no_network):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))  # an empty cache: no checkpoint anywhere
    monkeypatch.delenv("SAM_COMPOSE_CHECKPOINT", raising=False)
    monkeypatch.setattr(registry, "_AUTO_WARNED", False)
    import huggingface_hub.constants as hc

    monkeypatch.setattr(hc, "HF_HUB_CACHE", str(tmp_path))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        eng = sc.load_engine("auto")
        sc.load_engine("auto")
    assert no_network == []  # auto never waits for a hub
    assert eng.name == "opencv"
    msgs = [str(w.message) for w in caught if "opencv" in str(w.message)]
    assert len(msgs) == 1 and "models download" in msgs[0]


def test_auto_honours_missing_checkpoint_env(monkeypatch):
    monkeypatch.setenv("SAM_COMPOSE_CHECKPOINT", "/nonexistent/sam.pth")
    with pytest.raises(sc.EngineError, match="SAM_COMPOSE_CHECKPOINT"):
        sc.load_engine("auto")


@pytest.mark.parametrize("spec", ["bogus", "", "   ", "not a model name"])
def test_unknown_engine_lists_accepted_forms(spec):
    with pytest.raises(sc.EngineError, match="opencv"):
        sc.load_engine(spec)


def test_missing_checkpoint_file():
    with pytest.raises(sc.EngineError, match="not found"):
        sc.load_engine("/tmp/definitely_missing_sam.pth")


def test_image_as_float_in_unit_range_segments(scene):
    eng = sc.load_engine("opencv")
    res = eng.segment(scene.image.astype(np.float32) / 255.0, sc.Prompt(box=scene.boxes[0]))
    assert len(res) == 1


def test_cache_discard_frees_bytes():
    cache = EmbeddingCache(max_bytes=1000)
    cache.put(("e", "a"), _emb(100, "a"))
    assert cache.discard(("e", "a")) and cache.nbytes == 0 and len(cache) == 0
    assert not cache.discard(("e", "a"))


def test_resolve_engine_takes_a_spec_or_an_engine_and_nothing_else():
    import sam_compose as sc
    from sam_compose.engines.registry import normalize_device

    eng = sc.resolve_engine("opencv")
    assert eng is sc.shared_engine("opencv") and sc.resolve_engine(eng) is eng
    with pytest.raises(sc.EngineError, match="engine= must be an engine spec string .* got int"):
        sc.resolve_engine(3)
    assert normalize_device("cuda:0") == normalize_device("CUDA") == "cuda"
    assert normalize_device("cuda:1") == "cuda:1"


def test_one_mask_to_logits_and_the_old_name_warns():
    import numpy as np

    from sam_compose.adapters.prompts.masks import mask_to_logits as old
    from sam_compose.geometry import LOGIT_SCALE, logits_to_mask, mask_to_logits

    m = np.zeros((30, 50), bool)
    m[5:20, 10:40] = True
    lg = mask_to_logits(m)
    assert lg.shape == (256, 256) and lg.max() == LOGIT_SCALE and lg.min() == -LOGIT_SCALE
    assert (logits_to_mask(lg, m.shape) == m).mean() > 0.99
    assert np.array_equal(mask_to_logits((m * 255).astype(np.uint8)), lg)  # 0/255 masks
    with pytest.warns(DeprecationWarning, match="geometry.mask_to_logits"):
        assert np.array_equal(old(m, m.shape), lg)


def test_one_bounded_cache_computes_once_and_shares_a_failure():
    """Embeddings and graph results use one cache implementation: concurrent callers of a key
    wait for one computation, and when it fails they all get its error (nobody recomputes)."""
    from sam_compose.cache import BoundedCache
    from sam_compose.graph.cache import ResultCache

    assert issubclass(EmbeddingCache, BoundedCache) and issubclass(ResultCache, BoundedCache)
    cache: BoundedCache[str, bytes] = BoundedCache(max_bytes=10, size_of=len)
    assert race_a_failure(cache, waiters=3, message="node failed") == (1, ["node failed"] * 4)
    assert cache.get_or_compute("k", lambda: b"ok") == (b"ok", False)  # failures are not stored
    assert cache.get_or_compute("k", lambda: b"no") == (b"ok", True)
    cache.put("big", b"x" * 11)  # over the budget: not stored
    assert "big" not in cache and cache.nbytes == 2
