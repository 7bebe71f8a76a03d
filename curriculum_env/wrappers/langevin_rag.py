"""Langevin-RAG: search the whole training stream for data the Q-function values (paper §3, Algorithm 2).

After every update (and at reset) the wrapper's candidate source (1) runs logit-space SGLD with any
Q-function as energy (:mod:`curriculum_env.wrappers.sgld`) through the updated LM, (2) decodes the argmax
tokens, embeds them with all-MiniLM-L6-v2 and retrieves real training windows from a ring buffer by
inner product (eq. 16), which become the env's candidates, and (3) refreshes the ring with windows the
env streamed for it (:class:`~curriculum_env.retrieval.source.RetrievalSource`, installed through the
env's public ``set_candidate_source``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from curriculum_env.retrieval.embedder import Embedder, make_embedder
from curriculum_env.retrieval.source import RetrievalConfig, RetrievalSource
from curriculum_env.retrieval.window_store import WindowEmbeddings
from curriculum_env.wrappers.sgld import LogitSGLD, SGLDConfig


@dataclass
class LangevinRAGConfig:
    """Langevin-RAG settings. ``(paper)`` marks the paper's values; the others are CPU defaults."""

    sgld: SGLDConfig = field(default_factory=SGLDConfig)
    """Logit-space SGLD hyperparameters (K, L, T_max, epsilon, sigma, tau_sld, tau_start/end, G)."""
    buffer_size: int = 2000
    """I, windows in the ring buffer (paper 50,000)."""
    n_ingest: int = 100
    """Fresh stream windows written into the ring per step (paper), rounded up to whole env batches."""
    top_k: int = 10
    """k, neighbours searched per query before softmax sampling (CPU default; the paper gives none)."""
    tau_rag: float = 0.1
    """tau_rag, temperature of the softmax over the top-k similarity scores (eq. 16; paper)."""
    embedder: str = "all-MiniLM-L6-v2"
    """Sentence embedder (paper: all-MiniLM-L6-v2, d_st = 384); ``hash`` is a fast non-semantic stand-in."""
    progress: bool = True
    """Show a tqdm bar while a task's windows are embedded (once per task and embedder, then cached)."""

    def __post_init__(self) -> None:
        if isinstance(self.sgld, dict):
            self.sgld = SGLDConfig(**self.sgld)
        for name in ("buffer_size", "top_k"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not isinstance(self.n_ingest, int) or self.n_ingest < 0:
            raise ValueError(f"n_ingest must be a non-negative integer, got {self.n_ingest!r}")
        if not (isinstance(self.tau_rag, (int, float)) and self.tau_rag > 0):
            raise ValueError(f"tau_rag must be positive, got {self.tau_rag!r}")


class LangevinRAG(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Make each step's candidates the windows retrieved for SGLD queries (Algorithm 2).

    Wraps a ``CurriculumSelect-v0`` env (any wrappers around it are fine). The spaces are the
    env's: the candidates are always exactly N = ``num_candidates`` distinct windows, so the
    observation is ``[N, d]`` hidden states of the retrieved windows and the action weights them
    (uniform or Q-weighted loss is the agent's choice). The reward and everything the Q update
    needs are unchanged (off-policy, §3.5).

    **q_fn**: any callable mapping hidden states ``[B, d]`` (float32 torch tensor) to Q-values
    ``[B]`` or ``[B, 1]``, differentiable in its input (e.g. an ``nn.Module``); set it at
    construction or later through ``wrapper.q_fn``. SGLD evaluates it on the current LM.

    **Retrieval and the fixed size.** K = ``sgld.num_chains`` queries (default N) each
    softmax-sample one of their top-k neighbours (eq. 16); results are deduplicated by content to
    R <= K windows, marked ``info["rag/sampled"]``. The remaining N - R places are filled with the
    best-scoring unused neighbours of all queries, so an agent that wants the paper's set trains
    only on the sampled ones (weights 0 elsewhere).

    **Where windows come from.** Every window in the ring is one the env streamed for the source
    (:mod:`curriculum_env.candidate_source`): at reset its first batch plus further batches until I
    windows; each step its fresh batch plus ``ceil(n_ingest / N) - 1`` further batches. So the
    windows stay disjoint from D and the test split, and ``info["examples_streamed"]`` counts them
    all: with the defaults (I = 2,000, n_ingest = 100) and N = 16, 2,000 windows at reset and 112 a
    step, seven times the N a step an unwrapped env streams -- the paper's Algorithm 2, not the
    benchmark's equal stream (the ``langevin_rag`` agent streams the table's N). Each window is
    embedded once per task and embedder (cached on disk,
    :class:`~curriculum_env.retrieval.window_store.WindowEmbeddings`); the embedder's FLOPs per
    window written into the ring and the similarity searches are charged to ``flops/retrieval``, and
    SGLD's forward/backward passes through the LM to ``flops/sgld``. A window can be retrieved again
    while it stays in the ring (I / n_ingest steps), as in the paper.

    **Randomness.** SGLD draws from a ``torch.Generator`` and retrieval from a numpy generator, both
    seeded at every reset from a hash of the episode's first stream batch, so runs are reproducible
    from the env seed and the env's own draws (the reward subsets) are exactly those of an unwrapped run.

    **Info** adds ``langevin/*`` SGLD diagnostics (§3.6: ``q_init``, ``q_final``, ``q_gain``,
    ``q_random``, ``q_tokens``, ``entropy``, ``max_prob`` at tau_end, ``cosine``, ``jaccard``,
    ``grad_norm``, ``clip_fraction``), ``rag/queries`` (the K decoded query texts), the source's ``rag/*``
    fields (:mod:`curriculum_env.retrieval.source`) and, with the env's ``timings=True``, wall times
    ``time/sgld``, ``time/retrieval``, ``time/ingest``.

    Example::

        env = LangevinRAG(gym.make("CurriculumSelect-v0"), q_fn=torch.nn.Linear(64, 1))
        obs, info = env.reset(seed=0)
        obs, reward, terminated, truncated, info = env.step(np.ones(16, np.float32))
    """

    def __init__(self, env: gym.Env, q_fn: Callable[[torch.Tensor], torch.Tensor] | None = None,
                 config: LangevinRAGConfig | None = None, embedder: Embedder | None = None, **kwargs: Any):
        gym.utils.RecordConstructorArgs.__init__(self, q_fn=q_fn, config=config, embedder=embedder,
                                                 _disable_deepcopy=True, **kwargs)
        gym.Wrapper.__init__(self, env)
        base = env.unwrapped
        if not hasattr(base, "set_candidate_source") or not hasattr(base, "learner"):
            raise TypeError(f"LangevinRAG wraps a CurriculumSelect-v0 env, got {type(base).__name__}")
        if config is None:
            config = LangevinRAGConfig(**kwargs)
        elif kwargs:
            raise TypeError("give either config or keyword settings, not both")
        self.config = config
        self.n = int(base.config.num_candidates)
        self.num_chains = config.sgld.num_chains or self.n
        if config.sgld.query_length > base.config.context_length:
            raise ValueError(f"query_length {config.sgld.query_length} exceeds the env's context_length "
                             f"{base.config.context_length}")
        self.q_fn = q_fn
        self.embedder = embedder if embedder is not None else make_embedder(config.embedder)
        self.sgld = LogitSGLD(base.learner, config.sgld)
        store = WindowEmbeddings(base.data, self.embedder, base.config.cache_dir, config.progress)
        # the paper's stream: the ring filled to I at reset and n_ingest windows a step (counted as streamed)
        retrieval = RetrievalConfig(ring_size=config.buffer_size, prefill=True, n_ingest=config.n_ingest,
                                    rule="paper", n_fresh=0, top_k=config.top_k, tau=config.tau_rag)
        self.source = RetrievalSource(store, self._queries, self.n, base.config.context_length, retrieval,
                                      base.learner.add_flops)
        base.set_candidate_source(self.source)
        self._torch_gen: torch.Generator | None = None
        self._extra: dict[str, Any] = {}

    @property
    def ring(self):
        """The source's ring buffer (:class:`~curriculum_env.retrieval.ring.RingBuffer`)."""
        return self.source.ring

    def _queries(self) -> np.ndarray:
        """SGLD through the current LM -> argmax tokens -> their sentence embeddings [K, d] (eq. 15)."""
        learner = self.env.unwrapped.learner
        if self._torch_gen is None:  # a new episode: the source has just seeded its generator
            seed = int(self.source.rng.integers(2**62))
            self._torch_gen = torch.Generator(device=learner.input_embeddings.device).manual_seed(seed)
        t0 = time.perf_counter()
        with learner.flops.phase("sgld"):
            result = self.sgld.run(self.q_fn, self._torch_gen, self.num_chains)
        t_sgld = time.perf_counter() - t0
        queries = np.asarray(learner.tokenizer.batch_decode(result.tokens.cpu().tolist()), dtype=object)
        self._extra = {**result.diagnostics(), "rag/queries": queries,
                       **({"time/sgld": t_sgld} if self.unwrapped.config.timings else {})}
        learner.add_flops(self.source.store.flops(len(queries), self.config.sgld.query_length), "retrieval")
        return self.embedder.encode(list(queries))

    def _with_extra(self, info: dict[str, Any]) -> dict[str, Any]:
        info.update(self._extra)
        return info

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Reset the env; its source fills the ring with I stream windows and retrieves the first candidates."""
        self._need_q_fn()
        self._torch_gen = None
        obs, info = self.env.reset(seed=seed, options=options)
        return obs, self._with_extra(info)

    def step(self, action: Any):
        """Train on the current (retrieved) candidates; the source retrieves the next ones and refreshes the ring."""
        self._need_q_fn()
        obs, reward, terminated, truncated, info = self.env.step(action)
        return obs, reward, terminated, truncated, self._with_extra(info)

    def _need_q_fn(self) -> None:
        if self.q_fn is None:
            raise RuntimeError("LangevinRAG needs q_fn (hidden states [B, d] -> Q [B]) before reset/step")

    def close(self):
        self.env.unwrapped.set_candidate_source(None)
        super().close()
