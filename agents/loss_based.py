"""Loss-based curriculum (§4.2): prioritise the candidates with the highest current LM loss.

The loss is ``info["loss"]`` [N], the per-token mean cross-entropy of each candidate from the
forward that made the observation, so this agent costs no extra forward of the LM. It asks the env
for that statistic alone (``env_kwargs``: ``candidate_stats=("loss",)``).

Under the env's training budget ``train_batch=B`` the hard variant trains the B highest-loss
candidates (``top_k`` defaults to B in mixture mode) and the soft one B drawn without replacement
from ``softmax(loss / T)`` (see :mod:`agents.scoring`).
"""

from __future__ import annotations

from agents.scoring import ScoreAgent


class LossAgent(ScoreAgent):
    """Hard: all weight on argmax loss (under a budget B: uniform on the B highest). Soft (``soft=True``):
    weights ``softmax(loss / temperature)``.

    Keyword arguments are the fields of :class:`~agents.scoring.ScoreConfig` (``action_mode``,
    ``soft``, ``temperature``, ``top_k``).
    """

    name = "loss"
    stats = ("loss",)
