"""Downloading a model repository into the Hugging Face cache, with progress, resume and checks.

:func:`download_model` is what ``sam-compose models download NAME`` and the demo's engine
picker call:

* **offline first**: with ``HF_HUB_OFFLINE`` (or ``TRANSFORMERS_OFFLINE`` /
  ``SAM_COMPOSE_OFFLINE``) set, or when the hub (``HF_ENDPOINT``, default huggingface.co)
  does not accept a connection within :data:`PROBE_SECONDS`, it fails at once with one line
  saying what to do, instead of waiting out the hub client's retries;
* **progress**: the file list (with sizes) comes first, then each file is fetched by
  ``huggingface_hub.hf_hub_download``; ``progress(DownloadProgress)`` hears about every chunk
  (bytes done of the repository's total, and which file);
* **resume**: an interrupted transfer continues from where it stopped (the hub client asks
  for the missing byte range; a partial file left by a killed process is picked up by the
  next call);
* **checks**: every file is hashed against the name the hub gave it (SHA-256 for large
  files, the git blob SHA-1 for small ones) and safetensors headers are opened; a corrupted
  file is deleted and refused with an :class:`EngineError`.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import os
import re
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import EngineError
from .catalog import find_known

OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "SAM_COMPOSE_OFFLINE")
PROBE_SECONDS = 1.0
"""How long the reachability probe waits for the hub to accept a connection."""
WEIGHT_PATTERNS = ("*.safetensors",)
FALLBACK_WEIGHTS = ("*.bin",)
OTHER_PATTERNS = ("*.json", "*.txt", "*.model")
_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


@dataclass(frozen=True)
class DownloadProgress:
    """Where a download stands: ``done`` of ``total`` bytes, ``file`` being fetched."""

    repo_id: str
    done: int
    total: int
    file: str
    files_done: int
    files_total: int

    @property
    def fraction(self) -> float:
        return 1.0 if self.total <= 0 else min(1.0, self.done / self.total)


ProgressFn = Callable[[DownloadProgress], None]


def hub_offline() -> bool:
    """True when the user asked for offline mode (any of :data:`OFFLINE_VARIABLES` is 1/true/yes/on)."""
    return any(os.environ.get(var, "").strip().lower() in ("1", "true", "yes", "on") for var in OFFLINE_VARIABLES)


def download_hint(spec: str) -> str:
    """The command that puts ``spec`` on this machine: ``sam-compose models download NAME``."""
    known = find_known(spec)
    name = known.name if known is not None else spec
    return f"`sam-compose models download {name}`"


def cache_dir() -> str:
    try:
        from huggingface_hub import constants

        return str(constants.HF_HUB_CACHE)
    except Exception:  # pragma: no cover
        return "~/.cache/huggingface/hub"


def check_weights(folder: Path) -> None:
    """Open every safetensors file's header so a corrupted download fails with a clear message."""
    files = sorted(Path(folder).glob("*.safetensors"))
    if not files and not (Path(folder) / "pytorch_model.bin").exists():
        raise EngineError(
            f"{folder} has no weights (model.safetensors); run {download_hint(str(folder))} "
            "or save the model with save_pretrained"
        )
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


def hub_endpoint() -> str:
    """The hub's base URL: ``HF_ENDPOINT`` when set, else huggingface.co."""
    env = os.environ.get("HF_ENDPOINT", "").strip()
    return (env or "https://huggingface.co").rstrip("/")


def endpoint_reachable(endpoint: str, timeout: float = PROBE_SECONDS) -> bool:
    """Whether ``endpoint``'s host accepts a TCP connection within ``timeout`` seconds (DNS included)."""
    scheme, _, rest = endpoint.partition("://")
    hostport = rest.split("/", 1)[0]
    host, _, port = hostport.rpartition(":") if re.search(r":\d+$", hostport) else (hostport, "", "")
    port_n = int(port) if port else (80 if scheme == "http" else 443)
    result: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((host.strip("[]"), port_n), timeout=timeout):
                result.append(True)
        except OSError:
            result.append(False)

    t = threading.Thread(target=probe, daemon=True)
    t.start()
    t.join(timeout + 0.2)
    return bool(result and result[0])


def offline_reason(endpoint: str | None = None) -> str | None:
    """Why nothing can be downloaded now (one phrase), or None when the hub can be reached."""
    if hub_offline():
        return "offline mode is on (HF_HUB_OFFLINE=1)"
    endpoint = endpoint or hub_endpoint()
    if not endpoint_reachable(endpoint):
        return f"the hub at {endpoint} is not reachable from this machine"
    return None


def _pick_files(files: dict[str, Any]) -> list[str]:
    names = list(files)
    has_st = any(fnmatch.fnmatch(n, p) for n in names for p in WEIGHT_PATTERNS)
    patterns = OTHER_PATTERNS + (WEIGHT_PATTERNS if has_st else FALLBACK_WEIGHTS)
    return sorted(n for n in names if any(fnmatch.fnmatch(n, p) for p in patterns))


def _file_hash_ok(path: Path) -> bool | None:
    """Whether the cached blob behind ``path`` hashes to its name (None when the name is no hash)."""
    blob = Path(os.path.realpath(path))
    name = blob.name
    if re.fullmatch(r"[0-9a-f]{64}", name):
        h = hashlib.sha256()
    elif re.fullmatch(r"[0-9a-f]{40}", name):
        h = hashlib.sha1()
        h.update(f"blob {blob.stat().st_size}\0".encode())
    else:
        return None
    with open(blob, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest() == name


def _refuse(path: Path, repo_id: str, name: str) -> EngineError:
    blob = Path(os.path.realpath(path))
    for p in (path, blob):
        with contextlib.suppress(OSError):
            p.unlink()
    return EngineError(
        f"{repo_id}/{name} arrived corrupted (its checksum does not match the hub's); the file was "
        "deleted: run the download again"
    )


class _Bar:
    """A stand-in for tqdm that reports bytes to :class:`_Tracker` (huggingface_hub calls it like tqdm)."""

    tracker: _Tracker

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        initial = int(kwargs.get("initial") or 0)
        if initial:
            self.tracker.add(initial)

    def update(self, n: float | None = 1) -> None:
        self.tracker.add(int(n or 0))

    def update_transfer(self, n: float | None = 1) -> None:
        pass

    def set_postfix_str(self, *args: Any, **kwargs: Any) -> None:
        pass

    set_transfer_postfix_str = set_postfix_str

    def refresh(self, *args: Any, **kwargs: Any) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> _Bar:
        return self

    def __exit__(self, *exc: Any) -> None:
        pass


class _Tracker:
    def __init__(self, repo_id: str, total: int, n_files: int, progress: ProgressFn | None) -> None:
        self.repo_id, self.total, self.n_files, self.progress = repo_id, total, n_files, progress
        self.done = 0
        self.file = ""
        self.files_done = 0
        self.lock = threading.Lock()

    def add(self, n: int) -> None:
        with self.lock:
            self.done += n
            snap = DownloadProgress(self.repo_id, self.done, self.total, self.file, self.files_done, self.n_files)
        if self.progress is not None:
            self.progress(snap)


def _repo_lock(repo_id: str) -> threading.Lock:
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(repo_id, threading.Lock())


def download_model(repo_id: str, progress: ProgressFn | None = None, endpoint: str | None = None) -> Path:
    """Download ``repo_id``'s config, processor files and weights into the cache; return the snapshot folder.

    Raises :class:`EngineError` (one line) when offline, unreachable, gated, missing, or when a
    file arrives corrupted (it is deleted; calling again downloads it anew).
    """
    endpoint = (endpoint or hub_endpoint()).rstrip("/")
    why = offline_reason(endpoint)
    if why is not None:
        raise EngineError(
            f"cannot download {repo_id}: {why}; on a machine with internet run "
            f"{download_hint(repo_id)} and copy {cache_dir()} here"
        )
    from huggingface_hub import HfApi, hf_hub_download
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError

    with _repo_lock(repo_id):
        try:
            tree = {
                f.path: f
                for f in HfApi(endpoint=endpoint).list_repo_tree(repo_id, recursive=True)
                if hasattr(f, "size")
            }
        except GatedRepoError as exc:
            raise EngineError(
                f"{repo_id} is gated: accept its licence at {endpoint}/{repo_id} and log in "
                "(`hf auth login`), then download again"
            ) from exc
        except RepositoryNotFoundError as exc:
            raise EngineError(f"{repo_id} was not found on {endpoint} (or it is private: log in first)") from exc
        except (HfHubHTTPError, OSError) as exc:
            raise EngineError(f"could not list {repo_id} on {endpoint}: {str(exc).splitlines()[0][:160]}") from exc
        names = _pick_files(tree)
        if not names:
            raise EngineError(f"{repo_id} holds no model files (config.json, *.safetensors) on {endpoint}")
        tracker = _Tracker(repo_id, sum(int(tree[n].size or 0) for n in names), len(names), progress)
        bar = type("_RepoBar", (_Bar,), {"tracker": tracker})
        folder = Path()
        for name in names:
            tracker.file = name
            try:
                path = Path(hf_hub_download(repo_id, name, endpoint=endpoint, tqdm_class=bar))
            except Exception as exc:  # network and hub errors are many; one clear line
                raise EngineError(
                    f"downloading {repo_id}/{name} failed: {type(exc).__name__}: "
                    f"{str(exc).splitlines()[0][:160]}; run the download again to resume"
                ) from exc
            if _file_hash_ok(path) is False:
                raise _refuse(path, repo_id, name)
            tracker.files_done += 1
            folder = path.parent if "/" not in name else Path(str(path)[: -len(name)])
        check_weights(folder)
        if progress is not None:
            progress(DownloadProgress(repo_id, tracker.total, tracker.total, "", len(names), len(names)))
        return folder
