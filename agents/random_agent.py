"""Random curriculum (§4.2): uniform over the candidates, the reference every method is measured against."""

from __future__ import annotations

from typing import Any

import numpy as np

from agents._scoring import BaselineAgent, ModeConfig, choose_uniform


class RandomAgent(BaselineAgent):
    """Uniform mixture over all N candidates (``mixture``, default: equal weights 1/N), or one uniformly
    random candidate (``select``, from a numpy Generator seeded in ``setup``). Config: ``action_mode``."""

    name = "random"
    config_class = ModeConfig

    def choose(self, info: dict[str, Any]) -> tuple[Any, np.ndarray]:
        return choose_uniform(np.ones(len(info["loss"]), dtype=bool), self.action_mode, self.rng)
