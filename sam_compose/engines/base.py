"""The engine protocol every backend implements.

An engine turns (image, prompts) into :class:`~sam_compose.types.Masks`. The public
methods here do the shared work once, for every backend: image conversion, prompt
validation, the embedding cache, statistics and provenance. A backend implements three
hooks: ``_compute_embedding``, ``_decode`` and ``_generate``.
"""

from __future__ import annotations

import inspect
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numpy as np

from ..errors import InputError
from ..image_io import ImageLike, load_image
from ..types import ImageEmbedding, Masks, Prompt, as_prompt_list, image_key
from .cache import EmbeddingCache


@dataclass
class EngineStats:
    """Counters an engine keeps; read them as ``engine.stats``."""

    embeddings_computed: int = 0
    embedding_cache_hits: int = 0
    segment_calls: int = 0
    prompts_decoded: int = 0
    generate_calls: int = 0
    embed_ms: float = 0.0
    decode_ms: float = 0.0
    generate_ms: float = 0.0

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


class Engine(ABC):
    """A promptable segmenter with an embedding cache.

    Subclasses set ``name`` and implement the three hooks. Instances are safe to share
    between threads: the cache computes each embedding once, and counters are locked.
    """

    name: ClassVar[str] = "engine"
    supports_text: ClassVar[bool] = False
    """True for engines that segment concept prompts (``Prompt(text=...)``, exemplars) natively."""

    def __init__(
        self, spec: str, device: str = "cpu", dtype: str = "float32", cache: EmbeddingCache | None = None
    ) -> None:
        self.spec = spec
        self.device = device
        self.dtype = dtype
        self.cache = cache if cache is not None else EmbeddingCache()
        self._stats = EngineStats()
        self._stats_lock = threading.Lock()

    # --- identity -----------------------------------------------------------------------
    @property
    def key(self) -> str:
        """Identifies the engine in cache keys and provenance: name, spec, device, dtype."""
        return f"{self.name}:{self.spec}:{self.device}:{self.dtype}"

    @property
    def stats(self) -> EngineStats:
        """A snapshot of the counters (embeddings computed, cache hits, calls, time)."""
        with self._stats_lock:
            return EngineStats(**asdict(self._stats))

    def reset_stats(self) -> None:
        with self._stats_lock:
            self._stats = EngineStats()

    def describe(self) -> dict[str, Any]:
        """JSON-friendly identity for provenance and reports."""
        return {"engine": self.name, "spec": self.spec, "device": self.device, "dtype": self.dtype}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(spec={self.spec!r}, device={self.device!r}, dtype={self.dtype!r})"

    def _count(self, **deltas: float) -> None:
        with self._stats_lock:
            for k, v in deltas.items():
                setattr(self._stats, k, getattr(self._stats, k) + v)

    # --- public API ---------------------------------------------------------------------
    def embed(self, image: ImageLike) -> ImageEmbedding:
        """The image's embedding, computed once per distinct image and then cached."""
        img = load_image(image)
        key = (self.key, image_key(img))
        t0 = time.perf_counter()
        emb, hit = self.cache.get_or_compute(key, lambda: self._compute_embedding(img, key[1]))
        if hit:
            self._count(embedding_cache_hits=1)
        else:
            self._count(embeddings_computed=1, embed_ms=(time.perf_counter() - t0) * 1000)
        return emb

    def segment(self, image: ImageLike, prompts: Prompt | Sequence[Prompt], multimask: bool = False) -> Masks:
        """Segment ``image`` for one prompt or a list of prompts.

        Returns one row per prompt, or three per prompt with ``multimask=True`` (candidates
        of different extent). ``prompt_index`` tells which prompt each row answers and
        ``data["prompts"]`` holds the prompts (boxes clipped to the image).
        """
        img = load_image(image)
        size = (img.shape[0], img.shape[1])
        plist = [p.validate_for(size) for p in as_prompt_list(prompts)]
        if not self.supports_text and any(p.is_concept for p in plist):
            raise InputError(
                f"the {self.name} engine does not segment text or exemplar prompts; engines with native concepts: "
                "SAM 3 (engine='facebook/sam3', `sam-compose models download sam3`); with any engine, "
                "sam_compose.adapters.prompts.text_to_prompts(image, text, engine=...) finds the object with CLIP"
            )
        emb = self.embed(img)
        t0 = time.perf_counter()
        res = self._decode(img, emb, plist, bool(multimask))
        self._count(segment_calls=1, prompts_decoded=len(plist), decode_ms=(time.perf_counter() - t0) * 1000)
        res.data.update(self.describe())
        res.data["prompts"] = plist
        res.data["multimask"] = bool(multimask)
        res.data.setdefault("adapter", "segment")
        return res

    def generate(self, image: ImageLike, **params: Any) -> Masks:
        """Automatic mask generation: every object and part the engine finds.

        Accepted parameters are the backend's :meth:`generate_params` (for SAM engines the
        reference generator's: points_per_side, pred_iou_thresh, ...). Unknown names raise
        :class:`InputError` listing the accepted ones.
        """
        self._check_params(params)
        img = load_image(image)
        emb = self.embed(img)
        t0 = time.perf_counter()
        res = self._generate(img, emb, **params)
        self._count(generate_calls=1, generate_ms=(time.perf_counter() - t0) * 1000)
        res.data.update(self.describe())
        res.data["adapter"] = "generate"
        res.data["params"] = dict(params)
        return res

    def generate_params(self) -> dict[str, Any]:
        """The parameters ``generate`` accepts, with their defaults (here: the keyword-only
        parameters of ``_generate``; an engine whose ``_generate`` takes ``**params`` overrides this)."""
        sig = inspect.signature(self._generate)
        return {n: p.default for n, p in sig.parameters.items() if p.kind == p.KEYWORD_ONLY}

    def _check_params(self, params: dict[str, Any]) -> None:
        accepted = self.generate_params()
        unknown = sorted(set(params) - set(accepted))
        if unknown:
            raise InputError(f"{self.name} engine's generate() does not take {unknown}; accepted: {sorted(accepted)}")

    # --- backend hooks ------------------------------------------------------------------
    @abstractmethod
    def _compute_embedding(self, image: np.ndarray, key: str) -> ImageEmbedding:
        """Features of an (H, W, 3) uint8 image; ``key`` is its content hash."""

    @abstractmethod
    def _decode(self, image: np.ndarray, embedding: ImageEmbedding, prompts: list[Prompt], multimask: bool) -> Masks:
        """Masks for validated prompts: 1 or 3 rows per prompt, ``prompt_index`` set."""

    @abstractmethod
    def _generate(self, image: np.ndarray, embedding: ImageEmbedding, **params: Any) -> Masks:
        """Automatic masks; parameters are keyword-only with defaults."""
