"""`sam-compose models list|download NAME|verify`, offline (no test touches the network)."""

from __future__ import annotations

import json

import pytest
from network_guard import count_connections

from sam_compose.cli import main
from sam_compose.engines.catalog import KNOWN_MODELS


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    """An empty Hugging Face cache, offline."""
    import huggingface_hub.constants as c

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(c, "HF_HUB_CACHE", str(tmp_path / "hub"))
    return tmp_path / "hub"


def _fake_cached(cache, repo_id: str, files: dict[str, bytes]) -> None:
    """Lay out a snapshot the way huggingface_hub does (refs/main -> snapshots/<rev>/...)."""
    folder = cache / ("models--" + repo_id.replace("/", "--"))
    snap = folder / "snapshots" / "abc123"
    snap.mkdir(parents=True)
    (folder / "refs").mkdir()
    (folder / "refs" / "main").write_text("abc123")
    for name, data in files.items():
        (snap / name).write_bytes(data)


def test_list_shows_every_known_model(empty_cache, capsys):
    assert main(["models", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == [m.name for m in KNOWN_MODELS]
    assert {
        "facebook/sam-vit-base",
        "facebook/sam2.1-hiera-tiny",
        "syscv-community/sam-hq-vit-base",
        "Zigeng/SlimSAM-uniform-77",
    } <= {r["repo_id"] for r in rows}
    assert not any(r["cached"] for r in rows)
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert "sam-vit-base" in out and "sam_vit_b_01ec64.pth" in out


def test_verify_reports_cached_and_broken_models(empty_cache, tmp_path, capsys):
    from tiny_models import save_tiny_pretrained

    good = save_tiny_pretrained(tmp_path / "good", family="sam")
    _fake_cached(
        empty_cache,
        "facebook/sam-vit-base",
        {
            "config.json": (good / "config.json").read_bytes(),
            "model.safetensors": (good / "model.safetensors").read_bytes(),
        },
    )
    _fake_cached(
        empty_cache,
        "facebook/sam2.1-hiera-tiny",
        {"config.json": (good / "config.json").read_bytes(), "model.safetensors": b"\0" * 20},
    )
    rc = main(["models", "verify", "--json"])
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["sam-vit-base"]["ok"] is True and rows["sam-vit-base"]["cached"]
    assert rows["sam2.1-hiera-tiny"]["ok"] is False and "corrupted" in rows["sam2.1-hiera-tiny"]["detail"]
    assert rows["sam-vit-large"]["cached"] is False
    assert rc == 1  # a broken model makes verify fail
    assert main(["models", "verify", "sam-vit-base"]) == 0
    # and the cached model now loads by its short name, offline
    import sam_compose as sc

    eng = sc.load_engine("sam-vit-base", device="cpu")
    assert type(eng).__name__ == "SamEngine"


def test_verify_on_empty_cache_says_what_to_do(empty_cache, capsys):
    assert main(["models", "verify"]) == 0
    assert "sam-compose models download sam-vit-base" in capsys.readouterr().out


def test_download_offline_is_a_clear_error_without_network(empty_cache, capsys, no_network):
    assert main(["models", "download", "sam-vit-base"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot download facebook/sam-vit-base: offline mode")
    assert len(err.strip().splitlines()) == 1
    assert no_network == []


def test_download_unknown_name(empty_cache, capsys):
    assert main(["models", "download", "not-a-model"]) == 2
    assert "unknown model 'not-a-model'; use one of: sam-vit-base" in capsys.readouterr().err


def test_download_when_hub_unreachable(empty_cache, monkeypatch, capsys):
    import socket

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    tried = count_connections(monkeypatch)
    assert main(["models", "download", "sam2.1-hiera-tiny"]) == 2
    err = capsys.readouterr().err
    assert "not reachable" in err and len(err.strip().splitlines()) == 1
    assert 1 <= len(tried) <= 2, tried  # one try, no retry loop
