"""Oracle: all weight on the candidates from the target (held-out) domain.

Not a curriculum method -- it reads the source labels the env knows and no learner could -- but it
bounds how much of the possible gain a learned agent captures on tasks like ``noisy`` or ``needle``.
It reads no per-candidate statistic (``env_kwargs``: ``candidate_stats=()``).

**Training budget** (env ``train_batch=B``): target windows first. With at least B of them, the
equal weights on the targets make the env train B of them chosen uniformly at random (its ties);
with fewer, the agent trains all of them and fills the remaining places with non-target windows
drawn uniformly at random from its own generator, so the action always has at least B positive
weights (which the env's ``train_weighting="action"`` requires). ``select`` names one target window
and the env fills the other B - 1 at random.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from agents.scoring import BaselineAgent, ModeConfig, choose_uniform


class OracleAgent(BaselineAgent):
    """Uniform over candidates whose ``info["source"]`` is in ``env.unwrapped.data.task.target_labels``;
    uniform over all candidates when the batch holds none (under a budget B: the targets plus random
    non-targets up to B). Config: ``action_mode`` (``select``: one target window at random)."""

    name = "oracle"
    config_class = ModeConfig
    reads_labels = "reference"  # reads which source is the target: a reference row, never ranked

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.target_labels: tuple[str, ...] = ()

    def setup(self, env: gym.Env, seed: int) -> None:
        super().setup(env, seed)
        self.target_labels = tuple(env.unwrapped.data.task.target_labels)

    def choose(self, info: dict[str, Any]) -> tuple[Any, np.ndarray]:
        if not self.target_labels:
            raise RuntimeError("OracleAgent.setup(env, seed) must run before act()")
        mask = np.isin(np.asarray(info["source"], dtype=object), self.target_labels)  # [N]
        self._metrics["oracle/target_fraction"] = float(mask.mean())
        if self.budget is not None and self.action_mode == "mixture" and mask.sum() < self.budget:
            others = np.flatnonzero(~mask)
            fill = self.rng.choice(others, size=self.budget - int(mask.sum()), replace=False)
            mask = mask.copy()
            mask[fill] = True  # all targets + random non-targets: exactly B positive weights
        return choose_uniform(mask if mask.any() else np.ones_like(mask), self.action_mode, self.rng)
