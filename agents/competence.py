"""Competence-based curriculum (Platanios et al., 2019; §4.2).

Each candidate has a difficulty ``info["difficulty"]`` [N] (the env's ``difficulty`` config: ``rarity``
= mean token surprisal, or ``length`` = words per sentence). The model's competence at step t is

    c(t) = min(1, sqrt(t (1 - c0^2) / T + c0^2))        (Platanios et al., "sqrt" schedule)

and a window is eligible when its difficulty CDF is at most c(t). The agent puts uniform weight on
the eligible candidates (``select``: picks one of them at random).

**Difficulty CDF from a stream.** Platanios et al. sort a fixed training set; here the data arrive
as a stream, so the CDF is the empirical CDF of a reservoir sample (Vitter's algorithm R, fixed
``reservoir_size``) of every difficulty streamed so far, the current candidates included:
``cdf(x) = #{r in reservoir : r <= x} / |reservoir|``. The reservoir is kept sorted so each lookup is
a binary search. When no candidate is eligible (early on, c(0) = c0 is tiny) the agent takes the
easiest candidate, the one with the lowest CDF; otherwise it never puts weight on an ineligible one.
It reads no per-candidate LM statistic (``env_kwargs``: ``candidate_stats=()``; ``difficulty`` is
always in ``info``).

**Training budget** (env ``train_batch=B``, mixture mode): B among the eligible. With more than B
eligible the agent keeps uniform weights on all of them and the env trains B of them chosen
uniformly at random (its ties); with fewer than B (none included) it trains the B easiest
candidates -- the eligible ones plus the next-lowest CDFs, deterministically (ties to the lower
index). Either way it never trains an ineligible window while an eligible one is left out.
``select`` names one eligible window (the easiest when none is) and the env fills the other B - 1 at
random.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from agents.scoring import BaselineAgent, ModeConfig, choose_uniform
from curriculum_env.config_rules import positive_int


def competence(t: float, steps_to_full: float, c0: float) -> float:
    """c(t) = min(1, sqrt(t (1 - c0^2) / T + c0^2)) (Platanios et al., 2019)."""
    return min(1.0, math.sqrt(t * (1.0 - c0**2) / steps_to_full + c0**2))


@dataclass
class CompetenceConfig(ModeConfig):
    """Options of :class:`CompetenceAgent` (``action_mode`` -- mixture: uniform over eligible windows)."""

    c0: float = 0.01
    """Initial competence c(0)."""
    steps_to_full: int | None = None
    """T, env steps until c(t) = 1; None: half the env's ``max_episode_steps`` (500 when unknown)."""
    reservoir_size: int = 10_000
    """Difficulties kept (reservoir sample of the stream) to estimate the difficulty CDF."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 < self.c0 <= 1:
            raise ValueError(f"c0 must lie in (0, 1], got {self.c0!r}")
        if self.steps_to_full is not None and not (isinstance(self.steps_to_full, int) and self.steps_to_full >= 1):
            raise ValueError(f"steps_to_full must be a positive integer or None, got {self.steps_to_full!r}")
        positive_int(reservoir_size=self.reservoir_size)


class CompetenceAgent(BaselineAgent):
    """Uniform over candidates whose difficulty CDF is at most the competence c(t) (see module doc)."""

    name = "competence"
    config_class = CompetenceConfig

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.steps_to_full = self.config.steps_to_full or 500
        self.reservoir = np.zeros(0)  # sorted difficulties [<= reservoir_size]
        self.seen = 0

    def setup(self, env: gym.Env, seed: int) -> None:
        super().setup(env, seed)
        if self.config.steps_to_full is None:
            spec = getattr(env, "spec", None)
            horizon = getattr(spec, "max_episode_steps", None) if spec is not None else None
            self.steps_to_full = max(1, int(horizon) // 2) if horizon else 500
        self.reservoir = np.zeros(0)
        self.seen = 0

    def remember(self, values: np.ndarray) -> None:
        """Reservoir sampling (algorithm R) into the sorted buffer."""
        cap = self.config.reservoir_size
        for v in values:
            self.seen += 1
            if len(self.reservoir) < cap:
                self.reservoir = np.insert(self.reservoir, np.searchsorted(self.reservoir, v), v)
                continue
            j = int(self.rng.integers(self.seen))
            if j < cap:  # replace a uniformly random kept value
                self.reservoir = np.delete(self.reservoir, int(self.rng.integers(cap)))
                self.reservoir = np.insert(self.reservoir, np.searchsorted(self.reservoir, v), v)

    def cdf(self, difficulty: np.ndarray) -> np.ndarray:
        """Empirical CDF of the reservoir at ``difficulty`` [N]."""
        return np.searchsorted(self.reservoir, difficulty, side="right") / len(self.reservoir)

    def choose(self, info: dict[str, Any]) -> tuple[Any, np.ndarray]:
        difficulty = np.asarray(info["difficulty"], dtype=np.float64)  # [N]
        if difficulty.ndim != 1 or not np.all(np.isfinite(difficulty)):
            raise ValueError("info['difficulty'] must be a finite vector [N]")
        self.remember(difficulty)
        c = competence(info["step"], self.steps_to_full, self.config.c0)
        cdf = self.cdf(difficulty)  # [N]
        eligible = cdf <= c
        filled = 0
        if self.budget is not None and self.action_mode == "mixture" and eligible.sum() < self.budget:
            # fewer than B easy enough: the B easiest (the eligible ones have the lowest CDFs)
            filled = self.budget - int(eligible.sum())
            eligible = np.zeros_like(eligible)
            eligible[np.argsort(cdf, kind="stable")[: self.budget]] = True
        elif not eligible.any():  # nothing easy enough yet: the easiest candidate
            eligible = np.zeros_like(eligible)
            eligible[int(np.argmin(cdf))] = True
        self._metrics.update({"competence/c": c, "competence/eligible_fraction": float(eligible.mean())})
        if self.budget is not None:
            self._metrics["competence/filled"] = float(filled)
        return choose_uniform(eligible, self.action_mode, self.rng)

    def state_dict(self) -> dict[str, Any]:
        return {"config": asdict(self.config), "rng": self.rng.bit_generator.state, "reservoir": self.reservoir.copy(),
                "seen": self.seen, "steps_to_full": self.steps_to_full}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.reservoir = np.asarray(state["reservoir"], dtype=np.float64)
        self.seen, self.steps_to_full = int(state["seen"]), int(state["steps_to_full"])
