"""Oracle: all weight on the candidates from the target (held-out) domain.

Not a curriculum method -- it reads the source labels the env knows and no learner could -- but it
bounds how much of the possible gain a learned agent captures on tasks like ``noisy`` or ``needle``.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from agents._scoring import BaselineAgent, ModeConfig, choose_uniform


class OracleAgent(BaselineAgent):
    """Uniform over candidates whose ``info["source"]`` is in ``env.unwrapped.data.task.target_labels``;
    uniform over all candidates when the batch holds none. Config: ``action_mode`` (``select``: one
    target window at random)."""

    name = "oracle"
    config_class = ModeConfig

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
        return choose_uniform(mask if mask.any() else np.ones_like(mask), self.action_mode, self.rng)
