"""Boltzmann temperature beta for the soft-Q agent: fixed, phased, or closed loop on the failure rate.

A research note that accompanies the paper ("Temperature, curriculum difficulty, and noise level are the
same"; not shipped in this repository) argues that beta need not be fixed: a closed loop
sets it from the recent failure rate, ``beta = beta_min + k * failure_rate`` (the note's
``0.5 + 0.7 * rate``), so many failures explore broadly and few failures focus; a phased schedule
goes high -> medium -> low -> adaptive.

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
from dataclasses import dataclass, fields
from typing import Any

from curriculum_env.config_rules import refuse_moot


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


class PhasedTemperature:
    """explore -> focus -> refine by fraction of ``planned_steps``, then the closed loop (adaptive).

    With the defaults: beta = 1.2 for step fraction < 0.1, 0.9 below 0.5, 0.7 below 0.9, then
    :class:`ClosedLoopTemperature`. The closed loop watches rewards from the start, so its window is
    full when it takes over.
    """

    def __init__(self, planned_steps: int, betas: tuple[float, ...] = (1.2, 0.9, 0.7),
                 bounds: tuple[float, ...] = (0.1, 0.5, 0.9), beta_min: float = 0.5, k: float = 0.7,
                 window: int = 20):
        if not (isinstance(planned_steps, int) and planned_steps >= 1):
            raise ValueError(f"phased temperature needs planned_steps >= 1, got {planned_steps!r}")
        if len(betas) != len(bounds) or any(b <= 0 for b in betas):
            raise ValueError(f"phased temperature needs one positive beta per bound, got {betas!r}, {bounds!r}")
        if list(bounds) != sorted(bounds) or not all(0 < b <= 1 for b in bounds):
            raise ValueError(f"phase bounds must be increasing fractions in (0, 1], got {bounds!r}")
        self.planned_steps, self.betas, self.bounds = planned_steps, tuple(betas), tuple(bounds)
        self.loop = ClosedLoopTemperature(beta_min, k, window)
        self.step = 0  # rewards seen so far = steps taken

    @property
    def phase(self) -> int:
        """Index of the current phase (``len(betas)`` = adaptive)."""
        fraction = self.step / self.planned_steps
        return next((i for i, b in enumerate(self.bounds) if fraction < b), len(self.bounds))

    @property
    def beta(self) -> float:
        p = self.phase
        return self.betas[p] if p < len(self.betas) else self.loop.beta

    @property
    def failure_rate(self) -> float:
        return self.loop.failure_rate

    def update(self, reward: float) -> None:
        self.loop.update(reward)
        self.step += 1

    def state_dict(self) -> dict[str, Any]:
        return {"step": self.step, "loop": self.loop.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step = int(state["step"])
        self.loop.load_state_dict(state["loop"])


TEMPERATURES = ("fixed", "phased", "closed_loop")


@dataclass(frozen=True)
class TemperatureConfig:
    """How beta is set: the controller (``temperature``) and the parameters each controller reads.

    Every field holds its real default; one that the chosen controller does not read must stay at it
    (:func:`curriculum_env.config_rules.refuse_moot`), e.g. a fixed ``beta=0.3`` with
    ``temperature="closed_loop"``, which sets beta from the failure rate instead, is refused.
    """

    temperature: str = "fixed"
    """``fixed`` | ``phased`` | ``closed_loop`` (the classes above)."""
    beta: float = 1.0
    """Fixed: beta of softmax(Q / beta) (eq. 6) and of V-bar (eq. 4); 1.0 is the paper's."""
    beta_min: float = 0.5
    """Closed loop (and phased, after its phases): beta = beta_min + beta_k * failure_rate."""
    beta_k: float = 0.7
    """Closed loop (and phased): gain k on the failure rate."""
    temperature_window: int = 20
    """Closed loop (and phased): steps in the failure-rate window and the running mean."""
    planned_steps: int = 1000
    """Phased: the planned run length the phase fractions refer to."""
    phase_betas: tuple[float, ...] = (1.2, 0.9, 0.7)
    """Phased: beta of the explore, focus and refine phases."""
    phase_bounds: tuple[float, ...] = (0.1, 0.5, 0.9)
    """Phased: step fractions where those phases end (then the closed loop)."""

    READS = {"fixed": ("beta",), "closed_loop": ("beta_min", "beta_k", "temperature_window"),
             "phased": ("beta_min", "beta_k", "temperature_window", "planned_steps", "phase_betas", "phase_bounds")}
    """The parameters each controller reads."""

    def __post_init__(self) -> None:
        if self.temperature not in TEMPERATURES:
            raise ValueError(f"unknown temperature {self.temperature!r}; choose one of {TEMPERATURES}")
        for name in ("phase_betas", "phase_bounds"):
            object.__setattr__(self, name, tuple(getattr(self, name)))  # a list from the command line; hashable
        reads = self.READS[self.temperature]
        refuse_moot(self, ((f.name, f.name in reads, f"temperature={self.temperature!r}")
                           for f in fields(self) if f.name != "temperature"))
        self.build()  # the controllers validate their parameters

    def build(self) -> FixedTemperature | ClosedLoopTemperature | PhasedTemperature:
        """A fresh controller for this configuration."""
        if self.temperature == "fixed":
            return FixedTemperature(self.beta)
        if self.temperature == "closed_loop":
            return ClosedLoopTemperature(self.beta_min, self.beta_k, self.temperature_window)
        return PhasedTemperature(self.planned_steps, self.phase_betas, self.phase_bounds, self.beta_min,
                                 self.beta_k, self.temperature_window)


def make_temperature(kind: str, **params: Any) -> FixedTemperature | ClosedLoopTemperature | PhasedTemperature:
    """A temperature controller by name: ``fixed`` | ``phased`` | ``closed_loop``, with the parameters
    of :class:`TemperatureConfig` that this kind reads (the others are refused)."""
    return TemperatureConfig(temperature=kind, **params).build()
