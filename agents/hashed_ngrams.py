"""Hashed unigram + bigram features of token-id windows, and the agent plumbing of the cheap rules that
score windows by them (DSIR's importance weights, :mod:`agents.dsir`; the fastText-style classifier,
:mod:`agents.classifier`).

**Features.** A window ``x`` of L token ids has L unigrams ``a`` and L - 1 bigrams ``(a, b)``; each is
hashed into one of ``buckets`` bins (DSIR, Xie et al. 2023, Sec. 4: "hashed n-gram features"), so a
window is the bag of its ``F = 2L - 1`` bucket indices whatever the vocabulary. Unigrams and bigrams
get disjoint keys (``2a`` and ``2(a·2^32 + b) + 1``, token ids below 2^31), then one multiplicative
(Fibonacci) hash: ``bucket = ((key · 0x9E3779B97F4A7C15) mod 2^64 >> 32) mod buckets``. Collisions only
merge features. Hashing is integer work, counted as no FLOPs (as the env counts no tokenizer work).

**FLOPs** of the agents built on :class:`HashedNgramAgent` are their own, counted at 2 FLOPs per
multiply-add like the env's (:mod:`curriculum_env.flops`) and charged to the run's ``agent`` phase
with ``env.unwrapped.learner.add_flops`` at the end of each ``act``; what :meth:`HashedNgramAgent.setup`
spends (fitting on D) is held as pending and charged at the first ``act``, since the env zeroes its
counters at ``reset``, after ``setup``. Each agent's module docstring gives its rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from agents.scoring import BaselineAgent, ModeConfig, choose_by_score
from curriculum_env.config_rules import positive_int

HASH_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)  # 2^64 / golden ratio: Fibonacci hashing


def hashed_ngrams(ids: np.ndarray, buckets: int) -> np.ndarray:
    """The bucket index of every unigram and bigram of windows ``ids`` [N, L]: int64 [N, 2L - 1], the L
    unigrams first, then the L - 1 bigrams in order."""
    ids = np.asarray(ids)
    if ids.ndim != 2 or ids.shape[1] < 1 or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"hashed n-grams: need integer windows [N, L] with L >= 1, got {ids.dtype} {ids.shape}")
    if ids.size and (ids.min() < 0 or ids.max() >= 2**31):
        raise ValueError(f"hashed n-grams: token ids must lie in [0, 2^31), got [{ids.min()}, {ids.max()}]")
    u = ids.astype(np.uint64)
    keys = np.concatenate([u << np.uint64(1),  # unigram a: 2a (even)
                           (u[:, :-1] << np.uint64(33)) | (u[:, 1:] << np.uint64(1)) | np.uint64(1)], axis=1)
    mixed = (keys * HASH_MULTIPLIER) >> np.uint64(32)  # the product wraps mod 2^64
    return (mixed % np.uint64(buckets)).astype(np.int64)  # [N, 2L-1]


def bucket_counts(features: np.ndarray, buckets: int) -> np.ndarray:
    """How often each bucket occurs in ``features`` (any shape of bucket indices): float64 [buckets]."""
    return np.bincount(np.ravel(features), minlength=buckets).astype(np.float64)


@dataclass
class HashedNgramConfig(ModeConfig):
    """Options shared by the hashed-n-gram agents (plus ``action_mode``)."""

    buckets: int = 2**14
    """Hash bins of the unigram + bigram features (DSIR used 10,000)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        positive_int(buckets=self.buckets)
        if self.buckets < 2:
            raise ValueError(f"buckets must be >= 2, got {self.buckets!r}")


class HashedNgramAgent(BaselineAgent):
    """A baseline that scores each candidate by its hashed n-grams and trains the k best, k = B (the env's
    budget) in mixture mode, else 1 (``select`` names the best; the env fills the other B - 1).

    Subclasses implement :meth:`fit_target` (D's features, once in :meth:`setup`) and :meth:`score` (the
    candidates' features; it may learn from them first), and charge their FLOPs with :meth:`charge`.
    They read no LM output: :attr:`env_kwargs` asks for no statistic, reward or observation.
    """

    config_class: type[HashedNgramConfig] = HashedNgramConfig
    prefix = "hashed"  # metric prefix

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.learner: Any = None  # env.unwrapped.learner: where the FLOPs go
        self.pending_flops = 0.0  # FLOPs spent but not yet charged to the learner
        self.steps = 0  # act calls since setup

    @property
    def top_k(self) -> int:
        """How many candidates the action trains: B in mixture mode under a budget, else 1."""
        return self.budget if self.budget is not None and self.action_mode == "mixture" else 1

    def setup(self, env: gym.Env, seed: int) -> None:
        super().setup(env, seed)
        self.learner = getattr(env.unwrapped, "learner", None)
        self.pending_flops = 0.0
        self.steps = 0
        self.fit_target(hashed_ngrams(env.unwrapped.data.heldout.ids, self.config.buckets))

    def fit_target(self, features: np.ndarray) -> None:
        """Fit what the agent knows of D from its windows' features [|D|, F]."""
        raise NotImplementedError

    def score(self, features: np.ndarray) -> np.ndarray:
        """Per-candidate score [N] (higher: preferred) of the candidates' features [N, F]."""
        raise NotImplementedError

    def pick(self, score: np.ndarray) -> tuple[Any, np.ndarray]:
        """The action for ``score`` [N] and its distribution: uniform on the ``top_k`` best (ties: lower index)."""
        return choose_by_score(score, self.action_mode, False, 1.0, self.rng, self.top_k)

    def charge(self, flops: float) -> None:
        """Count ``flops`` of this agent's own compute (charged at the end of the current or next act)."""
        self.pending_flops += float(flops)

    def choose(self, info: dict[str, Any]) -> tuple[Any, np.ndarray]:
        self.steps += 1
        score = self.score(hashed_ngrams(info["token_ids"], self.config.buckets))  # [N]
        action, probs = self.pick(score)
        self._metrics.update({f"{self.prefix}/score_max": float(score.max()),
                              f"{self.prefix}/score_mean": float(score.mean()),
                              f"{self.prefix}/flops": self.pending_flops})
        if self.learner is not None:
            self.learner.add_flops(self.pending_flops, "agent")
            self.pending_flops = 0.0
        return action, probs

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "pending_flops": self.pending_flops, "steps": self.steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.pending_flops = float(state.get("pending_flops", 0.0))
        self.steps = int(state.get("steps", 0))
