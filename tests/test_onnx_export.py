"""ONNX export of SAM v1 and the ``onnx:DIR`` engine, against our PyTorch engine on the same weights.

A tiny random SAM (Meta layout, random relative positions) is exported once per session
(``tiny_sam_onnx`` in conftest.py); every prompt type, multimask, automatic masks and
tracking are compared with the PyTorch engine loaded from the same ``.pth``; int8 and the
inputs to try (opencv, opsets, corrupt and truncated files, files of another model,
1,000 points) follow.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

import sam_compose as sc
from sam_compose.errors import EngineError, InputError

pytest.importorskip("onnxruntime")
skdata = pytest.importorskip("skimage.data")

IMAGES = {
    "landscape": lambda: skdata.chelsea(),  # 300 x 451
    "portrait": lambda: np.ascontiguousarray(skdata.astronaut()[:, 100:380]),  # 512 x 280
}


@pytest.fixture(scope="module")
def torch_engine(tiny_sam_onnx):
    return sc.load_engine(str(tiny_sam_onnx[0]), device="cpu")


@pytest.fixture(scope="module")
def onnx_engine(tiny_sam_onnx):
    return sc.load_engine(f"onnx:{tiny_sam_onnx[1]}")


def _prompts(h: int, w: int, prev: np.ndarray) -> list[sc.Prompt]:
    pts = np.array([[0.5 * w, 0.5 * h], [0.1 * w, 0.15 * h], [0.8 * w, 0.7 * h]])
    box = np.array([0.15 * w, 0.1 * h, 0.8 * w, 0.9 * h])
    return [
        sc.Prompt(points=pts[:1]),
        sc.Prompt(points=pts, labels=[1, 0, 1]),
        sc.Prompt(box=box),
        sc.Prompt(box=box, points=pts[1:2], labels=[0]),
        sc.Prompt(points=pts[:1], mask=prev),
        sc.Prompt(mask=prev),
        sc.Prompt(box=box, mask=prev),
    ]


def _agree(a: sc.Masks, b: sc.Masks, what: str, same_index: bool = True) -> float:
    assert a.masks.shape == b.masks.shape, what
    agree = float((a.masks == b.masks).mean())
    assert agree > 0.999, f"{what}: masks agree on only {agree:.5f} of pixels"
    assert np.abs(a.scores - b.scores).max() < 1e-3, f"{what}: scores {a.scores} vs {b.scores}"
    assert a.logits is not None and b.logits is not None, what
    span = float(a.logits.max() - a.logits.min())
    assert float(np.abs(a.logits - b.logits).max()) / span < 1e-3, what
    assert not same_index or np.array_equal(a.prompt_index, b.prompt_index)
    return agree


def test_manifest_describes_the_files(tiny_sam_onnx):
    import onnx

    ckpt, folder = tiny_sam_onnx
    data = json.loads((folder / "sam_onnx.json").read_text())
    assert data["format"] == "sam-compose-onnx" and data["model"]["id"] == ckpt.name
    assert data["model"]["family"] == "sam" and data["precision"] == "float32" and data["opset"] == 20
    dec = {t["name"]: t["shape"] for t in data["decoder"]["inputs"]}
    assert dec["point_coords"] == ["B", "N", 2] and dec["point_labels"] == ["B", "N"]
    assert dec["mask_input"] == ["B", 1, 256, 256] and dec["has_mask_input"] == ["B"]
    enc_out = {t["name"]: t["shape"] for t in data["encoder"]["outputs"]}
    assert dec["image_embeddings"] == enc_out["image_embeddings"] == [1, 256, 64, 64]
    assert [t["shape"] for t in data["decoder"]["outputs"]] == [["B", 4, 256, 256], ["B", 4]]
    assert data["preprocess"]["normalize"]["mean"] == pytest.approx([123.675, 116.28, 103.53])
    assert "padding_point" in data["prompts"] and data["postprocess"]["lowres_frame"] == "padded"
    for role in ("encoder", "decoder"):  # plain ONNX files that other tools read, stamped with the model
        model = onnx.load(str(folder / data[role]["file"]))
        onnx.checker.check_model(model)
        meta = {p.key: p.value for p in model.metadata_props}
        assert meta["sam_compose.role"] == role and meta["sam_compose.fingerprint"] == data["model"]["fingerprint"]


@pytest.mark.parametrize("kind", sorted(IMAGES))
def test_masks_match_the_pytorch_engine(kind, torch_engine, onnx_engine):
    image = IMAGES[kind]()
    h, w = image.shape[:2]
    first = torch_engine.segment(image, sc.Prompt(points=[[0.4 * w, 0.6 * h]]))
    prompts = _prompts(h, w, first.logits[0])
    for multimask in (False, True) if kind == "landscape" else (True,):
        ref = torch_engine.segment(image, prompts, multimask=multimask)
        got = onnx_engine.segment(image, prompts, multimask=multimask)
        assert len(got) == len(prompts) * (3 if multimask else 1)
        _agree(ref, got, f"{kind} multimask={multimask}")
    for i in (0, 2):  # one prompt per call decodes the same as in a batch
        _agree(
            onnx_engine.segment(image, prompts[i], multimask=True),
            got[got.prompt_index == i],
            f"{kind} prompt {i} alone",
            same_index=False,
        )
    assert got.data["engine"] == "onnx" and got.data["precision"] == "float32"


def test_embedding_is_computed_once_per_image(onnx_engine):
    image = IMAGES["landscape"]()
    onnx_engine.cache.clear()
    onnx_engine.reset_stats()
    for x in (50, 150, 250):
        onnx_engine.segment(image, sc.Prompt(points=[[x, 100]]))
    st = onnx_engine.stats
    assert st.embeddings_computed == 1 and st.embedding_cache_hits == 2
    emb = onnx_engine.embed(image)
    assert emb.features["image_embeddings"].shape == (1, 256, 64, 64) and emb.nbytes >= 4 * 256 * 64 * 64


def test_automatic_masks_match(torch_engine, onnx_engine):
    from sam_compose.geometry import pairwise_mask_iou

    image = np.ascontiguousarray(skdata.astronaut()[::4, ::4])
    kw = {"points_per_side": 4, "pred_iou_thresh": 0.0, "stability_score_thresh": 0.0, "box_nms_thresh": 1.0}
    ref = torch_engine.generate(image, **kw)
    got = onnx_engine.generate(image, **kw)
    assert len(ref) == len(got) == 48
    iou = pairwise_mask_iou(ref.masks, got.masks)
    assert float((iou.max(1) >= 0.99).mean()) == 1.0
    assert set(got.rows) == {"stability_score", "point_coords", "crop_box"}


def test_tracking_resegments_with_the_onnx_engine(torch_engine, onnx_engine):
    from sam_compose.adapters.outputs import track
    from sam_compose.adapters.outputs.tracking.synth import synthetic_video

    video = synthetic_video("motion", n_frames=6, size=(120, 160), seed=2)
    init = video.masks_at(0, [0])
    # accept every re-segmentation and never drop the object: the output is the engine's masks
    opts = {"accept_iou": 0.0, "lost_area_ratio": 0.0, "lost_score": 0.0, "min_area": 0, "reacquire": False}
    runs = {}
    for name, eng in (("torch", torch_engine), ("onnx", onnx_engine)):
        eng.reset_stats()
        runs[name] = [m.masks.copy() for m in track(video.frames, init, engine=eng, **opts)]
        assert eng.stats.prompts_decoded >= 5  # the engine re-segmented every frame
    assert len(runs["onnx"]) == len(runs["torch"]) == 6
    for a, b in zip(runs["torch"], runs["onnx"]):
        assert a.shape == b.shape == (1, 120, 160) and a.any()
        assert float((a == b).mean()) > 0.999


def test_a_thousand_points_in_one_prompt(torch_engine, onnx_engine):
    image = IMAGES["landscape"]()
    rng = np.random.default_rng(0)
    pts = rng.uniform([0, 0], [450, 299], size=(1000, 2))
    p = sc.Prompt(points=pts, labels=(rng.random(1000) > 0.3).astype(int))
    _agree(torch_engine.segment(image, p), onnx_engine.segment(image, p), "1000 points")


def test_int8_export_agrees_and_is_smaller(tiny_sam_onnx, torch_engine, tmp_path):
    from sam_compose.deploy import export_onnx

    m = export_onnx(f"onnx:{tiny_sam_onnx[1]}", tmp_path / "int8", quantize="int8")
    fp32 = json.loads((tiny_sam_onnx[1] / "sam_onnx.json").read_text())
    assert m.precision == "int8" and m.fingerprint == fp32["model"]["fingerprint"]
    assert m.encoder.bytes < fp32["encoder"]["bytes"]
    eng = sc.load_engine(f"onnx:{tmp_path / 'int8'}")
    image = IMAGES["landscape"]()
    h, w = image.shape[:2]
    prompts = [sc.Prompt(points=[[x * w, y * h]]) for x, y in ((0.3, 0.4), (0.6, 0.5), (0.5, 0.8))]
    prompts.append(sc.Prompt(box=[0.15 * w, 0.1 * h, 0.8 * w, 0.9 * h]))
    ref = torch_engine.segment(image, prompts, multimask=True)
    got = eng.segment(image, prompts, multimask=True)
    agree = float((ref.masks == got.masks).mean())
    print(
        f"int8 vs float32 PyTorch: masks agree on {agree:.4%} of pixels, "
        f"max score difference {np.abs(ref.scores - got.scores).max():.4f}"
    )
    assert agree > 0.98


# --- inputs to try ---------------------------------------------------------------------------------------------
def test_exporting_the_opencv_engine_says_why_not(tmp_path):
    from sam_compose.deploy import export_onnx

    with pytest.raises(InputError, match="opencv engine .* no neural network"):
        export_onnx("opencv", tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_cli_exports_and_refuses_bad_opsets(tiny_sam_onnx, tmp_path, capsys):
    from sam_compose.cli import main

    assert main(["export", "onnx", "opencv", "--out", str(tmp_path / "a")]) == 2
    assert "no neural network" in capsys.readouterr().err
    assert main(["export", "onnx", str(tiny_sam_onnx[0]), "--out", str(tmp_path / "b"), "--opset", "99"]) == 2
    assert "opset 99 is not supported by the installed onnxruntime" in capsys.readouterr().err
    assert main(["export", "onnx", str(tiny_sam_onnx[0]), "--out", str(tmp_path / "c"), "--opset", "9"]) == 2
    assert "too old" in capsys.readouterr().err
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "notes.txt").write_text("mine")  # files sam-compose did not write are left alone
    assert main(["export", "onnx", f"onnx:{tiny_sam_onnx[1]}", "--out", str(tmp_path / "d")]) == 0
    capsys.readouterr()
    assert (tmp_path / "d" / "notes.txt").read_text() == "mine" and (tmp_path / "d" / "decoder.onnx").is_file()
    # a copy of an export through the CLI: one JSON object on stdout
    assert main(["export", "onnx", f"onnx:{tiny_sam_onnx[1]}", "--out", str(tmp_path / "e")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["engine"] == f"onnx:{tmp_path / 'e'}" and out["precision"] == "float32"
    assert main(["export", "onnx", f"onnx:{tmp_path / 'e'}", "--out", str(tmp_path / "f"), "--opset", "18"]) == 2
    assert "keeps its opset" in capsys.readouterr().err
    assert main(["export", "onnx", f"onnx:{tmp_path / 'e'}", "--out", str(tmp_path / "e")]) == 2
    assert "must differ from the source" in capsys.readouterr().err


def _copy(src, dst):
    shutil.copytree(src, dst)
    return dst


def test_corrupt_and_truncated_files_are_refused(tiny_sam_onnx, tmp_path):
    folder = _copy(tiny_sam_onnx[1], tmp_path / "t")
    dec = folder / "decoder.onnx"
    data = dec.read_bytes()
    dec.write_bytes(data[: len(data) // 2])
    with pytest.raises(EngineError, match=r"decoder.onnx is truncated \(\d+ of \d+ bytes"):
        sc.load_engine(f"onnx:{folder}")
    dec.write_bytes((b"\x07garbage" * (len(data) // 8 + 1))[: len(data)])
    with pytest.raises(EngineError, match="corrupt or not an ONNX model"):
        sc.load_engine(f"onnx:{folder}")
    (folder / "sam_onnx.json").write_text("{not json")
    with pytest.raises(EngineError, match="could not read .*sam_onnx.json"):
        sc.load_engine(f"onnx:{folder}")
    with pytest.raises(EngineError, match="not a sam-compose ONNX export"):
        sc.load_engine(f"onnx:{tmp_path}")
    with pytest.raises(EngineError, match="folder not found"):
        sc.load_engine(f"onnx:{tmp_path / 'nowhere'}")


def test_an_opset_onnxruntime_does_not_support_is_refused_at_load(tiny_sam_onnx, tmp_path):
    import onnx

    folder = _copy(tiny_sam_onnx[1], tmp_path / "o")
    model = onnx.load(str(folder / "decoder.onnx"))
    for op in model.opset_import:
        if op.domain in ("", "ai.onnx"):
            op.version = 99
    onnx.save(model, str(folder / "decoder.onnx"))
    with pytest.raises(EngineError, match="opset 99, which onnxruntime .* does not support"):
        sc.load_engine(f"onnx:{folder}")


def test_a_decoder_from_another_model_is_refused(tiny_sam_onnx, tmp_path):
    import onnx

    folder = _copy(tiny_sam_onnx[1], tmp_path / "m")
    model = onnx.load(str(folder / "decoder.onnx"))
    for p in model.metadata_props:  # same architecture, other weights: what a copied-in file looks like
        if p.key == "sam_compose.fingerprint":
            p.value = "0123456789abcdef"
    onnx.save(model, str(folder / "decoder.onnx"))
    with pytest.raises(EngineError, match="comes from another model .* must come from one export"):
        sc.load_engine(f"onnx:{folder}")


def test_an_encoder_whose_outputs_do_not_fit_the_decoder_is_refused(tiny_sam_onnx, tmp_path):
    import onnx
    from onnx import TensorProto, helper

    folder = _copy(tiny_sam_onnx[1], tmp_path / "s")
    manifest = json.loads((folder / "sam_onnx.json").read_text())
    # an encoder with the right name and stamps but a 32 x 32 embedding (another architecture)
    node = helper.make_node("AveragePool", ["pixel_values"], ["pooled"], kernel_shape=[32, 32], strides=[32, 32])
    tile = helper.make_node("Tile", ["pooled", "reps"], ["image_embeddings"])
    reps = helper.make_tensor("reps", TensorProto.INT64, [4], [1, 86, 1, 1])
    graph = helper.make_graph(
        [node, tile],
        "enc",
        [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, [1, 3, 1024, 1024])],
        [helper.make_tensor_value_info("image_embeddings", TensorProto.FLOAT, [1, 258, 32, 32])],
        initializer=[reps],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    onnx.helper.set_model_props(model, {p.key: p.value for p in onnx.load(str(folder / "encoder.onnx")).metadata_props})
    onnx.save(model, str(folder / "encoder.onnx"))
    manifest["encoder"]["outputs"][0]["shape"] = [1, 258, 32, 32]
    manifest["encoder"]["bytes"] = (folder / "encoder.onnx").stat().st_size
    (folder / "sam_onnx.json").write_text(json.dumps(manifest))
    with pytest.raises(
        EngineError,
        match=r"encoder's image_embeddings is float32\[1, 258, 32, 32\] but the decoder "
        r"expects float32\[1, 256, 64, 64\]",
    ):
        sc.load_engine(f"onnx:{folder}")


def test_onnx_spec_forms(tiny_sam_onnx):
    with pytest.raises(EngineError, match="onnx: needs a folder"):
        sc.load_engine("onnx:")
    with pytest.raises(EngineError, match="precision is fixed by its files"):
        sc.load_engine(f"onnx:{tiny_sam_onnx[1]}", dtype="bfloat16")
    eng = sc.shared_engine(f"onnx:{tiny_sam_onnx[1]}")
    assert eng is sc.shared_engine(f"onnx:{tiny_sam_onnx[1]}") and eng.device == "cpu"
    assert sc.resolve_engine(f"onnx:{tiny_sam_onnx[1]}") is eng


def test_an_encoder_with_external_weights_loads_and_copies(tiny_sam_onnx, torch_engine, tmp_path):
    """ViT-H's encoder is over protobuf's 2 GB limit: its weights live in encoder.onnx.data."""
    import onnx

    from sam_compose.deploy import export_onnx

    folder = _copy(tiny_sam_onnx[1], tmp_path / "x")
    model = onnx.load(str(folder / "encoder.onnx"))
    onnx.save(
        model,
        str(folder / "encoder.onnx"),
        save_as_external_data=True,
        location="encoder.onnx.data",
        size_threshold=1024,
    )
    manifest = json.loads((folder / "sam_onnx.json").read_text())
    manifest["encoder"].update(bytes=(folder / "encoder.onnx").stat().st_size, data_file="encoder.onnx.data")
    (folder / "sam_onnx.json").write_text(json.dumps(manifest))
    assert (folder / "encoder.onnx").stat().st_size < (folder / "encoder.onnx.data").stat().st_size
    export_onnx(f"onnx:{folder}", tmp_path / "copy")  # the copy takes the .data file along
    image = IMAGES["landscape"]()
    p = sc.Prompt(points=[[200, 150]])
    _agree(torch_engine.segment(image, p), sc.load_engine(f"onnx:{tmp_path / 'copy'}").segment(image, p), "external")


def test_a_graph_runs_on_the_onnx_engine(tiny_sam_onnx, onnx_engine, tmp_path):
    from sam_compose import Graph

    g = Graph()
    img = g.load_image(path="sample:chelsea")
    box = g.box_prompt(boxes=[[60, 40, 300, 250]])
    seg = g.segment(image=img, prompts=box, engine=f"onnx:{tiny_sam_onnx[1]}")
    report = g.run(keep_values=True, out_dir=tmp_path)
    got = report.value(seg)
    ref = onnx_engine.segment(skdata.chelsea(), sc.Prompt(box=[60, 40, 300, 250]))
    assert got.data["engine"] == "onnx" and np.array_equal(got.masks, ref.masks)


def split_matches_the_whole_decoder(engine, seed: int = 0) -> None:
    """The engine's decoder split (image side once, prompt side per prompt) gives exactly what
    ``decoder.onnx`` gives with a zero mask input, for one and for three prompts."""
    split = engine.split
    assert split is not None and split.frontier, "the decoder was not split"
    rng = np.random.default_rng(seed)
    feeds = {
        i.name: rng.standard_normal([d if isinstance(d, int) else 1 for d in i.shape]).astype(np.float32)
        for i in engine.bundle.encoder.get_outputs()
    }
    frontier = dict(zip(split.frontier, split.image_session.run(None, {k: feeds[k] for k in split.image_inputs})))
    for b in (1, 3):
        pts = np.concatenate([rng.uniform(0, 1024, (b, 2, 2)), np.zeros((b, 1, 2))], 1).astype(np.float32)
        lab = np.tile(np.array([[1.0, 0.0, -1.0]], np.float32), (b, 1))
        whole = engine.bundle.decoder.run(
            None,
            dict(
                feeds,
                point_coords=pts,
                point_labels=lab,
                mask_input=np.zeros((b, 1, 256, 256), np.float32),
                has_mask_input=np.zeros(b, np.float32),
            ),
        )
        part = split.prompt_session.run(
            None, dict(frontier, point_coords=pts, point_labels=lab, **{k: feeds[k] for k in split.passthrough})
        )
        for w, p in zip(whole, part):
            assert w.shape == p.shape
            np.testing.assert_allclose(p, w, rtol=0, atol=1e-4 * float(np.abs(w).max()))


def test_the_split_decoder_matches_the_whole_decoder(onnx_engine):
    split_matches_the_whole_decoder(onnx_engine)
