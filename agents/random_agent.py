"""Random curriculum (§4.2): uniform over the candidates, the reference every method is measured against."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from agents._scoring import BaselineAgent, check_action_mode, choose_uniform


@dataclass
class RandomConfig:
    """Options of :class:`RandomAgent`."""

    action_mode: str = "mixture"
    """``mixture``: equal weights 1/N on every candidate (default). ``select``: a uniform random index."""

    def __post_init__(self) -> None:
        check_action_mode(self.action_mode)


class RandomAgent(BaselineAgent):
    """Uniform mixture over all N candidates, or one uniformly random candidate (``select`` mode,
    from a numpy Generator seeded in ``setup``)."""

    name = "random"
    config_class = RandomConfig

    def choose(self, info: dict[str, Any]) -> tuple[Any, np.ndarray]:
        return choose_uniform(np.ones(len(info["loss"]), dtype=bool), self.action_mode, self.rng)
