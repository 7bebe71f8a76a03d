"""What an episode of the env has done since its reset, beside the model and the stream: one small dataclass
the env writes, its read-only properties read (:mod:`curriculum_env.env_readout`) and its state file stores
(:mod:`curriculum_env.env_state`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Episode:
    """The episode's counters, its last step's record and its influence probes' generator and last probe."""

    probe_rng: np.random.Generator
    """The generator the influence probes draw their sample of D from (never the env's ``np_random``)."""
    step: int = 0
    """Updates since the reset."""
    examples_trained: int = 0
    """Windows trained with non-zero weight since the reset."""
    aux_tokens_trained: int = 0
    """Tokens that auxiliary losses trained since the reset (they count in ``tokens_trained``)."""
    last: dict[str, Any] = field(default_factory=dict)
    """The last step's own record (weights, trained, train loss, reward, ...); empty after the reset."""
    influence: np.ndarray | None = None
    """The influence probe of the current candidates, when one ran for them."""

    def counters(self, context_length: int) -> dict[str, int]:
        """The step's counters as ``info`` reports them."""
        return {"step": self.step, "examples_trained": self.examples_trained,
                "tokens_trained": self.examples_trained * context_length + self.aux_tokens_trained,
                "aux_tokens_trained": self.aux_tokens_trained}

    def state_dict(self) -> dict[str, Any]:
        """Plain values (the last record and the probe as NumPy; :mod:`curriculum_env.env_state` converts)."""
        return {"probe_rng": self.probe_rng.bit_generator.state, "influence": self.influence, "step": self.step,
                "examples_trained": self.examples_trained, "aux_tokens_trained": self.aux_tokens_trained,
                "last": self.last}

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> Episode:
        """The episode of a :meth:`state_dict` (``aux_tokens_trained`` is absent from files saved before it)."""
        rng = np.random.default_rng()
        rng.bit_generator.state = state["probe_rng"]
        return cls(rng, int(state["step"]), int(state["examples_trained"]), int(state.get("aux_tokens_trained", 0)),
                   dict(state["last"]), state["influence"])
