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
import socket
import threading
from pathlib import Path
from typing import Any, Callable, Hashable, TypeVar

from ..errors import EngineError
from .catalog import find_known

HUB_HOST = "huggingface.co"
OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "SAM_COMPOSE_OFFLINE")

T = TypeVar("T")
_SHARED: dict[Hashable, Any] = {}
_SHARED_LOCK = threading.Lock()                 # guards the two dicts; never held while loading
_KEY_LOCKS: dict[Hashable, threading.Lock] = {}


def hub_offline() -> bool:
    """True when the user asked for offline mode (any of :data:`OFFLINE_VARIABLES` is 1/true/yes/on)."""
    return any(os.environ.get(var, "").strip().lower() in ("1", "true", "yes", "on") for var in OFFLINE_VARIABLES)


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
    """Whether a TCP connection to the hub opens within ``timeout`` seconds (DNS included)."""
    endpoint = os.environ.get("HF_ENDPOINT", f"https://{HUB_HOST}")
    host = endpoint.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
    result: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((host, 443), timeout=timeout):
                result.append(True)
        except OSError:
            result.append(False)

    t = threading.Thread(target=probe, daemon=True)
    t.start()
    t.join(timeout + 0.5)
    return bool(result and result[0])


def repo_id_for(spec: str) -> str:
    """A short name from the catalog -> its repository id; other ids unchanged."""
    known = find_known(spec)
    return known.repo_id if known is not None else spec


def download_hint(spec: str) -> str:
    """The command that puts ``spec`` on this machine: ``sam-compose models download NAME``."""
    known = find_known(spec)
    name = known.name if known is not None else spec
    return f"`sam-compose models download {name}`"


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
            raise EngineError(f"{path} is a folder but has no config.json; expected a folder written by "
                              "save_pretrained (config.json + model.safetensors)")
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


def cache_dir() -> str:
    try:
        from huggingface_hub import constants

        return str(constants.HF_HUB_CACHE)
    except Exception:  # pragma: no cover
        return "~/.cache/huggingface/hub"


def download(repo_id: str) -> str:
    """Download a repository snapshot (config, weights, processor files) with a progress bar."""
    from huggingface_hub import HfApi, snapshot_download

    try:
        files = HfApi().list_repo_files(repo_id)
        # safetensors when the repository has them; PyTorch .bin only as a fallback (SlimSAM)
        weights = ["*.safetensors"] if any(f.endswith(".safetensors") for f in files) else ["*.bin"]
        return snapshot_download(repo_id, allow_patterns=["*.json", "*.txt", "*.model", *weights])
    except Exception as exc:  # hub errors are many; one clear line
        raise EngineError(f"could not download {repo_id!r}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}") from exc


def read_config(folder: Path) -> dict[str, Any]:
    """The folder's ``config.json`` as a dict, with a clear error when unreadable."""
    try:
        return json.loads((Path(folder) / "config.json").read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise EngineError(f"could not read {folder}/config.json: {exc}") from exc


def check_weights(folder: Path) -> None:
    """Open every safetensors file's header so a corrupted download fails with a clear message."""
    files = sorted(Path(folder).glob("*.safetensors"))
    if not files and not (Path(folder) / "pytorch_model.bin").exists():
        raise EngineError(f"{folder} has no weights (model.safetensors); run {download_hint(str(folder))} "
                          "or save the model with save_pretrained")
    try:
        from safetensors import safe_open
    except ImportError:  # pragma: no cover
        return
    for f in files:
        try:
            with safe_open(str(f), framework="pt") as sf:
                names = list(sf.keys())
                if names:
                    sf.get_slice(names[-1])
        except Exception as exc:  # SafetensorError, OSError, ...
            raise EngineError(
                f"{f} is corrupted or truncated ({str(exc).splitlines()[0][:160]}); delete it and download "
                "again, e.g. `sam-compose models download NAME`"
            ) from exc
