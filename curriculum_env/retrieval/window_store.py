"""Sentence embeddings of a task's stream windows, computed once per pool and read back by content.

The windows of a task are fixed and their embeddings do not depend on the LM, so each stream pool is
embedded once (:func:`~curriculum_env.retrieval.embedder.embed_cached`: one self-verifying cache file
per pool content and embedder, behind a progress bar) and a window's embedding is then a lookup by
its content hash. Pools shared by several tasks (``prose`` in ``prose``, ``noisy`` and ``mixed``)
share one file. A window found in no pool (a caller's own) is embedded on the spot.

Cost: :meth:`WindowEmbeddings.flops` is what embedding the windows would cost the embedder (its
``flops_per_token`` times the window's tokens, plus the two special tokens), charged by the caller per
window it *uses*, whether the vector came from the cache or not: the cache saves wall time, not the
compute a user without it would spend.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from curriculum_env.retrieval.embedder import Embedder, embed_cached
from curriculum_env.retrieval.ring import content_keys


class WindowEmbeddings:
    """Lookup table from window content to its embedding, over all stream pools of ``data``."""

    def __init__(self, data: Any, embedder: Embedder, cache_dir: str | None = None, progress: bool = True):
        self.embedder = embedder
        self.tokenizer = data.tokenizer
        self.dim = int(embedder.dim)
        parts, keys = [], []
        for pool in data.stream_pools.values():
            texts = self.tokenizer.batch_decode(np.asarray(pool.ids).tolist())
            parts.append(embed_cached(embedder, texts, cache_dir, progress=progress))
            keys.append(content_keys(pool.ids))
        self.vectors = np.concatenate(parts) if parts else np.zeros((0, self.dim), np.float32)  # [W, d]
        flat = np.concatenate(keys) if keys else np.zeros(0, np.int64)
        self._order = np.argsort(flat, kind="stable")  # rows by content key, for a vectorised lookup
        self._sorted = flat[self._order]
        self.missed = 0  # windows embedded on the spot (not in any pool)

    def __len__(self) -> int:
        return len(self.vectors)

    def lookup(self, ids: np.ndarray) -> np.ndarray:
        """Embeddings [n, d] of windows ``ids`` [n, L]."""
        ids = np.asarray(ids, dtype=np.int64)
        keys = content_keys(ids)
        rows = np.full(len(ids), -1, dtype=np.int64)
        if len(self._sorted):
            at = np.minimum(np.searchsorted(self._sorted, keys), len(self._sorted) - 1)
            hit = self._sorted[at] == keys
            rows[hit] = self._order[at[hit]]
        out = np.empty((len(ids), self.dim), dtype=np.float32)
        found = rows >= 0
        out[found] = self.vectors[rows[found]]
        if not found.all():
            miss = np.flatnonzero(~found)
            out[miss] = self.embedder.encode(self.tokenizer.batch_decode(ids[miss].tolist()))
            self.missed += len(miss)
        return out

    def flops(self, count: int, tokens_per_window: int) -> float:
        """The embedder's FLOPs for ``count`` windows of ``tokens_per_window`` tokens (0 for a non-neural one)."""
        return float(getattr(self.embedder, "flops_per_token", 0.0)) * (int(tokens_per_window) + 2) * int(count)
