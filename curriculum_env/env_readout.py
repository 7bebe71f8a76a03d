"""The env's read-only state for agents, wrappers and tools: what the env holds between steps, read
through public names (no package outside ``curriculum_env`` reads its underscored attributes)."""

from __future__ import annotations

from typing import Any

import numpy as np

from curriculum_env.data.stream import Batch


class EnvReadout:
    """Mixed into :class:`~curriculum_env.env.CurriculumSelectEnv`: properties over the env's candidates (``_batch``,
    ``_scores``) and its :class:`~curriculum_env.episode.Episode`, which only the env writes."""

    @property
    def candidates(self) -> Batch:
        """The N candidates the next action weights (do not modify; ``set_candidates`` replaces them)."""
        if self._batch is None:
            raise RuntimeError("no candidates: call reset() first (a failed step or release() drops them)")
        return self._batch

    @property
    def steps_taken(self) -> int:
        """Updates since the last reset."""
        return self.episode.step

    @property
    def examples_trained(self) -> int:
        """Windows trained with non-zero weight since the last reset."""
        return self.episode.examples_trained

    @property
    def last_step(self) -> dict[str, Any]:
        """A copy of the last step's own record (weights, trained, train loss, reward, ...; empty after reset)."""
        return dict(self.episode.last)

    @property
    def probe_rng(self) -> np.random.Generator:
        """The generator the influence probes draw their held-out sample from (copy it to predict the next)."""
        return self.episode.probe_rng

    @property
    def observation_holds_graph(self) -> bool:
        """Whether the pending observation keeps its forward's autograd graph for the next update (``fused``)."""
        return self._scores is not None and bool(self._scores.with_grad)

    def observation(self) -> tuple[np.ndarray, dict[str, Any]]:
        """``(obs, info)`` of the current candidates as the last reset or step returned them, without re-scoring."""
        if self._batch is None or self._scores is None:
            raise RuntimeError("no observation: call reset() first")
        return self._obs(), self._info()

    def release(self) -> None:
        """Drop the pending observation and any autograd graph it holds (a fused forward keeps all N windows);
        the env needs ``reset()`` before it steps again."""
        self._scores = None
        self._batch = None
