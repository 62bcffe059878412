"""How models reach this machine and memory: the one model-loading policy.

Every loader (SAM family, CLIP, zero-shot detectors, depth, diffusers, trackers) uses it:

* **offline** (:func:`hub_offline`): ``HF_HUB_OFFLINE``, ``TRANSFORMERS_OFFLINE`` or
  ``SAM_COMPOSE_OFFLINE`` set to 1/true/yes/on;
* **device** (:func:`default_device`, :func:`normalize_device`): ``None`` means cuda, then mps,
  then cpu, for every model; ``cuda:0`` is ``cuda``;
* **download hints** (:func:`download_hint`): always ``sam-compose models download NAME``;
* **loading once** (:func:`shared_model`): one instance per key, loaded under that key's own
  lock, so a slow load never blocks other models;
* **finding files**: local folders, the Hugging Face cache, and (when allowed) the hub.

Every decision here is quick when there is no network: the cache is consulted with
``local_files_only=True`` first; offline mode (or an unreachable hub, probed with a short
socket timeout) turns a missing model into an :class:`EngineError` naming
``sam-compose models download NAME`` instead of waiting out the hub client's retries.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any, TypeVar

from ..errors import EngineError
from .catalog import find_known
from .downloads import (  # noqa: F401  (the policy's names live here; the mechanics in downloads)
    OFFLINE_VARIABLES,
    cache_dir,
    check_weights,
    download_hint,
    download_model,
    endpoint_reachable,
    hub_endpoint,
    hub_offline,
)

HUB_HOST = "huggingface.co"

T = TypeVar("T")
_SHARED: dict[Hashable, Any] = {}
_SHARED_LOCK = threading.Lock()  # guards the two dicts; never held while loading
_KEY_LOCKS: dict[Hashable, threading.Lock] = {}


def default_device() -> str:
    """``cuda`` when available, then ``mps``, else ``cpu`` (without torch: ``cpu``)."""
    try:
        import torch
    except ImportError:
        return "cpu"
    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def normalize_device(device: str | None) -> str:
    """The canonical device name: ``None`` or ``""`` -> :func:`default_device`; ``cuda:0`` -> ``cuda``."""
    if device is None or not str(device).strip():
        return default_device()
    d = str(device).strip().lower()
    return "cuda" if d == "cuda:0" else d


def shared_model(key: Hashable, load: Callable[[], T]) -> T:
    """The one object for ``key``, made by ``load()`` on first use. Thread-safe: concurrent
    callers of one key wait for one load; other keys load in parallel. A failed load is not
    remembered (the next call tries again and raises its own error)."""
    with _SHARED_LOCK:
        if key in _SHARED:
            return _SHARED[key]
        lock = _KEY_LOCKS.setdefault(key, threading.Lock())
    with lock:
        with _SHARED_LOCK:
            if key in _SHARED:
                return _SHARED[key]
        value = load()
        with _SHARED_LOCK:
            _SHARED[key] = value
            _KEY_LOCKS.pop(key, None)
        return value


def forget_shared_models(prefix: str | None = None) -> None:
    """Drop shared models (all, or those whose key's first item is ``prefix``), e.g. to free memory."""
    with _SHARED_LOCK:
        for key in [k for k in _SHARED if prefix is None or (isinstance(k, tuple) and k and k[0] == prefix)]:
            del _SHARED[key]


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the hub (``HF_ENDPOINT``, default huggingface.co) accepts a TCP connection within ``timeout`` s."""
    return endpoint_reachable(hub_endpoint(), timeout)


def repo_id_for(spec: str) -> str:
    """A short name from the catalog -> its repository id; other ids unchanged."""
    known = find_known(spec)
    return known.repo_id if known is not None else spec


def cached_snapshot(repo_id: str) -> Path | None:
    """The local snapshot folder of ``repo_id`` if its config and weights are cached, else None."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover
        return None
    config = try_to_load_from_cache(repo_id, "config.json")
    if not isinstance(config, str):
        return None
    folder = Path(config).parent
    if any((folder / w).exists() for w in ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json")):
        return folder
    return None


def resolve_model_dir(spec: str, allow_download: bool | None = None) -> Path:
    """A local folder holding ``config.json`` and weights for ``spec``.

    ``spec`` is a folder, a repository id or a catalog short name. Downloads only when
    ``allow_download`` (default: not offline and the hub answers within seconds).
    """
    path = Path(os.path.expanduser(spec))
    if path.is_dir():
        if not (path / "config.json").exists():
            raise EngineError(
                f"{path} is a folder but has no config.json; expected a folder written by "
                "save_pretrained (config.json + model.safetensors)"
            )
        return path
    repo = repo_id_for(spec)
    found = cached_snapshot(repo)
    if found is not None:
        return found
    if allow_download is None:
        allow_download = not hub_offline() and hub_reachable()
    if not allow_download:
        why = "offline mode (HF_HUB_OFFLINE=1)" if hub_offline() else "the Hugging Face hub is not reachable"
        raise EngineError(
            f"model {repo!r} is not in the local cache and {why}; on a machine with internet run "
            f"{download_hint(spec)} (it fills the cache at {cache_dir()}), or pass a local folder"
        )
    return Path(download(repo))


def download(repo_id: str, progress: Any = None) -> str:
    """Download a repository snapshot (config, weights, processor files); see :mod:`.downloads`.

    ``progress``: ``callback(DownloadProgress)``; by default a tqdm bar on stderr.
    """
    bar = None
    if progress is None:
        from tqdm.auto import tqdm

        state: dict[str, Any] = {}

        def progress(p: Any) -> None:
            nonlocal bar
            if bar is None:
                bar = tqdm(total=p.total, unit="B", unit_scale=True, desc=repo_id)
            bar.update(p.done - state.get("done", 0))
            state["done"] = p.done

    try:
        return str(download_model(repo_id, progress=progress))
    finally:
        if bar is not None:
            bar.close()


def read_config(folder: Path) -> dict[str, Any]:
    """The folder's ``config.json`` as a dict, with a clear error when unreadable."""
    try:
        return json.loads((Path(folder) / "config.json").read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise EngineError(f"could not read {folder}/config.json: {exc}") from exc
