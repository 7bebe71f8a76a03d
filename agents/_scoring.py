"""Shared choice rules of the heuristic baselines: hard top-1 or soft Boltzmann over a score, and
uniform choice over an eligible set.

Every baseline ends in one of two ways, in either action mode:

- :func:`choose_by_score` -- the highest score (hard; ``mixture``: one-hot weights, ``select``: its
  index) or a Boltzmann distribution ``softmax(score / T)`` (soft; ``mixture``: those weights,
  ``select``: an index sampled from them);
- :func:`choose_uniform` -- uniform over the candidates where ``mask`` is True (``mixture``: equal
  weights on them, zero elsewhere; ``select``: one of them at random).

:class:`BaselineAgent` is the protocol plumbing shared by the baselines and :class:`ScoreAgent`
adds the score ranking (loss, uncertainty, RHO-LOSS): each of those only says how to read its score.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import gymnasium as gym
import numpy as np

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
                    rng: np.random.Generator, top_k: int = 1) -> tuple[Any, np.ndarray]:
    """The action for ``score`` [N] and the distribution over candidates it came from [N].

    Hard: top-1, or uniform over the ``top_k`` highest scores (ties go to the lower index).
    Soft: ``softmax(score / T)``; in ``select`` mode an index is sampled from it with ``rng``.
    """
    score = np.asarray(score, dtype=np.float64)
    if score.ndim != 1 or not np.all(np.isfinite(score)):
        raise ValueError(f"scores must be a finite vector [N], got shape {score.shape}")
    if soft:
        probs = boltzmann(score, temperature)
        if action_mode == "mixture":
            return probs.astype(np.float32), probs
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
    top_k: int = 1
    """Hard variant: uniform over the k highest-scoring candidates (1 = top-1; RHO-LOSS uses ~10%)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if not (isinstance(self.temperature, (int, float)) and self.temperature > 0):
            raise ValueError(f"temperature must be a positive number, got {self.temperature!r}")
        if not (isinstance(self.top_k, int) and self.top_k >= 1):
            raise ValueError(f"top_k must be a positive integer, got {self.top_k!r}")


class BaselineAgent:
    """Agent protocol plumbing for a heuristic baseline: ``choose(info)`` gives the action.

    Subclasses set ``config_class`` (a :class:`ModeConfig` dataclass) and implement
    :meth:`choose`; ``self.rng`` is a numpy Generator seeded in :meth:`setup`.
    """

    name = "baseline"
    config_class: type = ModeConfig

    def __init__(self, **kwargs: Any):
        self.config = self.config_class(**kwargs)
        self.action_mode = check_action_mode(self.config.action_mode)
        self.rng = np.random.default_rng(0)
        self._metrics: dict[str, float] = {}

    def choose(self, info: dict[str, Any]) -> tuple[Any, np.ndarray]:
        """The action and the distribution over candidates [N] it came from."""
        raise NotImplementedError

    def setup(self, env: gym.Env, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

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
    """A baseline that ranks candidates by ``score(info)`` [N] (hard top-1 or soft Boltzmann)."""

    config_class: type[ScoreConfig] = ScoreConfig

    def score(self, info: dict[str, Any]) -> np.ndarray:
        """Per-candidate score [N]; higher means preferred."""
        raise NotImplementedError

    def choose(self, info: dict[str, Any]) -> tuple[Any, np.ndarray]:
        score = self.score(info)  # [N]
        self._metrics.update({"score/max": float(np.max(score)), "score/mean": float(np.mean(score))})
        return choose_by_score(score, self.action_mode, self.config.soft, self.config.temperature, self.rng,
                               self.config.top_k)
