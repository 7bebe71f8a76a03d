"""Random curriculum (§4.2): uniform over the candidates, the reference every method is measured against.

It reads no per-candidate statistic (``env_kwargs``: ``candidate_stats=()``, the cheapest env step).
Under the env's training budget ``train_batch=B`` its equal weights make the env train a uniformly
random B-subset (ties are broken by the env's generator); ``select`` names one candidate at random and
the env fills the other B - 1 at random.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from agents.scoring import BaselineAgent, ModeConfig, choose_uniform


class RandomAgent(BaselineAgent):
    """Uniform mixture over all N candidates (``mixture``, default: equal weights 1/N), or one uniformly
    random candidate (``select``, from a numpy Generator seeded in ``setup``). Config: ``action_mode``."""

    name = "random"
    config_class = ModeConfig

    def choose(self, info: dict[str, Any]) -> tuple[Any, np.ndarray]:
        n = len(info["token_ids"])  # [N, L]: present whatever candidate_stats the env computes
        return choose_uniform(np.ones(n, dtype=bool), self.action_mode, self.rng)
