"""Fixed-length token windows with source labels and difficulty scores."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from curriculum_env.data.corpora import Document

_SENTENCE_END = re.compile(r"[.!?]\s|\n\s*\n")


@dataclass
class WindowPool:
    """Windows ``ids`` [P, L] (int64), their source labels [P] and two difficulty scores [P]."""

    ids: np.ndarray
    source: np.ndarray
    rarity: np.ndarray
    length: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """Token ids [min(size, P), L] of windows drawn without replacement by one ``rng.choice``, in pool
        order (the env's reward and probe samples of D, and every tool that mimics them)."""
        k = min(int(size), len(self.ids))
        return self.ids[np.sort(rng.choice(len(self.ids), size=k, replace=False))]


def tokenize_documents(docs: Sequence[Document], tokenizer, context_length: int) -> np.ndarray:
    """Cut each document (its tokens followed by EOS) into non-overlapping windows of
    ``context_length`` tokens; the last partial window of a document is dropped, so no window
    spans two documents. Returns ``[P, L]`` int64."""
    if not docs:
        return np.zeros((0, context_length), dtype=np.int64)
    encoded = tokenizer([d.text for d in docs], add_special_tokens=False)["input_ids"]
    eos = tokenizer.eos_token_id
    rows = []
    for tokens in encoded:
        tokens = np.asarray(list(tokens) + [eos], dtype=np.int64)
        n = len(tokens) // context_length
        if n:
            rows.append(tokens[: n * context_length].reshape(n, context_length))
    if not rows:
        return np.zeros((0, context_length), dtype=np.int64)
    return np.concatenate(rows)


def words_per_sentence(texts: Sequence[str]) -> np.ndarray:
    """Platanios et al.'s length heuristic for a window: words per sentence within it."""
    out = np.empty(len(texts), dtype=np.float32)
    for i, text in enumerate(texts):
        words = len(text.split())
        sentences = len(_SENTENCE_END.findall(text)) + 1
        out[i] = words / sentences
    return out


def unigram_surprisal(ids: np.ndarray, vocab_size: int) -> np.ndarray:
    """-log p(token) under add-one-smoothed unigram counts of ``ids``: [V] float32."""
    counts = np.bincount(ids.ravel(), minlength=vocab_size).astype(np.float64) + 1.0
    return (-np.log(counts / counts.sum())).astype(np.float32)


def make_pool(ids: np.ndarray, source: str | np.ndarray, tokenizer, surprisal: np.ndarray) -> WindowPool:
    """Label windows and score their difficulty (rarity = mean token surprisal; length = words per
    sentence of the decoded text)."""
    ids = np.ascontiguousarray(ids, dtype=np.int64)
    labels = np.full(len(ids), source, dtype=object) if isinstance(source, str) else np.asarray(source, dtype=object)
    rarity = surprisal[ids].mean(axis=1) if len(ids) else np.zeros(0, np.float32)
    texts = tokenizer.batch_decode(ids.tolist()) if len(ids) else []
    return WindowPool(ids, labels, rarity.astype(np.float32), words_per_sentence(texts))


def dedupe_against(pool_ids: np.ndarray, *others: np.ndarray) -> np.ndarray:
    """Boolean mask over ``pool_ids`` rows: True where the row appears in none of ``others`` and
    is the first occurrence of its content within ``pool_ids``."""
    seen: set[bytes] = set()
    for other in others:
        seen.update(row.tobytes() for row in other)
    keep = np.ones(len(pool_ids), dtype=bool)
    for i, row in enumerate(pool_ids):
        key = row.tobytes()
        if key in seen:
            keep[i] = False
        else:
            seen.add(key)
    return keep
