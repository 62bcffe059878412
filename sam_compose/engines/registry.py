"""Resolving engine specs: ``load_engine`` and ``shared_engine``.

Specs:

* ``"opencv"``: the weight-free OpenCV engine (offline default);
* ``"auto"``: a SAM checkpoint already on this machine (``SAM_COMPOSE_CHECKPOINT``, or a
  known model in the Hugging Face cache), otherwise ``"opencv"`` with one warning;
* a Hugging Face id (``facebook/sam-vit-base``, ``facebook/sam2.1-hiera-tiny``, ...) or a
  short name from ``sam-compose models list``;
* a local folder written by ``save_pretrained``, or a Meta checkpoint ``.pth``;
* ``onnx:DIR``: a folder written by ``sam-compose export onnx``, run with onnxruntime;
* any name added with :func:`register_engine` (or prefix, ``register_engine("x:", f, prefix=True)``).
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Callable
from pathlib import Path

from ..errors import EngineError, require
from .base import Engine
from .catalog import AUTO_PREFERENCE, KNOWN_MODELS, find_known
from .hub import default_device, normalize_device  # noqa: F401  (re-exported: registry.default_device)

EngineFactory = Callable[[str, str, str], Engine]
"""(spec, device, dtype) -> Engine"""

_FACTORIES: dict[str, EngineFactory] = {}
_PREFIX_FACTORIES: dict[str, tuple[EngineFactory, Callable[[], str] | None]] = {}
_SHARED: dict[tuple[str, str, str], Engine] = {}
_SHARED_LOCK = threading.Lock()
_LOADING: dict[tuple[str, str, str], threading.Lock] = {}  # per-key locks held while an engine loads
_AUTO_WARNED = False

ACCEPTED_FORMS = (
    "'opencv' (weight-free), 'auto', a Hugging Face id such as 'facebook/sam-vit-base' or "
    "'facebook/sam2.1-hiera-tiny', a short name from `sam-compose models list` (e.g. 'sam-vit-base'), "
    "a folder written by save_pretrained, a Meta checkpoint file such as sam_vit_b_01ec64.pth, or "
    "onnx:DIR (a folder written by `sam-compose export onnx`)"
)


def register_engine(
    name: str, factory: EngineFactory, *, prefix: bool = False, device_default: Callable[[], str] | None = None
) -> None:
    """Make ``load_engine(name)`` call ``factory(spec, device, dtype)``.

    With ``prefix=True`` every spec starting with ``name`` (e.g. ``"onnx:"``) goes to
    ``factory``; ``device_default`` then picks the device when the caller gives none.
    """
    if prefix:
        _PREFIX_FACTORIES[name.lower()] = (factory, device_default)
    else:
        _FACTORIES[name.lower()] = factory


def _prefix_factory(spec: str) -> tuple[EngineFactory, Callable[[], str] | None] | None:
    low = spec.lower()
    for prefix, entry in _PREFIX_FACTORIES.items():
        if low.startswith(prefix):
            return entry
    return None


def _opencv_factory(spec: str, device: str, dtype: str) -> Engine:
    from .opencv import OpenCVEngine

    return OpenCVEngine(spec="opencv", device="cpu", dtype="float32")


def _onnx_factory(spec: str, device: str, dtype: str) -> Engine:
    from .onnx.engine import load_onnx_engine

    return load_onnx_engine(spec, device=device, dtype=dtype)


def _onnx_default_device() -> str:
    from .onnx.engine import default_device as onnx_default

    return onnx_default()


register_engine("opencv", _opencv_factory)
register_engine("onnx:", _onnx_factory, prefix=True, device_default=_onnx_default_device)


def find_local_checkpoint() -> str | None:
    """A SAM checkpoint usable without network, or None. Never touches the network.

    Looks at ``SAM_COMPOSE_CHECKPOINT`` first (a folder or a ``.pth``), then at the
    Hugging Face cache for the known models in :data:`AUTO_PREFERENCE` order.
    """
    env = os.environ.get("SAM_COMPOSE_CHECKPOINT")
    if env:
        if not Path(env).exists():
            raise EngineError(f"SAM_COMPOSE_CHECKPOINT points to {env}, which does not exist")
        return env
    from .hub import cached_snapshot

    by_name = {m.name: m for m in KNOWN_MODELS}
    for name in AUTO_PREFERENCE:
        repo = by_name[name].repo_id
        if cached_snapshot(repo) is not None:
            return repo
    return None


def resolve_spec(spec: str) -> str:
    """Turn ``"auto"`` into a concrete spec; other specs are returned stripped."""
    global _AUTO_WARNED
    if not isinstance(spec, str) or not spec.strip():
        raise EngineError(f"engine spec must be a non-empty string; accepted: {ACCEPTED_FORMS}")
    spec = spec.strip()
    if spec.lower() != "auto":
        return spec
    found = find_local_checkpoint()
    if found:
        return found
    if not _AUTO_WARNED:
        _AUTO_WARNED = True
        warnings.warn(
            "engine 'auto': no SAM checkpoint on this machine, using the weight-free 'opencv' engine "
            "(run `sam-compose models download sam-vit-base` for SAM)",
            stacklevel=3,
        )
    return "opencv"


def _looks_like_hub_id(spec: str) -> bool:
    parts = spec.split("/")
    return len(parts) == 2 and all(parts) and not spec.startswith((".", "/", "~")) and " " not in spec


def _resolve_key(spec: str, device: str | None, dtype: str | None) -> tuple[str, str, str]:
    """(spec, device, dtype) with "auto" resolved and defaults filled; opencv is always cpu/float32."""
    spec = resolve_spec(spec)
    if spec.lower() == "opencv":
        return "opencv", "cpu", "float32"
    entry = _prefix_factory(spec)
    if entry is not None and entry[1] is not None and (device is None or not str(device).strip()):
        return spec, entry[1](), dtype or "float32"
    return spec, normalize_device(device), dtype or "float32"


def load_engine(spec: str = "auto", device: str | None = None, dtype: str | None = None) -> Engine:
    """A new engine for ``spec`` (see the module docstring for accepted forms).

    ``device``: ``cpu``, ``cuda``, ``cuda:1``, ``mps`` (default: the best available).
    ``dtype``: ``float32`` (default), ``bfloat16`` or ``float16`` where the device supports it.
    Raises :class:`EngineError` naming the accepted forms or what is missing.
    """
    spec, device, dtype = _resolve_key(spec, device, dtype)
    factory = _FACTORIES.get(spec.lower())
    if factory is not None:
        return factory(spec, device, dtype)
    entry = _prefix_factory(spec)
    if entry is not None:
        return entry[0](spec, device, dtype)
    path = Path(os.path.expanduser(spec))
    if (
        path.exists()
        or find_known(spec) is not None
        or _looks_like_hub_id(spec)
        or path.suffix in (".pth", ".pt", ".safetensors")
    ):
        if not path.exists() and path.suffix in (".pth", ".pt", ".safetensors"):
            raise EngineError(f"checkpoint file not found: {spec}")
        require("torch", feature=f"the SAM engine {spec!r}")
        require("transformers", feature=f"the SAM engine {spec!r}")
        from .sam.loading import load_sam_family

        return load_sam_family(spec, device=device, dtype=dtype)
    raise EngineError(f"unknown engine {spec!r}; accepted: {ACCEPTED_FORMS}")


def shared_engine(spec: str = "auto", device: str | None = None, dtype: str | None = None) -> Engine:
    """The one engine instance for (spec, device, dtype), created on first use. Thread-safe.

    Every node, adapter, tool and demo session that asks for the same key gets the same
    object, and so the same embedding cache.
    """
    key = _resolve_key(spec, device, dtype)
    spec, device, dtype = key
    with _SHARED_LOCK:
        eng = _SHARED.get(key)
        if eng is not None:
            return eng
        loading = _LOADING.setdefault(key, threading.Lock())
    # load under this key's own lock, so a slow model load does not block other specs
    with loading:
        with _SHARED_LOCK:
            eng = _SHARED.get(key)
        if eng is None:
            eng = load_engine(spec, device=device, dtype=dtype)
            with _SHARED_LOCK:
                _SHARED[key] = eng
                _LOADING.pop(key, None)
        return eng


def resolve_engine(engine: str | Engine, device: str | None = None, dtype: str | None = None) -> Engine:
    """The engine an ``engine=`` argument names: a spec string -> :func:`shared_engine`; an
    :class:`Engine` (or any object with a ``segment`` method, e.g. a wrapper that delegates to
    one) is returned as it is. Every public function that takes ``engine=`` calls this."""
    if isinstance(engine, str):
        return shared_engine(engine, device=device, dtype=dtype)
    if isinstance(engine, Engine) or callable(getattr(engine, "segment", None)):
        return engine
    raise EngineError(
        f"engine= must be an engine spec string (e.g. 'opencv', 'auto', 'facebook/sam-vit-base') or an "
        f"Engine from sam_compose.load_engine, got {type(engine).__name__}"
    )


def clear_shared_engines() -> None:
    """Forget every shared engine (tests, or to free memory)."""
    with _SHARED_LOCK:
        _SHARED.clear()
