"""Uncertainty-based curriculum (§4.2): prioritise the candidates the LM is least sure about.

Uncertainty is ``info["entropy"]`` [N], the mean predictive entropy (nats) over each candidate's
positions, from the forward that made the observation: no extra forward of the LM. It asks the env
for that statistic alone (``env_kwargs``: ``candidate_stats=("entropy",)``).

Under the env's training budget ``train_batch=B`` the hard variant trains the B most uncertain
candidates (``top_k`` defaults to B in mixture mode) and the soft one B drawn without replacement
from ``softmax(entropy / T)`` (see :mod:`agents.scoring`).
"""

from __future__ import annotations

from agents.scoring import ScoreAgent


class UncertaintyAgent(ScoreAgent):
    """Hard: all weight on argmax entropy (under a budget B: uniform on the B highest). Soft
    (``soft=True``): ``softmax(entropy / temperature)``.

    Keyword arguments are the fields of :class:`~agents.scoring.ScoreConfig` (``action_mode``,
    ``soft``, ``temperature``, ``top_k``).
    """

    name = "uncertainty"
    stats = ("entropy",)
