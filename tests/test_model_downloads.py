"""Downloading models for real, from a local stand-in for the Hugging Face Hub (tests/hub_standin.py).

A tiny random SAM written by ``save_pretrained`` is served on 127.0.0.1 under the catalog's
id ``facebook/sam-vit-base``; ``HF_ENDPOINT`` points the download path at it. Checks:
progress is reported, an interrupted transfer resumes (the hub client asks for the missing
bytes), a corrupted file is refused and deleted, offline answers with one line at once, and
the downloaded model then loads by its short name with no network.
"""

from __future__ import annotations

import huggingface_hub  # noqa: F401  (the [sam] extra, in the test extras: a missing one is a failure)
import pytest
from hub_standin import HubStandIn, files_of
from network_guard import count_connections, refuse_network
from tiny_models import save_tiny_pretrained

import sam_compose as sc
from sam_compose.engines.downloads import download_model
from sam_compose.errors import EngineError

REPO = "facebook/sam-vit-base"


@pytest.fixture(scope="module")
def repo_files(tmp_path_factory):
    return files_of(save_tiny_pretrained(tmp_path_factory.mktemp("tiny") / "sam", family="sam"))


@pytest.fixture
def online(tmp_path, monkeypatch):
    """An empty cache, online: offline variables unset (conftest sets them for every other test)."""
    import huggingface_hub.constants as c

    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "SAM_COMPOSE_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(c, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(c, "HF_HUB_CACHE", str(tmp_path / "hub"))
    return tmp_path / "hub"


def test_download_reports_progress_resumes_and_loads(online, repo_files, monkeypatch):
    with HubStandIn({REPO: repo_files}) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        hub.interrupt.add("model.safetensors")
        seen = []
        folder = download_model(REPO, progress=seen.append)
        ranges = [r for m, p, r in hub.requests if m == "GET" and p.endswith("/model.safetensors")]
    total = sum(len(b) for n, b in repo_files.items() if n.endswith((".json", ".safetensors")))
    assert seen and seen[-1].done == seen[-1].total == total and seen[-1].fraction == 1.0
    assert [p.done for p in seen] == sorted(p.done for p in seen)  # monotone
    assert {p.file for p in seen} >= {"config.json", "model.safetensors"}
    # the transfer was cut 3/4 in; the client asked for the rest, not the whole file again
    assert len(ranges) == 2 and ranges[0] is None and str(ranges[1]).startswith("bytes="), ranges
    assert (folder / "model.safetensors").read_bytes() == repo_files["model.safetensors"]
    # now cached: loads by short name with the network gone (offline again)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    eng = sc.load_engine("sam-vit-base", device="cpu")
    assert (
        eng.name == "sam" and len(eng.segment(sc.load_image("sample:astronaut"), sc.Prompt(points=[[100, 100]]))) == 1
    )


def test_a_corrupted_file_is_refused_and_deleted(online, repo_files, monkeypatch):
    with HubStandIn({REPO: repo_files}) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        hub.corrupt.add("model.safetensors")
        with pytest.raises(EngineError, match="model.safetensors arrived corrupted"):
            download_model(REPO)
        assert not list(online.rglob("model.safetensors"))  # nothing corrupted left in the cache
        hub.corrupt.clear()
        folder = download_model(REPO)  # a new try downloads it anew
    assert (folder / "model.safetensors").read_bytes() == repo_files["model.safetensors"]


def test_offline_and_unreachable_answer_in_one_line_at_once(online, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.MonkeyPatch.context() as mp:
        refused = refuse_network(mp)
        with pytest.raises(EngineError, match="offline mode is on") as e:
            download_model(REPO)
    assert not refused and "\n" not in str(e.value)  # decided without trying the network
    assert "sam-compose models download sam-vit-base" in str(e.value)
    monkeypatch.delenv("HF_HUB_OFFLINE")
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    tried = count_connections(monkeypatch)
    with pytest.raises(EngineError, match="not reachable"):
        download_model(REPO)
    assert 1 <= len(tried) <= 2, tried  # one try (two addresses at most), no retry loop


def test_gated_and_missing_repositories(online, repo_files, monkeypatch):
    with HubStandIn({"facebook/sam3": repo_files}) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        hub.gated.add("facebook/sam3")
        with pytest.raises(EngineError, match="gated: accept its licence"):
            download_model("facebook/sam3")
        with pytest.raises(EngineError, match="not found"):
            download_model("someone/nothing")
