"""A ring buffer of training windows searched by FAISS inner product (paper §3.4, eq. 16).

The buffer is a preallocated float32 matrix ``[I, d_st]`` with the windows' token ids, texts,
source labels and difficulty scores. A refresh writes the new rows over the oldest ones in place
(a copy of ``n_ingest x d_st`` floats); no index is rebuilt, because a flat inner-product index is
just this matrix: search is ``faiss.knn(queries, buffer, k, metric=METRIC_INNER_PRODUCT)``, the
same brute-force search ``faiss.IndexFlatIP`` does.

Every search scores all filled rows: ``2·Q·S·d`` FLOPs for Q queries over S rows of width d (2 per
multiply-add, :func:`curriculum_env.flops.matmul_flops`), reported in :attr:`Retrieved.flops` for the caller to
charge.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from curriculum_env.candidate_source import content_keys
from curriculum_env.flops import matmul_flops


@dataclass
class Retrieved:
    """Exactly ``n`` distinct ring slots chosen for ``K`` queries."""

    slots: np.ndarray  # [n] int64, ring slots
    scores: np.ndarray  # [n] float32, inner product with the query that picked the slot
    query: np.ndarray  # [n] int64, index of that query
    sampled: np.ndarray  # [n] bool, True for the R <= K softmax-sampled unique results (eq. 16)
    num_sampled: int  # R
    flops: float = 0.0  # the similarity products that found them (every search, 2 per multiply-add)


class RingBuffer:
    """Fixed-capacity FIFO of embedded windows; ``add`` overwrites the oldest rows in place."""

    def __init__(self, capacity: int, dim: int, context_length: int):
        if capacity < 1 or dim < 1 or context_length < 1:
            raise ValueError(f"capacity, dim and context_length must be positive, got {capacity}, {dim}, "
                             f"{context_length}")
        self.capacity, self.dim = capacity, dim
        self.vectors = np.zeros((capacity, dim), dtype=np.float32)  # [I, d_st]
        self.ids = np.zeros((capacity, context_length), dtype=np.int64)  # [I, L]
        self.texts = np.empty(capacity, dtype=object)  # [I]
        self.source = np.empty(capacity, dtype=object)  # [I]
        self.rarity = np.zeros(capacity, dtype=np.float32)  # [I]
        self.length = np.zeros(capacity, dtype=np.float32)  # [I]
        self.keys = np.zeros(capacity, dtype=np.int64)  # [I] content hash of ids (dedupe)
        self.serial = np.full(capacity, -1, dtype=np.int64)  # [I] insertion number, -1 = empty
        self.head = 0  # next slot to write
        self.size = 0  # filled slots
        self.added = 0  # windows ever added

    def __len__(self) -> int:
        return self.size

    def add(self, vectors: np.ndarray, ids: np.ndarray, texts, source, rarity, length) -> np.ndarray:
        """Write ``n`` windows at the head, overwriting the oldest; returns the slots written [n].

        With n > capacity only the last ``capacity`` windows are kept.
        """
        vectors = np.asarray(vectors, dtype=np.float32)
        ids = np.asarray(ids, dtype=np.int64)
        n = len(vectors)
        if vectors.shape != (n, self.dim):
            raise ValueError(f"vectors must be [n, {self.dim}], got {vectors.shape}")
        if ids.shape != (n, self.ids.shape[1]):
            raise ValueError(f"ids must be [{n}, {self.ids.shape[1]}], got {ids.shape}")
        cols = [np.asarray(texts, dtype=object), np.asarray(source, dtype=object),
                np.asarray(rarity, dtype=np.float32), np.asarray(length, dtype=np.float32)]
        if any(c.shape != (n,) for c in cols):
            raise ValueError(f"texts, source, rarity and length must each have {n} entries")
        keep = slice(max(0, n - self.capacity), n)
        serial = np.arange(self.added, self.added + n)[keep]
        slots = (self.head + np.arange(max(0, n - self.capacity), n)) % self.capacity
        self.vectors[slots] = vectors[keep]
        self.ids[slots] = ids[keep]
        self.texts[slots], self.source[slots], self.rarity[slots], self.length[slots] = (c[keep] for c in cols)
        self.keys[slots] = content_keys(ids[keep])
        self.serial[slots] = serial
        self.head = (self.head + n) % self.capacity
        self.size = min(self.capacity, self.size + n)
        self.added += n
        return slots

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` inner-product neighbours of ``queries`` [Q, d_st]: scores [Q, k'] and slots [Q, k'],
        best first, k' = min(k, size)."""
        import faiss

        if self.size == 0:
            raise ValueError("the ring buffer is empty; add windows before searching")
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if queries.ndim != 2 or queries.shape[1] != self.dim:
            raise ValueError(f"queries must be [Q, {self.dim}], got {queries.shape}")
        k = min(int(k), self.size)
        scores, slots = faiss.knn(queries, self.vectors[: self.size], k, metric=faiss.METRIC_INNER_PRODUCT)
        return scores, slots.astype(np.int64)

    def retrieve(self, queries: np.ndarray, top_k: int, tau: float, n: int, rng: np.random.Generator) -> Retrieved:
        """Eq. 16 then a fill to exactly ``n`` distinct windows.

        Each query softmax-samples one of its top-k neighbours with p_j ∝ exp(score_j / tau); results
        are deduplicated by content across queries (R <= K, marked ``sampled``). The remaining
        ``n - R`` places go to the best-scoring unused neighbours of all queries (searched to depth
        ``max(top_k, n)``, deeper while duplicates leave places open). Only a ring holding fewer
        than ``n`` distinct windows repeats windows.
        """
        if tau <= 0:
            raise ValueError(f"tau_rag must be positive, got {tau}")
        depth = max(int(top_k), int(n))
        scores, slots = self.search(queries, depth)  # [K, k']
        flops = matmul_flops(len(queries), self.dim, self.size)
        k_top = min(int(top_k), scores.shape[1])
        picked: list[tuple[int, float, int]] = []  # (slot, score, query)
        seen: set[int] = set()

        def take(q: int, j: int) -> None:
            slot = int(slots[q, j])
            if slot >= 0 and int(self.keys[slot]) not in seen:  # dedupe by content
                seen.add(int(self.keys[slot]))
                picked.append((slot, float(scores[q, j]), q))

        for q in range(len(queries)):
            take(q, softmax_pick(scores[q, :k_top], tau, rng))  # eq. 16
        num_sampled = min(len(picked), n)
        while True:  # fill: best unused neighbours of all queries, searching deeper if duplicates block
            for flat in np.argsort(-scores, axis=None, kind="stable"):  # all (query, rank) pairs, best first
                if len(picked) >= n:
                    break
                take(*divmod(int(flat), scores.shape[1]))
            if len(picked) >= n or depth >= self.size:
                break
            depth = min(self.size, 2 * depth)
            scores, slots = self.search(queries, depth)
            flops += matmul_flops(len(queries), self.dim, self.size)
        if not picked:
            raise ValueError("retrieval found no window in the ring buffer")
        picked = [picked[i % len(picked)] for i in range(n)]  # repeats only in a degenerate ring
        sampled = np.zeros(n, dtype=bool)
        sampled[:num_sampled] = True
        slot_arr, score_arr, query_arr = (np.asarray(col) for col in zip(*picked, strict=True))
        return Retrieved(slot_arr.astype(np.int64), score_arr.astype(np.float32), query_arr.astype(np.int64),
                         sampled, num_sampled, flops)


    def sample(self, queries: np.ndarray, count: int, top_k: int, tau: float, rng: np.random.Generator,
               available: np.ndarray) -> Retrieved:
        """Up to ``count`` distinct windows among the ``available`` slots [I] (bool), without replacement:
        the queries take turns, each softmax-sampling (p_j ∝ exp(score_j / tau), eq. 16) one of its
        ``top_k`` best remaining neighbours; a window taken, and any copy of its content, leaves the
        pool for the other queries. Fewer than ``count`` only when the pool runs out."""
        if tau <= 0:
            raise ValueError(f"tau must be positive, got {tau}")
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if queries.ndim != 2 or queries.shape[1] != self.dim or not len(queries):
            raise ValueError(f"queries must be [Q >= 1, {self.dim}], got {queries.shape}")
        scores = queries @ self.vectors[: self.size].T  # [Q, S], inner product
        open_ = np.asarray(available[: self.size], dtype=bool).copy()
        slots, best, which = [], [], []
        for j in range(int(count)):
            if not open_.any():
                break
            q = j % len(queries)
            cand = np.flatnonzero(open_)
            top = cand[np.argsort(-scores[q, cand], kind="stable")[: int(top_k)]]
            slot = int(top[softmax_pick(scores[q, top], tau, rng)])
            slots.append(slot)
            best.append(float(scores[q, slot]))
            which.append(q)
            open_[self.keys[: self.size] == self.keys[slot]] = False
        n = len(slots)
        return Retrieved(np.asarray(slots, np.int64), np.asarray(best, np.float32), np.asarray(which, np.int64),
                         np.ones(n, dtype=bool), n, matmul_flops(len(queries), self.dim, self.size))


def softmax_pick(scores: np.ndarray, tau: float, rng: np.random.Generator) -> int:
    """Index of one of ``scores`` [k] drawn with p_j ∝ exp(score_j / tau) (eq. 16)."""
    logits = np.asarray(scores, dtype=np.float64) / tau
    p = np.exp(logits - logits.max())
    return int(rng.choice(len(logits), p=p / p.sum()))


def content_key(row: np.ndarray) -> int:
    """The content hash of one window ``row`` [L] (see :func:`content_keys`)."""
    return int(content_keys(np.asarray(row)[None])[0])
