"""Langevin-RAG that retrieves what Q values: the soft-Q agent choosing among windows retrieved for its Q.

The paper's Langevin-RAG (§3, Algorithm 2; the ``langevin_rag_paper`` row,
:mod:`agents.langevin_rag_paper`) searches for data with SGLD on Q and retrieves the real windows
nearest to the decoded chains. This agent keeps the search -- a ring of I streamed windows, retrieval
by sentence-embedding similarity, eq. 16's softmax over each query's top-k -- and changes what the
queries are and who learns Q:

- **One Q learner.** The candidates are chosen by the package's soft-Q agent (:class:`agents.soft_q.SoftQAgent`
  with the registered ``soft_q`` options, any of which can be overridden here): Q on per-candidate
  features, learnability credit, the normalised soft Bellman update (eqs. 3-6), Boltzmann selection of
  the B trained windows. Its Q means what soft-Q's Q means, because it is soft-Q's Q.
- **Queries are real windows of high Q.** After acting, the embeddings of the ``queries`` candidates
  with the highest Q become the queries; the env's next candidates (through the env's candidate-source
  hook, :class:`~curriculum_env.retrieval.source.RetrievalSource`, ``rule="pool"``) are ``N - n_fresh``
  ring windows retrieved for them, without replacement, plus ``n_fresh`` windows of the fresh stream
  batch (exploration: Q also sees what the queries would never reach). Embeddings are looked up, not
  computed: each task's windows are embedded once and cached (:mod:`curriculum_env.retrieval.window_store`).

Equal compute: the env trains exactly B of the N candidates, as for every agent; the ring costs no
gradient step. ``info["examples_streamed"]`` counts every window that entered the ring, and the
metrics ``rag/ring_size`` (windows retrievable now) and ``rag/ingested_total`` say how many it looked
at; ``retrieved/<source>`` is each source's share of the retrieved candidates. The embedder's FLOPs for
every window written into the ring are in ``flops/retrieval`` (zero for the hashed n-gram embedder,
which has no model; ``embedder="minilm"`` charges all-MiniLM-L6-v2's 2·P per token).

Not saved by :meth:`state_dict`: the ring (the env's candidate source); resuming restores Q and the
learner, and the ring refills from the stream at the next reset.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from agents.soft_q import SoftQAgent
from curriculum_env.retrieval.embedder import make_embedder
from curriculum_env.retrieval.source import RetrievalConfig, RetrievalSource
from curriculum_env.retrieval.window_store import WindowEmbeddings


class LangevinRAGAgent:
    """Soft-Q selection among windows retrieved from a ring for the soft-Q agent's highest-Q candidates."""

    name = "langevin_rag"
    action_mode = "mixture"

    def __init__(self, embedder: str = "hash-256", ring_size: int = 1024, n_ingest: int = 16, n_fresh: int = 4,
                 top_k: int = 8, tau_rag: float = 0.1, queries: int = 4, progress: bool = False,
                 **soft_q: Any):
        """Retrieval options (see :class:`~curriculum_env.retrieval.source.RetrievalConfig`), ``queries``
        (how many of the highest-Q candidates query the ring each step) and ``embedder``
        (:func:`~curriculum_env.retrieval.embedder.make_embedder`); every other keyword is a soft-Q
        option, over the registered ``soft_q`` preset."""
        from agents import SOFT_Q  # the registered default soft-Q options

        if not isinstance(queries, int) or isinstance(queries, bool) or queries < 1:
            raise ValueError(f"queries must be a positive integer, got {queries!r}")
        self.retrieval = RetrievalConfig(ring_size=ring_size, n_ingest=n_ingest, rule="pool", n_fresh=n_fresh,
                                         top_k=top_k, tau=tau_rag)
        make_embedder(embedder)  # refuse an unknown embedder now, not in a worker
        self.embedder_name, self.n_queries, self.progress = embedder, queries, progress
        self.chooser = SoftQAgent(**{**SOFT_Q, **soft_q})
        self.source: RetrievalSource | None = None
        self._queries: np.ndarray | None = None
        self._metrics: dict[str, float] = {}

    @property
    def env_kwargs(self) -> dict[str, Any]:
        """The soft-Q chooser's env config (per-candidate statistics, no hidden states)."""
        return self.chooser.env_kwargs

    @property
    def last_q(self) -> np.ndarray | None:
        """Q [N] of the candidates last acted on (the soft-Q chooser's)."""
        return self.chooser.last_q

    def setup(self, env: gym.Env, seed: int) -> None:
        """Set up the soft-Q chooser, embed the task's windows (cached) and install the retrieval source."""
        self.chooser.setup(env, seed)
        base = env.unwrapped
        store = WindowEmbeddings(base.data, make_embedder(self.embedder_name), base.config.cache_dir, self.progress)
        self.source = RetrievalSource(store, lambda: self._queries, base.config.num_candidates,
                                      base.config.context_length, self.retrieval, base.learner.add_flops)
        base.set_candidate_source(self.source)
        self.labels = list(base.data.stream_pools)
        self._queries = None  # the reset's candidates are the stream's; queries start after the first act

    def act(self, obs: np.ndarray, info: dict[str, Any]) -> Any:
        """The soft-Q chooser's weights; the ``queries`` highest-Q candidates become the next queries."""
        if self.source is None:
            raise RuntimeError("call setup(env, seed) before act()")
        weights = self.chooser.act(obs, info)
        top = np.argsort(-np.asarray(self.chooser.last_q), kind="stable")[: self.n_queries]
        self._queries = self.source.store.lookup(np.asarray(info["token_ids"])[top])
        self._metrics = self._shares(info)
        return weights

    def _shares(self, info: dict[str, Any]) -> dict[str, float]:
        """``retrieved/<source>``: each source's share of the retrieved candidates, plus the ring's counters."""
        out = {k: float(info[k]) for k in ("rag/ring_size", "rag/ingested_total", "rag/retrieved") if k in info}
        sampled = np.asarray(info.get("rag/sampled", ()), dtype=bool)
        if sampled.any():
            labels = np.asarray(info["source"])[sampled]
            out.update({f"retrieved/{s}": float(np.mean(labels == s)) for s in self.labels})
        return out

    def observe(self, reward: float, obs: np.ndarray, info: dict[str, Any], terminated: bool,
                truncated: bool) -> None:
        self.chooser.observe(reward, obs, info, terminated, truncated)

    def metrics(self) -> dict[str, float]:
        return {**self.chooser.metrics(), **self._metrics}

    def state_dict(self) -> dict[str, Any]:
        return {"chooser": self.chooser.state_dict(), "queries": None if self._queries is None else self._queries.copy()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.chooser.load_state_dict(state["chooser"])
        self._queries = None if state["queries"] is None else np.array(state["queries"], dtype=np.float32)
