"""A hashed bigram count model of the windows an agent has seen: the "general" side of a
cross-entropy difference (Moore & Lewis, 2010; DSIR, Xie et al., 2023, with hashed n-gram features).

:class:`HashedBigram` keeps unigram and bigram counts of every window passed to :meth:`update` and
scores a window by its mean next-token cross-entropy under Dirichlet-smoothed bigram probabilities

    p(b | a) = (c(a, b) + mu p(b)) / (c(a) + mu),   p(b) = (c(b) + 1) / (T + V)

(T tokens counted, V the vocabulary). Bigram counts live in ``2**hash_bits`` buckets indexed by
``(a * V + b) mod 2**hash_bits``, so memory stays fixed whatever the vocabulary; collisions only
smooth further. With nothing counted every window scores log V. Counting and scoring are integer
indexing and a few vector operations per token: no model FLOPs in the sense of
:mod:`curriculum_env.flops` (about ten integer and float operations per token, charged as such by the
caller if it wishes).
"""

from __future__ import annotations

from typing import Any

import numpy as np


class HashedBigram:
    """Bigram counts of seen windows; :meth:`losses` is the per-window mean cross-entropy [N]."""

    def __init__(self, vocab_size: int, mu: float = 10.0, hash_bits: int = 22):
        if not (isinstance(vocab_size, int) and vocab_size >= 2):
            raise ValueError(f"bigram model: vocab_size must be an integer >= 2, got {vocab_size!r}")
        if not mu > 0:
            raise ValueError(f"bigram model: mu must be > 0, got {mu!r}")
        self.vocab_size, self.mu, self.buckets = vocab_size, float(mu), 1 << hash_bits
        self.unigram = np.zeros(vocab_size, dtype=np.int64)
        self.context = np.zeros(vocab_size, dtype=np.int64)  # c(a): bigrams starting at a
        self.bigram = np.zeros(self.buckets, dtype=np.int32)

    def _pairs(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        ids = np.asarray(ids, dtype=np.int64)
        if ids.ndim != 2 or ids.shape[1] < 2:
            raise ValueError(f"bigram model: need windows [N, L] with L >= 2, got shape {ids.shape}")
        if ids.size and (ids.min() < 0 or ids.max() >= self.vocab_size):
            raise ValueError(f"bigram model: token ids must lie in [0, {self.vocab_size}), "
                             f"got [{ids.min()}, {ids.max()}]")
        a, b = ids[:, :-1], ids[:, 1:]
        return a, b, (a * self.vocab_size + b) % self.buckets

    def update(self, ids: np.ndarray) -> None:
        """Count the tokens and bigrams of windows ``ids`` [N, L]."""
        a, b, h = self._pairs(ids)
        np.add.at(self.unigram, np.asarray(ids, dtype=np.int64).ravel(), 1)
        np.add.at(self.context, a.ravel(), 1)
        np.add.at(self.bigram, h.ravel(), 1)

    def token_losses(self, ids: np.ndarray) -> np.ndarray:
        """Next-token cross-entropy (nats) [N, L-1] of windows ``ids`` [N, L] under the smoothed bigrams (entry
        t scores token t + 1, as the env's per-token losses)."""
        a, b, h = self._pairs(ids)
        p_b = (self.unigram[b] + 1.0) / (self.unigram.sum() + self.vocab_size)
        p = (self.bigram[h] + self.mu * p_b) / (self.context[a] + self.mu)
        return -np.log(p)

    def counted(self, ids: np.ndarray) -> np.ndarray:
        """Mask [N, L-1]: whether each transition of windows ``ids`` [N, L] was counted (its bucket's count > 0)."""
        return self.bigram[self._pairs(ids)[2]] > 0

    def losses(self, ids: np.ndarray) -> np.ndarray:
        """Mean next-token cross-entropy (nats) [N] of windows ``ids`` [N, L] under the smoothed bigrams."""
        return self.token_losses(ids).mean(axis=1)

    def state_dict(self) -> dict[str, Any]:
        return {"unigram": self.unigram.copy(), "context": self.context.copy(), "bigram": self.bigram.copy()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name in ("unigram", "context", "bigram"):
            value = np.asarray(state[name])
            if value.shape != getattr(self, name).shape:
                raise ValueError(f"bigram model state: {name} has shape {value.shape}, "
                                 f"expected {getattr(self, name).shape}")
            setattr(self, name, value.astype(getattr(self, name).dtype, copy=True))
