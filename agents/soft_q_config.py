"""The soft-Q agent's options (:class:`agents.soft_q.SoftQAgent`), in seven groups, each one concern.

The agent's constructor stays flat (``SoftQAgent(beta=0.3, gamma=0)``, the registry and
``soft_q@beta=0.3``): every flat option is one group field of the same name. Each field holds its
real default; one that the rest of the config does not read must stay at it, and one set where it is
moot is refused naming both settings (:mod:`curriculum_env.config_rules`, the env config's rule too).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field, fields
from typing import Any

from agents.q_learning import QLearningConfig
from agents.soft_q_inputs import FRESH_SIGNALS, FRESH_TOKENS, SIGNALS
from agents.temperature import TemperatureConfig
from curriculum_env.config_rules import non_negative, positive_int, refuse_moot


@dataclass(frozen=True)
class QConfig(QLearningConfig):
    """The Q-network and its TD update (eqs. 2-5: gamma, tau, lr, grad_clip, hidden) and its initialisation."""

    q_init: str = "reward"
    """``reward``: Q's output layer starts at weights 0, bias = the first reward (Q = r_0 everywhere, pi uniform);
    ``default``: PyTorch's initialisation of every layer (see the module doc)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.q_init not in ("reward", "default"):
            raise ValueError(f"q_init must be 'reward' or 'default', got {self.q_init!r}")


@dataclass(frozen=True)
class ActionConfig:
    """What the agent sends to the env each step."""

    action_mode: str = "mixture"
    """``mixture``: send pi as weights (the paper). ``select``: train the LM on the sampled a_k alone."""
    probe_weight: float = 0.0
    """Mixture only: epsilon, train on (1 - epsilon) pi + epsilon one_hot(a_k), so r_k depends on a_k (0: the paper)."""

    def __post_init__(self) -> None:
        if self.action_mode not in ("mixture", "select"):
            raise ValueError(f"action_mode must be 'mixture' or 'select', got {self.action_mode!r}")
        if not 0 <= self.probe_weight <= 1:
            raise ValueError(f"probe_weight must lie in [0, 1], got {self.probe_weight!r}")
        refuse_moot(self, [("probe_weight", self.action_mode == "mixture", f"action_mode={self.action_mode!r}")])


@dataclass(frozen=True)
class CreditConfig:
    """How a step's outcome becomes the regression target of which candidates."""

    credit: str = "reward"
    """``reward``: the TD update of the sampled action(s) on the step's reward (Algorithm 1). ``influence``: on
    every probed step each of the N candidates gets its own reward r_i = its first-order influence on D (env
    ``influence_every=probe_every``), z-scored over the candidates, and Q(h_i) regresses on
    y_i = (1 - gamma) r_i + gamma V-bar(s') (eqs. 3-5): Q amortises the probes (MATES). ``learnability``: every
    step each candidate's reward is its learner loss minus its reference-model loss, z-scored over the
    candidates (:mod:`agents.soft_q_inputs`; needs ``reference=True``), in the same target."""
    reward_signal: str = "absolute"
    """Reward credit: ``absolute`` r_k (eq. 1, the paper) or ``gain`` r_k - (log-prob of the same D-hat before
    the update), read from ``info["reward_gain"]`` (needs the env's ``paired_reward=True``)."""
    reward_norm: float = 0.0
    """Reward credit: if > 0, divide the signal by its running RMS, an exponential average with this rate (0: off)."""
    probe_every: int = 5
    """Influence credit (and ``learnability_signal="reducible+influence"``): the env probes the candidates'
    influence every this many steps."""
    probe_kind: str = "first_order"
    """Influence probes: the env's ``influence_kind``, ``first_order`` or ``measured``."""
    probe_heldout: int = 16
    """Influence probes: windows of D in each probe's sample, the env's ``influence_heldout``."""
    learnability_signal: str = "reducible"
    """Learnability credit: ``reducible`` (learner - reference loss), ``contrast`` (stream-model - reference
    loss; needs ``stream_model=True``), ``sum`` (both, z-scored and added), ``reducible+influence``, ``fresh``
    (the per-token excess, floored at 0, over each window's first occurrences of its transitions; the fresh
    excess joins Q's features) or ``reducible+fresh`` (reducible and fresh, z-scored and added)."""
    fresh_token: str = "floored"
    """Fresh excess, what each token adds: ``floored`` (its excess, floored at 0), ``signed`` (its excess) or
    ``centred`` (its excess minus the mean excess of all tokens of the step's candidates)."""
    fresh_first: bool = True
    """Fresh excess: count only each window's first occurrence of a transition (False, an ablation: every position)."""

    @property
    def fresh(self) -> bool:
        """Whether this credit reads the fresh excess."""
        return self.credit == "learnability" and self.learnability_signal in FRESH_SIGNALS

    @property
    def probes(self) -> bool:
        """Whether this credit reads the env's influence probes."""
        return self.credit == "influence" or (self.credit == "learnability"
                                              and self.learnability_signal == "reducible+influence")

    def __post_init__(self) -> None:
        if self.credit not in CREDITS:
            raise ValueError(f"credit must be one of {CREDITS}, got {self.credit!r}")
        for name, options in (("reward_signal", ("absolute", "gain")), ("probe_kind", ("first_order", "measured")),
                              ("learnability_signal", SIGNALS), ("fresh_token", FRESH_TOKENS)):
            if getattr(self, name) not in options:
                raise ValueError(f"{name} must be one of {options}, got {getattr(self, name)!r}")
        if not 0 <= self.reward_norm <= 1:
            raise ValueError(f"reward_norm must lie in [0, 1], got {self.reward_norm!r}")
        positive_int(probe_every=self.probe_every, probe_heldout=self.probe_heldout)
        mode = f"credit={self.credit!r}"
        probes_why = (f"{mode} with learnability_signal={self.learnability_signal!r}"
                      if self.credit == "learnability" else mode)
        reward, learnability = self.credit == "reward", self.credit == "learnability"
        refuse_moot(self, [("reward_signal", reward, mode), ("reward_norm", reward, mode),
                           ("learnability_signal", learnability, mode),
                           *((name, self.probes, probes_why) for name in ("probe_every", "probe_kind",
                                                                           "probe_heldout")),
                           *((name, self.fresh, f"{mode} with learnability_signal={self.learnability_signal!r}")
                             for name in ("fresh_token", "fresh_first"))])


INPUTS = ("hidden", "features", "both")
CREDITS = ("reward", "influence", "learnability")


@dataclass(frozen=True)
class InputConfig:
    """What Q reads per candidate, and the reference model trained on D (:mod:`agents.soft_q_inputs`)."""

    inputs: str = "hidden"
    """``hidden``: the env observation (the learner's hidden states, the paper); ``features``: loss, entropy
    (and with a reference: reference loss, learnability), each z-scored over the step and divided by log V;
    ``both``: the two concatenated."""
    reference: bool = False
    """Train a tiny reference GPT-2 on the env's held-out set D in ``setup`` (its FLOPs charged to the run)."""
    reference_layers: int = 1
    """Reference model: transformer blocks."""
    reference_width: int = 32
    """Reference model: hidden size (even: 2 heads)."""
    reference_steps: int = 200
    """Reference model: AdamW steps of 16 windows of D."""
    stream_model: bool = False
    """Also keep a hashed bigram count model of every candidate seen (:mod:`agents.ngram_model`): the
    ``general`` loss and the ``contrast`` general - reference (a cross-entropy difference) join the features."""

    def __post_init__(self) -> None:
        if self.inputs not in INPUTS:
            raise ValueError(f"inputs must be one of {INPUTS}, got {self.inputs!r}")
        sizes = ("reference_layers", "reference_width", "reference_steps")
        refuse_moot(self, [(name, self.reference, "reference=False") for name in sizes])
        positive_int(**{name: getattr(self, name) for name in sizes})
        if self.stream_model and not self.reference:
            raise ValueError("stream_model=True needs reference=True (its contrast is against the reference model)")
        if self.reference_width % 2:
            raise ValueError(f"reference_width must be even (2 attention heads), got {self.reference_width!r}")


@dataclass(frozen=True)
class ReplayConfig:
    """Experience replay of (h, y) regression pairs (off: ``replay_size = replay_updates = 0``)."""

    replay_size: int = 0
    """Capacity of the (h, y) replay buffer (0: no replay)."""
    replay_updates: int = 0
    """Extra Q steps per env step on minibatches drawn from the replay buffer."""
    replay_batch: int = 32
    """Minibatch size of each replay update."""

    def __post_init__(self) -> None:
        non_negative(replay_size=self.replay_size, replay_updates=self.replay_updates)
        if bool(self.replay_size) != bool(self.replay_updates):
            raise ValueError(f"replay_size={self.replay_size!r} and replay_updates={self.replay_updates!r}: replay "
                             "needs both > 0 (a buffer that no update reads, or updates with no buffer); set both "
                             "or neither")
        refuse_moot(self, [("replay_batch", bool(self.replay_updates), "replay_updates=0")])
        positive_int(replay_batch=self.replay_batch)


@dataclass(frozen=True)
class AblationConfig:
    """The paper's ablations (§2.6, §2.7) and ours: which steps ignore Q, LM resets, TD into theta."""

    no_q_weighting: bool = False
    """Send uniform 1/N weights to the env every step; Q still learns from sampled actions (§2.6)."""
    warmup_steps: int = 0
    """First steps send the uniform mixture while Q learns."""
    alternate_every: int = 0
    """Alternate B-step blocks of uniform LM updates (Q learns only) and Q-weighted ones (0: off)."""
    reset_lm_every: int = 0
    """Re-initialise the LM every K steps so only Q keeps learning (0: off)."""
    td_into_theta: bool = False
    """Re-forward the previous action's tokens with gradients; the TD loss also trains theta (§2.7)."""
    td_lambda: float = 1.0
    """With td_into_theta: lambda_TD, scale of the TD loss's gradient into theta."""

    def __post_init__(self) -> None:
        non_negative(warmup_steps=self.warmup_steps, alternate_every=self.alternate_every,
                     reset_lm_every=self.reset_lm_every, td_lambda=self.td_lambda)
        weighting = not self.no_q_weighting
        refuse_moot(self, [("warmup_steps", weighting, "no_q_weighting=True"),
                           ("alternate_every", weighting, "no_q_weighting=True"),
                           ("td_lambda", self.td_into_theta, "td_into_theta=False")])


@dataclass(frozen=True)
class SoftQConfig:
    """Hyperparameters of the soft-Q agent (paper defaults), in seven groups.

    Build it from the agent's flat options with :meth:`from_flat`; :meth:`flat` gives them back.
    """

    q: QConfig = field(default_factory=QConfig)
    """Q-network and TD update: gamma, tau, lr, grad_clip, hidden, q_init."""
    temperature: TemperatureConfig = field(default_factory=TemperatureConfig)
    """beta's controller: temperature (the mode), beta, beta_min, beta_k, temperature_window, planned_steps,
    phase_betas, phase_bounds."""
    action: ActionConfig = field(default_factory=ActionConfig)
    """What goes to the env: action_mode, probe_weight."""
    credit: CreditConfig = field(default_factory=CreditConfig)
    """What Q regresses on: credit, reward_signal, reward_norm, probe_every, probe_kind, probe_heldout,
    learnability_signal, fresh_token, fresh_first."""
    inputs: InputConfig = field(default_factory=InputConfig)
    """What Q reads: inputs, reference, reference_layers, reference_width, reference_steps, stream_model."""
    replay: ReplayConfig = field(default_factory=ReplayConfig)
    """(h, y) replay: replay_size, replay_updates, replay_batch."""
    ablation: AblationConfig = field(default_factory=AblationConfig)
    """no_q_weighting, warmup_steps, alternate_every, reset_lm_every, td_into_theta, td_lambda."""

    def __post_init__(self) -> None:  # contradictions across groups
        kind = self.credit.credit
        if kind != "reward" and self.action.action_mode != "mixture":
            raise ValueError(f"credit={kind!r} needs action_mode='mixture' (it credits all N candidates of a "
                             f"mixture step), got action_mode={self.action.action_mode!r}")
        if kind != "reward" and self.ablation.td_into_theta:
            raise ValueError(f"credit={kind!r} contradicts td_into_theta=True (there is no TD loss on the trained "
                             "windows to send into theta); drop one")
        if kind == "learnability" and not self.inputs.reference:
            raise ValueError("credit='learnability' needs reference=True (learnability is the learner's loss minus "
                             "the reference model's)")
        if self.credit.learnability_signal in ("contrast", "sum") and not self.inputs.stream_model:
            raise ValueError(f"learnability_signal={self.credit.learnability_signal!r} needs stream_model=True (the "
                             "contrast is the stream model's loss minus the reference's)")

    @classmethod
    def options(cls) -> dict[str, tuple[str, str]]:
        """Flat option name -> (group, field), in declaration order."""
        return {f.name: (group.name, f.name) for group in fields(cls) for f in fields(group.default_factory)}

    @classmethod
    def from_flat(cls, **options: Any) -> SoftQConfig:
        """The config from flat options (``beta=0.3, replay_size=300``); a TypeError names unknown ones."""
        where = cls.options()
        unknown = [k for k in options if k not in where]
        if unknown:
            hints = [f"{k!r} (did you mean {close[0]!r}?)" if (close := difflib.get_close_matches(k, where, 1))
                     else repr(k) for k in unknown]
            raise TypeError(f"unknown soft-Q option {', '.join(hints)}; accepted: {', '.join(where)}")
        groups: dict[str, dict[str, Any]] = {f.name: {} for f in fields(cls)}
        for name, value in options.items():
            group, attr = where[name]
            groups[group][attr] = value
        return cls(**{f.name: f.default_factory(**groups[f.name]) for f in fields(cls)})

    def flat(self) -> dict[str, Any]:
        """The flat options of this config (every one at its value; ``from_flat(**flat())`` rebuilds it)."""
        return {name: getattr(getattr(self, group), attr) for name, (group, attr) in self.options().items()}


FLAT_OPTIONS = SoftQConfig.options()  # flat option name -> (group, field)
if len(FLAT_OPTIONS) != sum(len(fields(f.default_factory)) for f in fields(SoftQConfig)):
    raise RuntimeError("SoftQConfig: two group fields share a flat option name")
