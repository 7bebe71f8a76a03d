"""Shared choice rules of the heuristic baselines: hard top-k or soft Boltzmann over a score, and
uniform choice over an eligible set.

Every baseline ends in one of two ways, in either action mode:

- :func:`choose_by_score` -- the highest score (hard; ``mixture``: one-hot weights, ``select``: its
  index), or uniform over the k highest, or a Boltzmann distribution ``softmax(score / T)`` (soft;
  ``mixture``: those weights, ``select``: an index sampled from them);
- :func:`choose_uniform` -- uniform over the candidates where ``mask`` is True (``mixture``: equal
  weights on them, zero elsewhere; ``select``: one of them at random).

**Under the env's training budget** (``train_batch=B``, read in :meth:`BaselineAgent.setup` into
``self.budget``) the env trains the B largest weights. The hard score agents then default to
``top_k = B`` in mixture mode (uniform weight on the B best: exactly those B are trained); the soft
ones draw B distinct candidates from ``softmax(score / T)`` (Gumbel-top-B, without replacement) and
send the Boltzmann weights on those B alone -- sending the full softmax would make the env train
its top B deterministically, the hard variant. In ``select`` mode an agent names one candidate (the
argmax, hard; a Boltzmann draw, soft) and the env fills the other B - 1 at random.

:class:`BaselineAgent` is the protocol plumbing shared by the baselines (``env_kwargs`` asks the env
for exactly the statistics in ``stats``) and :class:`ScoreAgent` adds the score ranking (loss,
uncertainty, RHO-LOSS): each of those only says how to read its score.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from agents.base import candidate_stat, gumbel_top_k, train_budget

ACTION_MODES = ("mixture", "select")


def check_action_mode(mode: str) -> str:
    """``mode`` if it is a known action mode, else a clear error."""
    if mode not in ACTION_MODES:
        raise ValueError(f"action_mode must be one of {ACTION_MODES}, got {mode!r}")
    return mode


def boltzmann(score: np.ndarray, temperature: float) -> np.ndarray:
    """``softmax(score / T)`` [N] in float64, computed stably."""
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature!r}")
    z = np.asarray(score, dtype=np.float64) / temperature
    z = np.exp(z - z.max())
    return z / z.sum()


def weights_entropy(weights: np.ndarray) -> float:
    """Entropy (nats) of normalised weights [N]; 0 for a one-hot."""
    p = np.asarray(weights, dtype=np.float64)
    p = p[p > 0] / p.sum()
    return float(-(p * np.log(p)).sum()) + 0.0  # + 0.0 turns -0.0 into 0.0


def choose_by_score(score: np.ndarray, action_mode: str, soft: bool, temperature: float,
                    rng: np.random.Generator, top_k: int = 1, sample_k: int | None = None) -> tuple[Any, np.ndarray]:
    """The action for ``score`` [N] and the distribution over candidates it came from [N].

    Hard: top-1, or uniform over the ``top_k`` highest scores (ties go to the lower index).
    Soft: ``softmax(score / T)``; in ``select`` mode an index is sampled from it with ``rng``. Soft
    ``mixture`` with ``sample_k=B``: B distinct candidates drawn from it without replacement
    (Gumbel-top-B with ``rng``) keep their Boltzmann weights, renormalised; the others get 0.
    """
    score = np.asarray(score, dtype=np.float64)
    if score.ndim != 1 or not np.all(np.isfinite(score)):
        raise ValueError(f"scores must be a finite vector [N], got shape {score.shape}")
    if soft:
        probs = boltzmann(score, temperature)
        if action_mode == "mixture":
            if sample_k is None:
                return probs.astype(np.float32), probs
            chosen = gumbel_top_k(score / temperature, min(sample_k, len(probs)), rng)  # [B]
            weights = np.zeros_like(probs)
            weights[chosen] = np.maximum(probs[chosen], 1e-30)  # B positive entries even if probs underflow
            return (weights / weights.sum()).astype(np.float32), probs
        return int(rng.choice(len(probs), p=probs)), probs
    if top_k == 1:
        top = int(np.argmax(score))
        probs = np.zeros(len(score))
        probs[top] = 1.0
        return (probs.astype(np.float32) if action_mode == "mixture" else top), probs
    mask = np.zeros(len(score), dtype=bool)
    mask[np.argsort(-score, kind="stable")[: min(top_k, len(score))]] = True
    return choose_uniform(mask, action_mode, rng)


def choose_uniform(mask: np.ndarray, action_mode: str, rng: np.random.Generator) -> tuple[Any, np.ndarray]:
    """Uniform over the candidates where ``mask`` [N] is True: the action and its distribution [N]."""
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        raise ValueError("no eligible candidate to choose from")
    probs = mask / mask.sum()
    if action_mode == "mixture":
        return probs.astype(np.float32), probs
    return int(rng.choice(np.flatnonzero(mask))), probs


@dataclass
class ModeConfig:
    """The option every baseline has (the whole config of ``random`` and ``oracle``)."""

    action_mode: str = "mixture"
    """``mixture``: weights over the N candidates (hard = one-hot). ``select``: one candidate index."""

    def __post_init__(self) -> None:
        check_action_mode(self.action_mode)


@dataclass
class ScoreConfig(ModeConfig):
    """Options shared by the score-ranking baselines (loss, uncertainty, RHO-LOSS)."""

    soft: bool = False
    """False: top-1 by score. True: Boltzmann ``softmax(score / temperature)``."""
    temperature: float = 1.0
    """T of the soft variant (in the score's units; ignored when ``soft`` is False)."""
    top_k: int | None = None
    """Hard variant: uniform over the k highest-scoring candidates. ``None``: the env's training budget
    B in mixture mode (exactly the B best are trained), else 1 (top-1). An explicit k always wins."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if not (isinstance(self.temperature, (int, float)) and self.temperature > 0):
            raise ValueError(f"temperature must be a positive number, got {self.temperature!r}")
        if self.top_k is not None and not (isinstance(self.top_k, int) and self.top_k >= 1):
            raise ValueError(f"top_k must be a positive integer or None, got {self.top_k!r}")


class BaselineAgent:
    """Agent protocol plumbing for a heuristic baseline: ``choose(info)`` gives the action.

    Subclasses set ``config_class`` (a :class:`ModeConfig` dataclass) and ``stats`` (the per-candidate
    statistics they read from ``info``, asked of the env through :attr:`env_kwargs`), and implement
    :meth:`choose`; ``self.rng`` is a numpy Generator seeded in :meth:`setup`, ``self.budget`` the
    env's training budget B (``None``: none) read there.
    """

    name = "baseline"
    config_class: type = ModeConfig
    stats: tuple[str, ...] = ()

    def __init__(self, **kwargs: Any):
        self.config = self.config_class(**kwargs)
        self.action_mode = check_action_mode(self.config.action_mode)
        self.rng = np.random.default_rng(0)
        self.budget: int | None = None
        self._metrics: dict[str, float] = {}

    @property
    def env_kwargs(self) -> dict[str, Any]:
        """Env config this agent needs beyond ``action_mode``: exactly the statistics it reads, and nothing
        it does not -- no reward forward, no observation (the baselines read ``info`` alone)."""
        return {"candidate_stats": tuple(self.stats), "compute_reward": False, "observation": "none"}

    def choose(self, info: dict[str, Any]) -> tuple[Any, np.ndarray]:
        """The action and the distribution over candidates [N] it came from."""
        raise NotImplementedError

    def setup(self, env: gym.Env, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.budget = train_budget(env)

    def act(self, obs: np.ndarray, info: dict[str, Any]) -> Any:
        self._metrics = {}
        action, probs = self.choose(info)
        self._metrics["policy/entropy"] = weights_entropy(probs)
        return action

    def observe(self, reward: float, obs: np.ndarray, info: dict[str, Any], terminated: bool,
                truncated: bool) -> None:
        pass

    def metrics(self) -> dict[str, float]:
        return dict(self._metrics)

    def state_dict(self) -> dict[str, Any]:
        return {"config": asdict(self.config), "rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state["rng"]


class ScoreAgent(BaselineAgent):
    """A baseline that ranks candidates by ``score(info)`` [N]: hard top-k (k = ``top_k``, by default
    the env's budget B in mixture mode, else 1) or soft Boltzmann (under a budget, B drawn from it)."""

    config_class: type[ScoreConfig] = ScoreConfig

    def score(self, info: dict[str, Any]) -> np.ndarray:
        """Per-candidate score [N]; higher means preferred. By default the env's statistic ``stats[0]``
        (``info["loss"]``, ``info["entropy"]``); override it for anything else."""
        if not self.stats:
            raise NotImplementedError(f"{type(self).__name__} names no statistic in stats: override score()")
        return np.asarray(candidate_stat(info, self.stats[0]), dtype=np.float64)  # [N]

    @property
    def top_k(self) -> int:
        """k of the hard variant: the explicit ``top_k``, else B (mixture mode under a budget), else 1."""
        if self.config.top_k is not None:
            return self.config.top_k
        return self.budget if self.budget is not None and self.action_mode == "mixture" else 1

    def choose(self, info: dict[str, Any]) -> tuple[Any, np.ndarray]:
        score = self.score(info)  # [N]
        self._metrics.update({"score/max": float(np.max(score)), "score/mean": float(np.mean(score))})
        return choose_by_score(score, self.action_mode, self.config.soft, self.config.temperature, self.rng,
                               self.top_k, sample_k=self.budget)
