"""A candidate source that retrieves the env's next candidates from a ring of streamed windows (§3.4).

:class:`RetrievalSource` implements :mod:`curriculum_env.candidate_source`. It keeps a ring buffer of
up to I windows the env streamed for it, each embedded once per task (:class:`WindowEmbeddings`), and
every step fills the N candidates with windows retrieved for *queries* -- embedding vectors ``[K, d]``
that a callable returns when the env asks (Langevin-RAG's SGLD samples, or the windows an agent's Q
values most) -- then refreshes the ring with the windows streamed this step (retrieval first, as in
Algorithm 2 lines 17-18).

**What it streams** (:class:`RetrievalConfig`). By default exactly what every other agent streams: the
ring starts from the reset's fresh batch (``prefill=False``) and takes in each step's fresh batch
(``n_ingest=None``), N windows per step and N at reset, so ``examples_streamed`` is the table's. With
``prefill=True`` the reset also draws whole batches until the ring holds I windows, and ``n_ingest=k``
draws whole batches each step until k windows are taken in: more windows looked at, all counted as
streamed (the paper's Algorithm 2; :mod:`curriculum_env.wrappers.langevin_rag`).

Two retrieval rules:

- ``rule="paper"``: eq. 16 per query over its top-k, deduplicated, the rest filled with the best unused
  neighbours (:meth:`RingBuffer.retrieve`); a window can be retrieved again while it stays in the ring.
- ``rule="pool"``: ``N - n_fresh`` windows sampled without replacement (:meth:`RingBuffer.sample`) from the
  pool of windows not trained yet; a window the env trains leaves the pool (the env tells the source,
  ``trained(ids)``), so none is trained twice from the ring, while a window proposed but not trained can
  be proposed again; the other ``n_fresh`` candidates are windows of this step's fresh batch (exploration,
  and what the queries start from).

``info()`` reports ``rag/sampled`` [N] (retrieved by a query, not filled or fresh), ``rag/score`` [N]
(similarity to its query; NaN for fresh windows), ``rag/query`` [N] (-1 for fresh), ``rag/retrieved``,
``rag/ring_size`` (windows retrievable now), ``rag/ingested`` (windows written into the ring by the last
proposal), ``rag/ingested_total``, and the wall times ``time/retrieval`` and ``time/ingest``.

**FLOPs**, charged to the run's ``flops/retrieval``: the embedder's for every window written into the
ring (zero for the hashed embedder, which has no model), and the similarity products of every search
(``2·K·S·d`` for K queries over S ring rows of width d, :attr:`Retrieved.flops`).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from curriculum_env.candidate_source import Draw, concat
from curriculum_env.data.stream import Batch
from curriculum_env.retrieval.ring import Retrieved, RingBuffer, content_keys
from curriculum_env.retrieval.window_store import WindowEmbeddings

Queries = Callable[[], "np.ndarray | None"]
"""Returns query embeddings [K, d] for the next retrieval, or None (then the candidates are fresh windows)."""


@dataclass(frozen=True)
class RetrievalConfig:
    """How :class:`RetrievalSource` fills the candidates."""

    ring_size: int = 1024
    """I, the most windows the ring holds (the oldest are overwritten)."""
    prefill: bool = False
    """``True``: at reset draw whole stream batches until the ring holds I windows (streamed, counted).
    ``False``: the ring starts from the reset's fresh batch alone, the table's budget."""
    n_ingest: int | None = None
    """Windows streamed into the ring per step: ``None``, the env's fresh batch alone (N, nothing drawn
    beyond what every agent streams); k, the fresh batch plus whole batches up to k; 0, none."""
    rule: str = "pool"
    """``pool`` (without replacement, plus fresh windows) or ``paper`` (eq. 16 and the fill; module docstring)."""
    n_fresh: int = 4
    """``pool`` rule: candidates taken from this step's fresh batch rather than retrieved."""
    top_k: int = 8
    """k, neighbours per query that the softmax samples from (eq. 16)."""
    tau: float = 0.1
    """tau_rag, temperature of the softmax over the top-k similarities (eq. 16)."""

    def __post_init__(self) -> None:
        for name in ("ring_size", "top_k"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        for name in ("n_ingest", "n_fresh"):
            value = getattr(self, name)
            if name == "n_ingest" and value is None:
                continue
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
        if not isinstance(self.prefill, bool):
            raise ValueError(f"prefill must be True or False, got {self.prefill!r}")
        if self.rule not in ("pool", "paper"):
            raise ValueError(f"rule must be 'pool' or 'paper', got {self.rule!r}")
        if self.rule == "paper" and self.n_fresh:
            raise ValueError(f"n_fresh={self.n_fresh} has no meaning under rule='paper' (every candidate is "
                             "retrieved); set n_fresh=0 or rule='pool'")
        if not (isinstance(self.tau, (int, float)) and self.tau > 0):
            raise ValueError(f"tau must be positive, got {self.tau!r}")


class RetrievalSource:
    """The env's candidates retrieved from a ring of streamed windows (module docstring)."""

    def __init__(self, store: WindowEmbeddings, queries: Queries, num_candidates: int, context_length: int,
                 config: RetrievalConfig | None = None, add_flops: Callable[[float, str], None] | None = None):
        self.config = config or RetrievalConfig()
        if self.config.rule == "pool" and self.config.n_fresh > num_candidates:
            raise ValueError(f"n_fresh={self.config.n_fresh} exceeds the env's num_candidates={num_candidates}")
        self.store, self.queries = store, queries
        self.n, self.length = int(num_candidates), int(context_length)
        self.add_flops = add_flops
        self.ring: RingBuffer | None = None
        self.rng: np.random.Generator | None = None
        self._info: dict[str, Any] = {}
        self.ingested_total = 0

    # ------------------------------------------------------------------------------------ contract
    def propose(self, fresh: Batch, draw: Draw, reset: bool) -> Batch:
        """The next N candidates (see :mod:`curriculum_env.candidate_source`)."""
        c = self.config
        t_ingest = 0.0
        if reset or self.ring is None:
            # seeded from the episode's first stream batch: a function of the env seed, no env RNG touched
            seed = int.from_bytes(hashlib.sha256(np.ascontiguousarray(fresh.ids).tobytes()).digest()[:8], "little")
            self.rng = np.random.default_rng(seed >> 1)
            self.ring = RingBuffer(c.ring_size, self.store.dim, self.length)
            self.available = np.zeros(c.ring_size, dtype=bool)
            self.ingested_total = 0
            t0 = time.perf_counter()
            more = [draw(max(0, c.ring_size - len(fresh.ids)))] if c.prefill else []
            written = self._ingest(concat([fresh, *more]))
            t_ingest = time.perf_counter() - t0
        queries = self.queries()  # timed by whoever makes them (Langevin-RAG: time/sgld)
        t0 = time.perf_counter()
        batch, picked = self._select(queries, fresh)
        t_retrieval = time.perf_counter() - t0
        if not reset:
            t0 = time.perf_counter()
            more = [draw(max(0, c.n_ingest - len(fresh.ids)))] if c.n_ingest else []
            written = self._ingest(concat([fresh, *more])) if c.n_ingest != 0 else 0
            t_ingest = time.perf_counter() - t0
        self._info.update({
            "rag/ring_size": int(self.available[: self.ring.size].sum()) if c.rule == "pool" else len(self.ring),
            "rag/ingested": int(written), "rag/ingested_total": self.ingested_total,
            "time/retrieval": t_retrieval, "time/ingest": t_ingest,
        })
        return batch

    def trained(self, ids: np.ndarray) -> None:
        """The env trained windows ``ids`` [B, L]: under ``rule="pool"`` they leave the pool for good."""
        if self.ring is not None and self.config.rule == "pool":
            self._retire(ids)

    def info(self) -> dict[str, Any]:
        """The last proposal's ``rag/*`` fields and times (module docstring)."""
        return dict(self._info)

    # ------------------------------------------------------------------------------------ internals
    def _retire(self, ids: np.ndarray) -> None:
        """Take every ring copy of windows ``ids`` [n, L] out of the pool."""
        size = self.ring.size
        self.available[:size] &= ~np.isin(self.ring.keys[:size], content_keys(ids))

    def _ingest(self, windows: Batch) -> int:
        vectors = self.store.lookup(windows.ids)
        texts = np.empty(len(windows.ids), dtype=object)  # decoded only when someone reads them
        slots = self.ring.add(vectors, windows.ids, texts, windows.source, windows.rarity, windows.length)
        self.available[slots] = True
        self.ingested_total += len(windows.ids)
        if self.add_flops is not None:
            self.add_flops(self.store.flops(len(windows.ids), self.length), "retrieval")
        return len(windows.ids)

    def _select(self, queries: np.ndarray | None, fresh: Batch) -> tuple[Batch, Retrieved | None]:
        c, n, ring = self.config, self.n, self.ring
        if queries is None:
            picked = None
        elif c.rule == "paper":
            picked = ring.retrieve(queries, c.top_k, c.tau, n, self.rng)
        else:
            picked = ring.sample(queries, n - c.n_fresh, c.top_k, c.tau, self.rng, self.available)
        if picked is not None and self.add_flops is not None:
            self.add_flops(picked.flops, "retrieval")
        k = 0 if picked is None else len(picked.slots)
        s = np.zeros(0, np.int64) if picked is None else picked.slots
        keep = np.flatnonzero(~np.isin(content_keys(fresh.ids), ring.keys[s]))[: n - k]  # fresh, not retrieved
        if k + len(keep) < n:  # the stream repeated a retrieved window: fill with the ring's oldest open slots
            spare = np.flatnonzero(~np.isin(np.arange(ring.size), s))[: n - k - len(keep)]
            s = np.concatenate([s, spare])
        ids = np.concatenate([ring.ids[s], fresh.ids[keep]])
        source = np.concatenate([ring.source[s], fresh.source[keep]])
        rarity = np.concatenate([ring.rarity[s], fresh.rarity[keep]])
        length = np.concatenate([ring.length[s], fresh.length[keep]])
        sampled = np.zeros(n, dtype=bool)
        score = np.full(n, np.nan, dtype=np.float32)
        query = np.full(n, -1, dtype=np.int64)
        if picked is not None:
            sampled[: picked.num_sampled] = picked.sampled[: picked.num_sampled]
            score[:k], query[:k] = picked.scores, picked.query
        self._info = {"rag/sampled": sampled, "rag/score": score, "rag/query": query,
                      "rag/retrieved": int(picked.num_sampled if picked is not None else 0)}
        return Batch(ids, source, rarity, length), picked
