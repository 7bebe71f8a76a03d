"""Langevin-RAG that retrieves what Q values: the soft-Q agent choosing among windows retrieved for its Q.

The paper's Langevin-RAG (§3, Algorithm 2; the ``langevin_rag_paper`` row,
:mod:`agents.langevin_rag_paper`) searches for data with SGLD on Q and retrieves the real windows
nearest to the decoded chains. This agent keeps the search -- a ring of I streamed windows, retrieval
by sentence-embedding similarity, eq. 16's softmax over each query's top-k -- and changes what the
queries are and who learns Q:

- **One Q learner.** The candidates are chosen by the package's registered ``soft_q``
  (:class:`agents.soft_q_cheap.CheapSoftQAgent`, any of its options can be overridden here): Q on cheap
  per-candidate inputs, credit on the trained windows, the normalised soft Bellman update (eqs. 3-6),
  Boltzmann selection of the B trained windows. Its Q means what soft-Q's Q means, because it is soft-Q's Q;
  like it, the chooser runs no LM forward of the candidates.
- **Queries are real windows of high Q.** After acting, the embeddings of the ``queries`` candidates
  with the highest Q become the queries; the env's next candidates (through the env's candidate-source
  hook, :class:`~curriculum_env.retrieval.source.RetrievalSource`, ``rule="pool"``) are ``N - n_fresh``
  ring windows retrieved for them, without replacement, plus ``n_fresh`` windows of the fresh stream
  batch (exploration: Q also sees what the queries would never reach). Embeddings are looked up, not
  computed: each task's windows are embedded once and cached (:mod:`curriculum_env.retrieval.window_store`).

Equal compute: the env trains exactly B of the N candidates, as for every agent; the ring costs no
gradient step. **Equal stream**: by default the ring holds only windows every agent is streamed -- the
reset's N and each step's fresh N (``prefill=False``, ``n_ingest=None``) -- so ``examples_streamed`` is
the table's, and under the wide track (``num_candidates=W``) the ring fills from the same W. Its memory
is what it adds: a window proposed but not trained stays retrievable, a trained one leaves the pool.
``prefill=True`` (fill the ring to ``ring_size`` at reset) and ``n_ingest=k`` (k windows a step) stream
more, all counted in ``examples_streamed``; the metrics ``rag/ring_size`` (windows retrievable now) and
``rag/ingested_total`` say how many it looked at; ``retrieved/<source>`` is each source's share of the
retrieved candidates.

**FLOPs** (2 per multiply-add, :mod:`curriculum_env.flops`): the soft-Q chooser's inputs and Q-network
(:mod:`agents.soft_q_cheap`) and the ridge query go to ``flops/agent`` -- the Gram matrix ``2·m·d²`` and
``2·m·d`` for X^T y over the m remembered rows, the d x d solve ``2/3·d³ + 2·d²``, the ring's scores under
w ``2·S·d`` for S ring rows; the ring's similarity searches (``2·K·S·d``) and the embedder (every window
written into the ring: zero for the hashed n-gram embedder, which has no model; ``embedder="minilm"``
charges all-MiniLM-L6-v2's 2·P per token) go to ``flops/retrieval``.

Not saved by :meth:`state_dict`: the ring (the env's candidate source); resuming restores Q and the
learner, and the ring refills from the stream at the next reset.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch

from agents.base import source_mass
from curriculum_env.config_rules import positive_int
from curriculum_env.flops import matmul_flops, solve_flops
from curriculum_env.retrieval.embedder import make_embedder
from curriculum_env.retrieval.source import RetrievalConfig, RetrievalSource
from curriculum_env.retrieval.window_store import WindowEmbeddings


class LangevinRAGAgent:
    """Soft-Q selection among windows retrieved from a ring for the soft-Q agent's highest-Q candidates."""

    name = "langevin_rag"
    action_mode = "mixture"

    def __init__(self, embedder: str = "hash-256", ring_size: int = 1024, n_ingest: int | None = None,
                 prefill: bool = False, n_fresh: int = 4, top_k: int = 8, tau_rag: float = 0.1,
                 query: str = "regression", queries: int = 4, memory: int = 512, ridge: float = 1.0,
                 progress: bool = False, chooser: str = "soft_q", **soft_q: Any):
        """Retrieval options (see :class:`~curriculum_env.retrieval.source.RetrievalConfig`), ``queries``
        (how many of the highest-Q candidates query the ring each step; ``prefill`` and ``n_ingest`` stream
        more than the table's N per step, see the module docstring) and ``embedder``
        (:func:`~curriculum_env.retrieval.embedder.make_embedder`); every other keyword is a soft-Q
        option, over the registered preset ``chooser`` (``soft_q``; ``soft_q_lm``: the LM-reading chooser)."""
        from agents import make_agent  # the registered chooser, whose options these override

        if chooser not in ("soft_q", "soft_q_lm"):
            raise ValueError(f"chooser must be 'soft_q' or 'soft_q_lm', got {chooser!r}")

        positive_int(queries=queries, memory=memory)
        if query not in ("regression", "windows"):
            raise ValueError(f"query must be 'regression' or 'windows', got {query!r}")
        if not ridge > 0:
            raise ValueError(f"ridge must be > 0, got {ridge!r}")
        self.query, self.memory, self.ridge = query, memory, float(ridge)
        self.retrieval = RetrievalConfig(ring_size=ring_size, prefill=prefill, n_ingest=n_ingest, rule="pool",
                                         n_fresh=n_fresh, top_k=top_k, tau=tau_rag)
        make_embedder(embedder)  # refuse an unknown embedder now, not in a worker
        self.embedder_name, self.n_queries, self.progress = embedder, queries, progress
        self.chooser = make_agent(chooser, **soft_q)
        self.source: RetrievalSource | None = None
        self._queries: np.ndarray | None = None
        self._metrics: dict[str, float] = {}

    @property
    def env_kwargs(self) -> dict[str, Any]:
        """The soft-Q chooser's env config (no scoring forward, no reward, no observation)."""
        return self.chooser.env_kwargs

    @property
    def queries(self) -> np.ndarray | None:
        """The embeddings [K, d] the next retrieval queries the ring with (None before the first act)."""
        return self._queries

    @property
    def last_q(self) -> np.ndarray | None:
        """Q [N] of the candidates last acted on (the soft-Q chooser's)."""
        return self.chooser.last_q

    def setup(self, env: gym.Env, seed: int) -> None:
        """Set up the soft-Q chooser, embed the task's windows (cached) and install the retrieval source."""
        self.chooser.setup(env, seed)
        base = env.unwrapped
        self.learner = base.learner  # where the ridge query's FLOPs go
        store = WindowEmbeddings(base.data, make_embedder(self.embedder_name), base.config.cache_dir, self.progress)
        self.source = RetrievalSource(store, lambda: self._queries, base.config.num_candidates,
                                      base.config.context_length, self.retrieval, base.learner.add_flops)
        base.set_candidate_source(self.source)
        self.labels = list(base.data.stream_pools)
        self._mem_e = np.zeros((0, store.dim))  # embeddings and z-scored Q of recent candidates (query="regression")
        self._mem_y = np.zeros(0)
        self._queries = None  # the reset's candidates are the stream's; queries start after the first act

    def act(self, obs: np.ndarray, info: dict[str, Any]) -> Any:
        """The soft-Q chooser's weights; the ``queries`` highest-Q candidates become the next queries."""
        if self.source is None:
            raise RuntimeError("call setup(env, seed) before act()")
        weights = self.chooser.act(obs, info)
        q = np.asarray(self.chooser.last_q, dtype=np.float64)
        if self.query == "windows":
            top = np.argsort(-q, kind="stable")[: self.n_queries]
            self._queries = self.source.store.lookup(np.asarray(info["token_ids"])[top])
        else:
            self._queries = self._regression_query(self.source.store.lookup(np.asarray(info["token_ids"])), q)
        self._metrics = self._shares(info)
        return weights

    def _regression_query(self, e: np.ndarray, q: np.ndarray) -> np.ndarray:
        """One query w [1, d]: ridge regression of Q (z-scored per batch) on the embeddings of the last
        ``memory`` candidates, so w·e ranks ring windows as Q would; scaled to unit std over the ring so
        that tau_rag is in standard deviations of that score."""
        y = (q - q.mean()) / (q.std() + 1e-12)
        self._mem_e = np.concatenate([self._mem_e, e])[-self.memory:]
        self._mem_y = np.concatenate([self._mem_y, y])[-self.memory:]
        # in torch (float64): it honours the run's thread count, where numpy's BLAS would spin its own threads
        x = torch.from_numpy(self._mem_e).double()
        x = x - x.mean(0)
        gram = x.T @ x
        gram.diagonal().add_(self.ridge)
        w = torch.linalg.solve(gram, x.T @ torch.from_numpy(self._mem_y).double()).numpy()
        m, d = x.shape
        flops = matmul_flops(d, m, d) + matmul_flops(d, m, 1) + solve_flops(d)  # X^T X, X^T y, the solve
        ring = self.source.ring
        spread = 0.0
        if ring is not None and ring.size > 1:
            spread = float((torch.from_numpy(ring.vectors[: ring.size]) @ torch.from_numpy(w).float()).std())
            flops += matmul_flops(ring.size, d, 1)  # the ring's scores under w
        self.learner.add_flops(flops, "agent")
        return (w / spread if spread > 0 else w)[None].astype(np.float32)

    def _shares(self, info: dict[str, Any]) -> dict[str, float]:
        """``retrieved/<source>``: each source's share of the retrieved candidates, plus the ring's counters."""
        out = {k: float(info[k]) for k in ("rag/ring_size", "rag/ingested_total", "rag/retrieved") if k in info}
        sampled = np.asarray(info.get("rag/sampled", ()), dtype=bool)
        if sampled.any():
            mass = source_mass(sampled.astype(np.float64), np.asarray(info["source"]))
            out.update({f"retrieved/{s}": mass.get(f"mass/{s}", 0.0) for s in self.labels})
        return out

    def observe(self, reward: float, obs: np.ndarray, info: dict[str, Any], terminated: bool,
                truncated: bool) -> None:
        self.chooser.observe(reward, obs, info, terminated, truncated)

    def metrics(self) -> dict[str, float]:
        return {**self.chooser.metrics(), **self._metrics}

    def state_dict(self) -> dict[str, Any]:
        queries = None if self._queries is None else self._queries.copy()
        return {"chooser": self.chooser.state_dict(), "queries": queries, "memory": (self._mem_e.copy(),
                                                                                      self._mem_y.copy())}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.chooser.load_state_dict(state["chooser"])
        self._queries = None if state["queries"] is None else np.array(state["queries"], dtype=np.float32)
        self._mem_e, self._mem_y = (np.array(a) for a in state["memory"])
