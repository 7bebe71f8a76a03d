"""How the soft-Q agent (:mod:`agents.soft_q`) turns a step's outcome into the rewards its Q regresses on.

Each credit is a small frozen dataclass: what it asks of the env (:meth:`env_kwargs`), and where a step's reward
comes from, so the agent's update is one soft Bellman regression, y = (1 - gamma) r + gamma V-bar(s') (eqs. 3-5),
whichever credit fills r:

- :class:`RewardTD` (the paper, Algorithm 1): r is the step's reward (or its paired gain), known after the step,
  and credits the window(s) the LM trained on that step. Under a training budget the B trained windows share it.
- :class:`InfluenceCredit`: on every probed step each of the N candidates gets its own r_i, its first-order
  influence on a sample of D from the env's probe, z-scored over the candidates: Q amortises the probes (MATES).
- :class:`Learnability`: every step each candidate's r_i is its reducible loss (learner minus a reference model
  trained on D; RHO-LOSS's rule, here a reward), optionally summed with its fresh excess or the influence probe
  (:mod:`agents.soft_q_inputs`), z-scored over the candidates.

A credit is given by object (``SoftQAgent(credit=Learnability("reducible"))``) or by name in a spec, with its
options in brackets: ``soft_q_lm@credit=learnability(signal=reducible)``, ``soft_q_paper@credit=reward(signal=gain)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from agents.soft_q_inputs import FRESH_TOKENS, zscore
from agents.specs import build_named
from curriculum_env.config_rules import positive_int


def _zscored(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(zscore(x)).float()


@dataclass(frozen=True)
class RewardTD:
    """The paper's credit: the step's reward r_k, learnt by the TD update of the window(s) trained that step.

    ``signal``: ``absolute`` (r_k, eq. 1) or ``gain`` (r_k minus the log-prob of the same D-hat before the update,
    ``info["reward_gain"]``; the env computes it with ``paired_reward=True``). ``norm`` > 0 divides the signal by
    its running RMS, an exponential average at this rate (0: off).
    """

    signal: str = "absolute"
    norm: float = 0.0

    per_candidate: ClassVar[bool] = False
    needs_reference: ClassVar[bool] = False
    fresh: ClassVar[bool] = False

    def __post_init__(self) -> None:
        if self.signal not in ("absolute", "gain"):
            raise ValueError(f"reward credit signal must be 'absolute' or 'gain', got {self.signal!r}")
        if not 0 <= self.norm <= 1:
            raise ValueError(f"reward credit norm must lie in [0, 1], got {self.norm!r}")

    def env_kwargs(self) -> dict[str, Any]:
        return {"paired_reward": True} if self.signal == "gain" else {}

    def candidate_rewards(self, cols: dict[str, np.ndarray], info: dict[str, Any]) -> torch.Tensor | None:
        """None: this credit's reward arrives after the step (:meth:`step_reward`)."""
        return None

    def step_reward(self, reward: float, info: dict[str, Any], sq_mean: float) -> tuple[float, float]:
        """The TD signal of a step's ``reward`` and the running mean of signal^2 after it."""
        signal = float(reward)
        if self.signal == "gain":
            if "reward_gain" not in info:
                raise KeyError("credit=reward(signal=gain) reads info['reward_gain']: make the env with "
                               "paired_reward=True")
            signal = float(info["reward_gain"])
        if self.norm:
            rate = self.norm if sq_mean else 1.0  # the first signal seeds the average
            sq_mean = (1.0 - rate) * sq_mean + rate * signal * signal
            signal = signal / math.sqrt(sq_mean + 1e-12)
        return signal, sq_mean


@dataclass(frozen=True)
class InfluenceCredit:
    """Every ``every`` steps the env probes each candidate's first-order influence on ``heldout`` windows of D
    (<grad l_D, grad l_x> at theta_k); each candidate's reward is its influence, z-scored over the N."""

    every: int = 5
    heldout: int = 16

    per_candidate: ClassVar[bool] = True
    needs_reference: ClassVar[bool] = False
    fresh: ClassVar[bool] = False
    metric: ClassVar[str] = "probe/q_corr"

    def __post_init__(self) -> None:
        positive_int(every=self.every, heldout=self.heldout)

    def env_kwargs(self) -> dict[str, Any]:
        return {"influence_every": self.every, "influence_kind": "first_order", "influence_heldout": self.heldout}

    def candidate_rewards(self, cols: dict[str, np.ndarray], info: dict[str, Any]) -> torch.Tensor | None:
        """The z-scored influence [N] on a probed step, None on the others."""
        if "influence" not in info:
            return None
        r = torch.as_tensor(np.asarray(info["influence"], dtype=np.float64))
        return ((r - r.mean()) / (r.std() + 1e-12)).float()

    def correlation(self, q: torch.Tensor, r: torch.Tensor) -> dict[str, float]:
        """Pearson correlation of Q and this step's rewards (N > 2)."""
        return {self.metric: float(torch.corrcoef(torch.stack([q, r]))[0, 1])} if len(q) > 2 else {}


SIGNALS = ("reducible", "reducible+fresh", "fresh", "reducible+influence")
"""Learnability rewards: ``reducible`` (learner loss - reference loss), ``fresh`` (the fresh excess,
:mod:`agents.soft_q_inputs`), ``reducible+fresh`` and ``reducible+influence`` (each part z-scored, added, z-scored
again; the influence part on the env's probed steps only)."""


@dataclass(frozen=True)
class Learnability:
    """Each candidate's reward is its learnability ``signal`` (:data:`SIGNALS`), z-scored over the N; needs the
    reference model trained on D. ``fresh_token`` / ``fresh_first``: how the fresh excess counts tokens
    (:func:`agents.soft_q_inputs.fresh_excess`); ``every`` / ``heldout``: the probes of ``reducible+influence``."""

    signal: str = "reducible+fresh"
    fresh_token: str = "floored"
    fresh_first: bool = True
    every: int = 5
    heldout: int = 16

    per_candidate: ClassVar[bool] = True
    needs_reference: ClassVar[bool] = True
    metric: ClassVar[str] = "learnability/q_corr"

    def __post_init__(self) -> None:
        if self.signal not in SIGNALS:
            raise ValueError(f"learnability signal must be one of {SIGNALS}, got {self.signal!r}")
        if self.fresh_token not in FRESH_TOKENS:
            raise ValueError(f"learnability fresh_token must be one of {FRESH_TOKENS}, got {self.fresh_token!r}")
        positive_int(every=self.every, heldout=self.heldout)

    @property
    def fresh(self) -> bool:
        """Whether this signal reads the fresh excess (and so the env's per-token losses)."""
        return "fresh" in self.signal

    @property
    def probes(self) -> bool:
        return self.signal == "reducible+influence"

    def env_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        if self.probes:
            kwargs.update(InfluenceCredit(self.every, self.heldout).env_kwargs())
        return kwargs

    def candidate_rewards(self, cols: dict[str, np.ndarray], info: dict[str, Any]) -> torch.Tensor | None:
        """The z-scored signal [N] (with influence: on probed steps only, None on the others)."""
        if self.signal == "reducible":
            return _zscored(cols["learnability"])
        if self.signal == "fresh":
            return _zscored(cols["fresh"])
        if self.signal == "reducible+fresh":
            return _zscored(zscore(cols["learnability"]) + zscore(cols["fresh"]))
        if "influence" not in info:
            return None
        return _zscored(zscore(cols["learnability"]) + zscore(info["influence"]))

    def correlation(self, q: torch.Tensor, r: torch.Tensor) -> dict[str, float]:
        """Pearson correlation of Q and this step's rewards (N > 2, neither constant)."""
        if len(q) > 2 and float(r.std()) > 0 and float(q.std()) > 0:
            return {self.metric: float(torch.corrcoef(torch.stack([q, r]))[0, 1])}
        return {}


Credit = RewardTD | InfluenceCredit | Learnability
CREDITS: dict[str, type] = {"reward": RewardTD, "influence": InfluenceCredit, "learnability": Learnability}


def make_credit(value: str | Credit) -> Credit:
    """A credit from an object or a spec string (``learnability``, ``reward(signal=gain,norm=0.01)``)."""
    return build_named(value, CREDITS, "credit")
