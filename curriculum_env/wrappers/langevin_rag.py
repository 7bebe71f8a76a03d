"""Langevin-RAG: search the whole training stream for data the Q-function values (paper §3, Algorithm 2).

Each step the wrapper (1) runs logit-space SGLD with any Q-function as energy
(:mod:`curriculum_env.wrappers.sgld`), (2) decodes the argmax tokens, embeds them with
all-MiniLM-L6-v2 and retrieves real training windows from a FAISS inner-product ring buffer,
(3) makes the retrieved windows the env's current candidates, which the next ``step`` trains on,
and (4) refreshes the ring with fresh windows from the env's stream.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from curriculum_env.retrieval.embedder import Embedder, embed_cached, make_embedder
from curriculum_env.retrieval.ring import RingBuffer
from curriculum_env.walltime import WallTime
from curriculum_env.wrappers.sgld import LogitSGLD, SGLDConfig


@dataclass
class LangevinRAGConfig:
    """Langevin-RAG settings. ``(paper)`` marks the paper's values; the others are CPU defaults."""

    sgld: SGLDConfig = field(default_factory=SGLDConfig)
    """Logit-space SGLD hyperparameters (K, L, T_max, epsilon, sigma, tau_sld, tau_start/end, G)."""
    buffer_size: int = 2000
    """I, windows in the ring buffer (paper 50,000; 2,000 embeds in ~20 s on one CPU core, then cached)."""
    n_ingest: int = 100
    """Fresh stream windows written into the ring per step (paper), rounded up to whole env batches."""
    top_k: int = 10
    """k, neighbours searched per query before softmax sampling (CPU default; the paper gives none)."""
    tau_rag: float = 0.1
    """tau_rag, temperature of the softmax over the top-k similarity scores (eq. 16; paper)."""
    embedder: str = "all-MiniLM-L6-v2"
    """Sentence embedder (paper: all-MiniLM-L6-v2, d_st = 384); ``hash`` is a fast non-semantic stand-in."""
    embed_batch: int = 64
    """Texts per sentence-embedder batch."""
    cache_embeddings: bool = True
    """Cache the initial buffer's embeddings under the env cache dir, keyed by content and embedder."""
    progress: bool = True
    """Show a tqdm bar while embedding the initial buffer."""

    def __post_init__(self) -> None:
        if isinstance(self.sgld, dict):
            self.sgld = SGLDConfig(**self.sgld)
        for name in ("buffer_size", "top_k", "embed_batch"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not isinstance(self.n_ingest, int) or self.n_ingest < 0:
            raise ValueError(f"n_ingest must be a non-negative integer, got {self.n_ingest!r}")
        if not (isinstance(self.tau_rag, (int, float)) and self.tau_rag > 0):
            raise ValueError(f"tau_rag must be positive, got {self.tau_rag!r}")


class LangevinRAG(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Replace each step's streamed candidates by windows retrieved for SGLD queries (Algorithm 2).

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

    **Where windows come from.** Every window in the ring comes from the env's own training
    stream, ``env.unwrapped.stream.next_batch()``: at reset the env's first batch plus further
    batches until I windows; each step the batch the env streamed after its update plus
    ``ceil(n_ingest / N) - 1`` further batches. So the stream's "each window at most once per
    epoch" holds for what enters the ring, the windows stay disjoint from D and the test split, and
    ``info["examples_streamed"]`` counts them all. A window can be retrieved again while it stays in
    the ring (I / n_ingest steps), as in the paper. Retrieval happens before the refresh (Algorithm
    2 lines 17-18).

    **Randomness.** SGLD draws from a ``torch.Generator`` and retrieval from a numpy generator,
    both seeded at every reset from a hash of the env's ``np_random`` state (which the wrapper
    never advances), so runs are reproducible from the env seed and the env's own draws (the
    reward subsets) are exactly those of an unwrapped run.

    **Info** adds ``langevin/*`` SGLD diagnostics (§3.6: ``q_init``, ``q_final``, ``q_gain``,
    ``q_random``, ``q_tokens``, ``entropy``, ``max_prob`` at tau_end, ``cosine``, ``jaccard``,
    ``grad_norm``, ``clip_fraction``), ``rag/*`` (``retrieved`` R, ``sampled`` [N], ``score`` [N],
    ``query`` [N], ``slot`` [N], ``queries`` texts [K], ``ring_size``, ``ingested``) and wall times
    ``time/sgld``, ``time/retrieval``, ``time/ingest``, ``time/lm`` (= ``time/update``) and
    ``time/reward``.

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
        if not hasattr(env.unwrapped, "set_candidates") or not hasattr(env.unwrapped, "learner"):
            raise TypeError(f"LangevinRAG wraps a CurriculumSelect-v0 env, got {type(env.unwrapped).__name__}")
        if config is None:
            config = LangevinRAGConfig(**kwargs)
        elif kwargs:
            raise TypeError("give either config or keyword settings, not both")
        self.config = config
        base = env.unwrapped
        self.n = int(base.config.num_candidates)
        self.num_chains = config.sgld.num_chains or self.n
        if config.sgld.query_length > base.config.context_length:
            raise ValueError(f"query_length {config.sgld.query_length} exceeds the env's context_length "
                             f"{base.config.context_length}")
        self.q_fn = q_fn
        self.embedder = embedder if embedder is not None else make_embedder(config.embedder)
        self.sgld = LogitSGLD(base.learner, config.sgld)
        self.ring: RingBuffer | None = None
        self._torch_gen: torch.Generator | None = None
        self._rng: np.random.Generator | None = None

    # ------------------------------------------------------------------------------------ helpers
    def _seed_generators(self) -> None:
        state = repr(self.env.unwrapped.np_random.bit_generator.state).encode()
        seed = int.from_bytes(hashlib.sha256(state).digest()[:8], "little") >> 1
        device = self.env.unwrapped.learner.input_embeddings.device
        self._torch_gen = torch.Generator(device=device).manual_seed(seed)
        self._rng = np.random.default_rng(seed)

    def _stream(self, first: dict[str, Any] | None, count: int) -> dict[str, np.ndarray]:
        """``first`` (the env's freshly streamed batch, from its info) plus stream batches to >= ``count``."""
        parts = []
        if first is not None:
            parts.append((first["token_ids"], first["source"], first["rarity"], first["length"]))
        stream = self.env.unwrapped.stream
        while sum(len(p[0]) for p in parts) < count:
            b = stream.next_batch()
            parts.append((b.ids, b.source, b.rarity, b.length))
        ids, source, rarity, length = (np.concatenate(col) for col in zip(*parts, strict=True))
        return {"ids": ids, "source": source, "rarity": rarity, "length": length}

    def _ingest(self, windows: dict[str, np.ndarray], initial: bool) -> None:
        texts = self.env.unwrapped.learner.tokenizer.batch_decode(windows["ids"].tolist())
        if initial and self.config.cache_embeddings:
            vectors = embed_cached(self.embedder, texts, self.env.unwrapped.config.cache_dir,
                                   self.config.embed_batch, self.config.progress)
        else:
            vectors = self.embedder.encode(texts)
        self.ring.add(vectors, windows["ids"], texts, windows["source"], windows["rarity"], windows["length"])

    def _select(self) -> tuple[np.ndarray, dict[str, Any], dict[str, Any]]:
        """SGLD -> argmax tokens -> retrieval -> the env's new candidates; returns (obs, info, extra)."""
        if self.q_fn is None:
            raise RuntimeError("LangevinRAG needs q_fn (hidden states [B, d] -> Q [B]) before reset/step")
        base = self.env.unwrapped
        t0 = time.perf_counter()
        result = self.sgld.run(self.q_fn, self._torch_gen, self.num_chains)  # §3.2, eq. 15
        t_sgld = time.perf_counter() - t0
        t0 = time.perf_counter()
        queries = np.asarray(base.learner.tokenizer.batch_decode(result.tokens.cpu().tolist()), dtype=object)
        picked = self.ring.retrieve(self.embedder.encode(list(queries)), self.config.top_k,
                                    self.config.tau_rag, self.n, self._rng)  # eq. 16 + fill to N
        t_retrieval = time.perf_counter() - t0
        s = picked.slots
        obs, info = base.set_candidates(self.ring.ids[s], self.ring.source[s], self.ring.rarity[s], self.ring.length[s])
        extra = {
            **result.diagnostics(),
            "rag/retrieved": picked.num_sampled,
            "rag/sampled": picked.sampled,
            "rag/score": picked.scores,
            "rag/query": picked.query,
            "rag/slot": s,
            "rag/queries": queries,
            "rag/ring_size": len(self.ring),
            "time/sgld": WallTime(t_sgld),
            "time/retrieval": WallTime(t_retrieval),
        }
        return obs, info, extra

    # ------------------------------------------------------------------------------------ API
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Reset the env, fill the ring with I stream windows (cached embeddings), retrieve the first candidates."""
        _, info = self.env.reset(seed=seed, options=options)
        self._seed_generators()
        base = self.env.unwrapped
        self.ring = RingBuffer(self.config.buffer_size, self.embedder.dim, base.config.context_length)
        t0 = time.perf_counter()
        self._ingest(self._stream(info, self.config.buffer_size), initial=True)
        t_ingest = time.perf_counter() - t0
        obs, info, extra = self._select()
        info.update(extra, **{"rag/ingested": len(self.ring), "time/ingest": WallTime(t_ingest),
                              "time/lm": WallTime(0.0)})
        return obs, info

    def step(self, action: Any):
        """Train on the current (retrieved) candidates, then retrieve the next ones and refresh the ring."""
        obs, reward, terminated, truncated, info = self.env.step(action)
        info["time/lm"] = info["time/update"]
        if terminated:  # training diverged: the env kept its candidates; nothing more to do
            return obs, reward, terminated, truncated, info
        fresh = {k: info[k] for k in ("token_ids", "source", "rarity", "length")}
        obs, new_info, extra = self._select()  # retrieve before the refresh (Algorithm 2, lines 17-18)
        t0 = time.perf_counter()
        ingested = 0
        if self.config.n_ingest:
            windows = self._stream(fresh, self.config.n_ingest)
            self._ingest(windows, initial=False)
            ingested = len(windows["ids"])
        t_ingest = time.perf_counter() - t0
        new_info.update({k: info[k] for k in info if k not in new_info}, **extra)
        new_info.update({"rag/ingested": ingested, "time/ingest": WallTime(t_ingest), "time/lm": info["time/update"],
                         "examples_streamed": self.env.unwrapped.stream.examples_streamed})
        return obs, reward, terminated, truncated, new_info

