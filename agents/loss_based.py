"""Loss-based curriculum (§4.2): prioritise the candidates with the highest current LM loss.

The loss is ``info["loss"]`` [N], the per-token mean cross-entropy of each candidate from the
forward that made the observation, so this agent costs no extra forward of the LM.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from agents._scoring import ScoreAgent


class LossAgent(ScoreAgent):
    """Hard: all weight on argmax loss. Soft (``soft=True``): weights ``softmax(loss / temperature)``.

    Keyword arguments are the fields of :class:`~agents._scoring.ScoreConfig` (``action_mode``,
    ``soft``, ``temperature``).
    """

    name = "loss"

    def score(self, info: dict[str, Any]) -> np.ndarray:
        return np.asarray(info["loss"], dtype=np.float64)  # [N]
