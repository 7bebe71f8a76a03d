"""The soft-Q agent's options (:class:`agents.soft_q.SoftQAgent`): fifteen, flat, each with its real default.

Two of them are strategies, given by object or by name with options in brackets: ``beta`` (a number, or a
temperature controller, :mod:`agents.temperature`) and ``credit`` (where Q's rewards come from,
:mod:`agents.soft_q_credit`). So ``soft_q_lm@credit=learnability(signal=reducible),beta=closed_loop`` is a spec.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, fields
from typing import Any

from agents.q_learning import QLearningConfig
from agents.soft_q_credit import make_credit
from agents.temperature import make_temperature
from curriculum_env.config_rules import non_negative, positive_int

INPUTS = ("hidden", "features", "both")


@dataclass(frozen=True)
class SoftQConfig(QLearningConfig):
    """Hyperparameters of the soft-Q agent (the paper's defaults): the Q-network and its TD update (gamma, tau,
    lr, grad_clip, hidden), and the options below."""

    beta: float | str = 1.0
    """Boltzmann temperature of softmax(Q / beta) (eq. 6) and of V-bar (eq. 4): a number (1.0, the paper's), or a
    controller, ``closed_loop(beta_min=0.5,k=0.7,window=20)``, which sets it from the recent failure rate."""
    action_mode: str = "mixture"
    """``mixture``: send pi as weights (the paper). ``select``: train the LM on the sampled a_k alone."""
    credit: Any = "reward"
    """Where Q's rewards come from (:mod:`agents.soft_q_credit`): ``reward`` (the paper's TD on the step's
    reward), ``influence`` or ``learnability``, each with options in brackets, or a credit object."""
    inputs: str = "hidden"
    """What Q reads per candidate: ``hidden`` (the env observation, the paper), ``features`` (loss, entropy and,
    with a reference, reference loss and learnability, :mod:`agents.soft_q_inputs`) or ``both``."""
    reference: bool = False
    """Train a tiny reference GPT-2 on the env's held-out set D in ``setup`` (its FLOPs charged to the run);
    the learnability credit trains one whatever this says."""
    reference_steps: int = 200
    """Reference model: AdamW steps of 16 windows of D."""
    replay_size: int = 0
    """Capacity of the (h, y) replay buffer (0: no replay)."""
    replay_updates: int = 0
    """Extra Q steps per env step on minibatches drawn from the replay buffer."""
    replay_batch: int = 32
    """Minibatch size of each replay update."""
    no_q_weighting: bool = False
    """Send uniform weights to the env every step; Q still learns from the sampled actions (§2.6)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "credit", make_credit(self.credit))  # a spec string becomes its object
        make_temperature(self.beta)  # the controller validates its parameters
        if self.action_mode not in ("mixture", "select"):
            raise ValueError(f"action_mode must be 'mixture' or 'select', got {self.action_mode!r}")
        if self.inputs not in INPUTS:
            raise ValueError(f"inputs must be one of {INPUTS}, got {self.inputs!r}")
        positive_int(reference_steps=self.reference_steps, replay_batch=self.replay_batch)
        non_negative(replay_size=self.replay_size, replay_updates=self.replay_updates)
        if bool(self.replay_size) != bool(self.replay_updates):
            raise ValueError(f"replay_size={self.replay_size!r} and replay_updates={self.replay_updates!r}: replay "
                             "needs both > 0 (a buffer that no update reads, or updates with no buffer); set both "
                             "or neither")
        if self.credit.per_candidate and self.action_mode != "mixture":
            raise ValueError(f"credit={self.credit!r} needs action_mode='mixture' (it credits all N candidates of a "
                             f"mixture step), got action_mode={self.action_mode!r}")

    @property
    def uses_reference(self) -> bool:
        """Whether the agent trains the reference model (asked for, or read by its credit)."""
        return self.reference or self.credit.needs_reference

    @classmethod
    def from_options(cls, **options: Any) -> SoftQConfig:
        """The config from keyword options; a TypeError names an unknown one with the closest known name."""
        known = [f.name for f in fields(cls)]
        unknown = [k for k in options if k not in known]
        if unknown:
            hints = [f"{k!r} (did you mean {close[0]!r}?)" if (close := difflib.get_close_matches(k, known, 1))
                     else repr(k) for k in unknown]
            raise TypeError(f"unknown soft-Q option {', '.join(hints)}; accepted: {', '.join(known)}")
        return cls(**options)


OPTIONS = tuple(f.name for f in fields(SoftQConfig))
"""The agent's options, in declaration order."""
