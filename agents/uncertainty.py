"""Uncertainty-based curriculum (§4.2): prioritise the candidates the LM is least sure about.

Uncertainty is ``info["entropy"]`` [N], the mean predictive entropy (nats) over each candidate's
positions, from the forward that made the observation: no extra forward of the LM.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from agents._scoring import ScoreAgent


class UncertaintyAgent(ScoreAgent):
    """Hard: all weight on argmax entropy. Soft (``soft=True``): ``softmax(entropy / temperature)``.

    Keyword arguments are the fields of :class:`~agents._scoring.ScoreConfig` (``action_mode``,
    ``soft``, ``temperature``).
    """

    name = "uncertainty"

    def score(self, info: dict[str, Any]) -> np.ndarray:
        return np.asarray(info["entropy"], dtype=np.float64)  # [N]
