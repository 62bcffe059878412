"""The embedding cache: a byte-bounded LRU of image embeddings (:class:`sam_compose.cache.BoundedCache`).

Keyed by (engine key, image content hash). One cache belongs to one engine instance and
is shared by every node and adapter that uses that engine.
"""

from __future__ import annotations

from ..cache import BoundedCache, bytes_from_env
from ..types import ImageEmbedding

DEFAULT_CACHE_BYTES = 2 * 1024**3
"""2 GiB; override with ``SAM_COMPOSE_CACHE_BYTES`` or ``EmbeddingCache(max_bytes=...)``."""


def default_cache_bytes() -> int:
    return bytes_from_env("SAM_COMPOSE_CACHE_BYTES", DEFAULT_CACHE_BYTES)


class EmbeddingCache(BoundedCache[tuple[str, str], ImageEmbedding]):
    """LRU over embeddings with a total byte budget (``max_bytes``; 0 disables caching).

    ``get_or_compute`` computes an embedding at most once per key even when several threads
    ask for the same image at the same time.
    """

    def __init__(self, max_bytes: int | None = None) -> None:
        super().__init__(
            default_cache_bytes() if max_bytes is None else int(max_bytes), size_of=lambda emb: int(emb.nbytes)
        )
