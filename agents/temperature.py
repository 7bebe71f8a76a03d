"""Boltzmann temperature beta for the soft-Q agent: fixed, or closed loop on the failure rate.

A research note that accompanies the paper ("Temperature, curriculum difficulty, and noise level are the
same"; not shipped in this repository) argues that beta need not be fixed: a closed loop
sets it from the recent failure rate, ``beta = beta_min + k * failure_rate`` (the note's
``0.5 + 0.7 * rate``), so many failures explore broadly and few failures focus.

**Failure (our concrete definition).** Step t *fails* when its reward is below the mean of the
previous ``window`` rewards (fewer at the start). The first step has no previous reward and is not
judged. The failure rate is the share of failures among the last ``window`` judged steps; before any
step is judged it is taken as 1 (no evidence yet: explore).

**Reward scale.** Rewards are mean per-token log-probabilities (about -8 at init on the tiny default,
-3 to -4 for GPT-2) and Q lives on the same scale (a constant reward r gives Q* = r). The policy is
``softmax(Q / beta)``, so beta is measured in nats per token of *Q difference*: beta = 1 means a
candidate whose Q is one nat higher gets e times the weight. Q differences between candidates are
usually far below 1, so beta ~ 1 gives a broad policy; focusing needs beta on the order of the Q
spread (see the ``q/spread`` metric of the agent).
"""

from __future__ import annotations

from collections import deque
from typing import Any

from agents.specs import build_named


class FixedTemperature:
    """beta held constant."""

    def __init__(self, beta: float = 1.0):
        if not beta > 0:
            raise ValueError(f"temperature beta must be > 0, got {beta!r}")
        self._beta = float(beta)

    @property
    def beta(self) -> float:
        return self._beta

    @property
    def failure_rate(self) -> float:
        return float("nan")

    def update(self, reward: float) -> None:
        """Nothing to learn from a reward."""

    def state_dict(self) -> dict[str, Any]:
        return {"beta": self._beta}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._beta = float(state["beta"])


class ClosedLoopTemperature:
    """beta = beta_min + k * failure_rate over the last ``window`` steps (failure: see module docstring)."""

    def __init__(self, beta_min: float = 0.5, k: float = 0.7, window: int = 20):
        if not beta_min > 0 or k < 0:
            raise ValueError(f"closed-loop temperature needs beta_min > 0 and k >= 0, got {beta_min!r}, {k!r}")
        if not (isinstance(window, int) and window >= 1):
            raise ValueError(f"closed-loop temperature window must be a positive integer, got {window!r}")
        self.beta_min, self.k, self.window = float(beta_min), float(k), window
        self._rewards: deque[float] = deque(maxlen=window)  # previous rewards (the running mean's window)
        self._failures: deque[bool] = deque(maxlen=window)  # judged steps: True = failure

    @staticmethod
    def is_failure(reward: float, previous: list[float]) -> bool | None:
        """Whether ``reward`` fails against ``previous`` rewards (None: nothing to judge against)."""
        if not previous:
            return None
        return reward < sum(previous) / len(previous)

    @property
    def failure_rate(self) -> float:
        return sum(self._failures) / len(self._failures) if self._failures else 1.0

    @property
    def beta(self) -> float:
        return self.beta_min + self.k * self.failure_rate

    def update(self, reward: float) -> None:
        """Judge the step that earned ``reward``, then remember the reward."""
        failed = self.is_failure(float(reward), list(self._rewards))
        if failed is not None:
            self._failures.append(failed)
        self._rewards.append(float(reward))

    def state_dict(self) -> dict[str, Any]:
        return {"rewards": list(self._rewards), "failures": list(self._failures)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._rewards = deque((float(r) for r in state["rewards"]), maxlen=self.window)
        self._failures = deque((bool(f) for f in state["failures"]), maxlen=self.window)


TEMPERATURES = {"fixed": FixedTemperature, "closed_loop": ClosedLoopTemperature}


def make_temperature(beta: float | str) -> FixedTemperature | ClosedLoopTemperature:
    """A fresh controller: a number is a fixed beta; a string names one with its options in brackets
    (``closed_loop``, ``closed_loop(beta_min=0.025,k=0.05,window=20)``, ``fixed(beta=0.3)``)."""
    if isinstance(beta, (int, float)) and not isinstance(beta, bool):
        return FixedTemperature(beta)
    return build_named(beta, TEMPERATURES, "temperature")
