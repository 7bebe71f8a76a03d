"""The soft-Q agent's options (:class:`agents.soft_q.SoftQAgent`), in seven groups, each one concern.

The agent's constructor stays flat (``SoftQAgent(beta=0.3, gamma=0)``, the registry and
``soft_q@beta=0.3``): every flat option is one group field, named by the field or by its
``metadata["flat"]``. A parameter that only one mode reads defaults to ``None`` and is resolved to its
default when the mode reads it; giving it to a mode that does not read it is refused, as is switching
on an option (``probe_weight > 0``, ``warmup_steps > 0``, ...) that the rest ignores.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field, fields
from typing import Any

from agents.q_learning import QLearningConfig
from agents.soft_q_inputs import SIGNALS
from agents.temperature import TemperatureConfig


def non_negative(**values: int) -> None:
    """Raise ValueError naming the first of ``values`` that is negative."""
    for name, value in values.items():
        if value < 0:
            raise ValueError(f"{name} must be >= 0, got {value!r}")

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

    mode: str = field(default="mixture", metadata={"flat": "action_mode"})
    """``mixture``: send pi as weights (the paper). ``select``: train the LM on the sampled a_k alone."""
    probe_weight: float = 0.0
    """Mixture only: epsilon, train on (1 - epsilon) pi + epsilon one_hot(a_k), so r_k depends on a_k (0: the paper)."""

    def __post_init__(self) -> None:
        if self.mode not in ("mixture", "select"):
            raise ValueError(f"action_mode must be 'mixture' or 'select', got {self.mode!r}")
        if not 0 <= self.probe_weight <= 1:
            raise ValueError(f"probe_weight must lie in [0, 1], got {self.probe_weight!r}")
        if self.probe_weight and self.mode == "select":
            raise ValueError(f"probe_weight={self.probe_weight!r} contradicts action_mode='select': the env trains "
                             "on a_k alone, there is no mixture to mix it into; drop one")


@dataclass(frozen=True)
class CreditConfig:
    """How a step's outcome becomes the regression target of which candidates."""

    kind: str = field(default="reward", metadata={"flat": "credit"})
    """``reward``: the TD update of the sampled action(s) on the step's reward (Algorithm 1). ``influence``: on
    every probed step each of the N candidates gets its own reward r_i = its first-order influence on D (env
    ``influence_every=probe_every``), z-scored over the candidates, and Q(h_i) regresses on
    y_i = (1 - gamma) r_i + gamma V-bar(s') (eqs. 3-5): Q amortises the probes (MATES). ``learnability``: every
    step each candidate's reward is its learner loss minus its reference-model loss, z-scored over the
    candidates (:mod:`agents.soft_q_inputs`; needs ``reference=True``), in the same target."""
    reward_signal: str | None = None
    """Reward credit: ``absolute`` r_k (eq. 1, the paper; default) or ``gain`` r_k - (log-prob of the same D-hat
    before the update), read from ``info["reward_gain"]`` (needs the env's ``paired_reward=True``)."""
    reward_norm: float = 0.0
    """Reward credit: if > 0, divide the signal by its running RMS, an exponential average with this rate (0: off)."""
    probe_every: int | None = None
    """Influence credit: the env probes the candidates' influence every this many steps (default 5)."""
    probe_kind: str | None = None
    """Influence credit: the env's ``influence_kind``, ``first_order`` (default) or ``measured``."""
    probe_heldout: int | None = None
    """Influence credit: windows of D in each probe's sample, the env's ``influence_heldout`` (default 16)."""
    signal: str | None = field(default=None, metadata={"flat": "learnability_signal"})
    """Learnability credit: ``reducible`` (learner - reference loss; default), ``contrast`` (stream-model -
    reference loss; needs ``stream_model=True``) or ``sum`` (both, z-scored and added)."""

    def __post_init__(self) -> None:
        if self.kind not in CREDITS:
            raise ValueError(f"credit must be one of {CREDITS}, got {self.kind!r}")
        reads = {"reward": ("reward_signal",), "influence": ("probe_every", "probe_kind", "probe_heldout"),
                 "learnability": ("signal", "probe_every", "probe_kind", "probe_heldout")}
        defaults = {"reward_signal": "absolute", "probe_every": 5, "probe_kind": "first_order", "probe_heldout": 16,
                    "signal": "reducible"}
        read = reads[self.kind]
        if self.kind == "learnability" and self.signal != "reducible+influence":
            read = ("signal",)  # the probes only feed the influence term
        for name, default in defaults.items():
            value = getattr(self, name)
            if name in read:
                object.__setattr__(self, name, default if value is None else value)
            elif value is not None:
                owner = next(k for k, names in reads.items() if name in names)
                where = (f"credit={owner!r}" if name not in reads["learnability"] or name == "signal"
                         else "credit='influence' or learnability_signal='reducible+influence'")
                raise ValueError(f"{name}={value!r} contradicts credit={self.kind!r}: {name} applies to "
                                 f"{where} only; drop one")
        if self.reward_norm and self.kind != "reward":
            raise ValueError(f"reward_norm={self.reward_norm!r} contradicts credit={self.kind!r}: its z-scored "
                             "rewards are already normalised (reward_norm applies to credit='reward' only); drop one")
        if self.signal not in (None, *SIGNALS):
            raise ValueError(f"learnability_signal must be one of {SIGNALS}, got {self.signal!r}")
        if self.reward_signal not in (None, "absolute", "gain"):
            raise ValueError(f"reward_signal must be 'absolute' or 'gain', got {self.reward_signal!r}")
        if not 0 <= self.reward_norm <= 1:
            raise ValueError(f"reward_norm must lie in [0, 1], got {self.reward_norm!r}")
        if self.probe_kind not in (None, "first_order", "measured"):
            raise ValueError(f"probe_kind must be 'first_order' or 'measured', got {self.probe_kind!r}")
        for name in ("probe_every", "probe_heldout"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
                raise ValueError(f"{name} must be a positive integer, got {value!r}")


INPUTS = ("hidden", "features", "both")
CREDITS = ("reward", "influence", "learnability")


@dataclass(frozen=True)
class InputConfig:
    """What Q reads per candidate, and the reference model trained on D (:mod:`agents.soft_q_inputs`)."""

    kind: str = field(default="hidden", metadata={"flat": "inputs"})
    """``hidden``: the env observation (the learner's hidden states, the paper); ``features``: loss, entropy
    (and with a reference: reference loss, learnability), each z-scored over the step and divided by log V;
    ``both``: the two concatenated."""
    reference: bool = False
    """Train a tiny reference GPT-2 on the env's held-out set D in ``setup`` (its FLOPs charged to the run)."""
    reference_layers: int | None = None
    """Reference model: transformer blocks (default 1)."""
    reference_width: int | None = None
    """Reference model: hidden size (default 32; 2 heads)."""
    reference_steps: int | None = None
    """Reference model: AdamW steps of 16 windows of D (default 200)."""
    stream_model: bool = False
    """Also keep a hashed bigram count model of every candidate seen (:mod:`agents.ngram_model`): the
    ``general`` loss and the ``contrast`` general - reference (a cross-entropy difference) join the features."""

    def __post_init__(self) -> None:
        if self.kind not in INPUTS:
            raise ValueError(f"inputs must be one of {INPUTS}, got {self.kind!r}")
        defaults = {"reference_layers": 1, "reference_width": 32, "reference_steps": 200}
        for name, default in defaults.items():
            value = getattr(self, name)
            if not self.reference:
                if value is not None:
                    raise ValueError(f"{name}={value!r} contradicts reference=False (there is no reference "
                                     "model to size); drop one")
                continue
            value = default if value is None else value
            if not (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
            object.__setattr__(self, name, value)
        if self.stream_model and not self.reference:
            raise ValueError("stream_model=True needs reference=True (its contrast is against the reference model)")
        if self.reference and self.reference_width % 2:
            raise ValueError(f"reference_width must be even (2 attention heads), got {self.reference_width!r}")


@dataclass(frozen=True)
class ReplayConfig:
    """Experience replay of (h, y) regression pairs (off: ``size = updates = 0``)."""

    size: int = field(default=0, metadata={"flat": "replay_size"})
    """Capacity of the (h, y) replay buffer (0: no replay)."""
    updates: int = field(default=0, metadata={"flat": "replay_updates"})
    """Extra Q steps per env step on minibatches drawn from the replay buffer."""
    batch: int | None = field(default=None, metadata={"flat": "replay_batch"})
    """Minibatch size of each replay update (default 32 when replay is on)."""

    def __post_init__(self) -> None:
        non_negative(replay_size=self.size, replay_updates=self.updates)
        if bool(self.size) != bool(self.updates):
            raise ValueError(f"replay_size={self.size!r} and replay_updates={self.updates!r}: replay needs both > 0 "
                             "(a buffer that no update reads, or updates with no buffer); set both or neither")
        if self.batch is not None and not self.updates:
            raise ValueError(f"replay_batch={self.batch!r} contradicts replay_updates=0 (no replay update draws a "
                             "minibatch); drop one")
        if self.updates:
            object.__setattr__(self, "batch", 32 if self.batch is None else self.batch)
            if self.batch < 1:
                raise ValueError(f"replay_batch must be >= 1, got {self.batch!r}")


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
    td_lambda: float | None = None
    """With td_into_theta: lambda_TD, scale of the TD loss's gradient into theta (default 1.0)."""

    def __post_init__(self) -> None:
        non_negative(warmup_steps=self.warmup_steps, alternate_every=self.alternate_every,
                     reset_lm_every=self.reset_lm_every)
        for name in ("warmup_steps", "alternate_every"):
            if self.no_q_weighting and getattr(self, name):
                raise ValueError(f"{name}={getattr(self, name)!r} contradicts no_q_weighting=True: every step is "
                                 "already uniform; drop one")
        if self.td_into_theta:
            object.__setattr__(self, "td_lambda", 1.0 if self.td_lambda is None else self.td_lambda)
            if self.td_lambda < 0:
                raise ValueError(f"td_lambda must be >= 0, got {self.td_lambda!r}")
        elif self.td_lambda is not None:
            raise ValueError(f"td_lambda={self.td_lambda!r} contradicts td_into_theta=False (no TD loss reaches "
                             "theta); drop one")


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
    learnability_signal."""
    inputs: InputConfig = field(default_factory=InputConfig)
    """What Q reads: inputs, reference, reference_layers, reference_width, reference_steps, stream_model."""
    replay: ReplayConfig = field(default_factory=ReplayConfig)
    """(h, y) replay: replay_size, replay_updates, replay_batch."""
    ablation: AblationConfig = field(default_factory=AblationConfig)
    """no_q_weighting, warmup_steps, alternate_every, reset_lm_every, td_into_theta, td_lambda."""

    def __post_init__(self) -> None:  # contradictions across groups
        kind = self.credit.kind
        if kind != "reward" and self.action.mode != "mixture":
            raise ValueError(f"credit={kind!r} needs action_mode='mixture' (it credits all N candidates of a "
                             f"mixture step), got action_mode={self.action.mode!r}")
        if kind != "reward" and self.ablation.td_into_theta:
            raise ValueError(f"credit={kind!r} contradicts td_into_theta=True (there is no TD loss on the trained "
                             "windows to send into theta); drop one")
        if kind == "learnability" and not self.inputs.reference:
            raise ValueError("credit='learnability' needs reference=True (learnability is the learner's loss minus "
                             "the reference model's)")
        if self.credit.signal in ("contrast", "sum") and not self.inputs.stream_model:
            raise ValueError(f"learnability_signal={self.credit.signal!r} needs stream_model=True (the contrast is "
                             "the stream model's loss minus the reference's)")

    @classmethod
    def options(cls) -> dict[str, tuple[str, str]]:
        """Flat option name -> (group, field), in declaration order."""
        return {f.metadata.get("flat", f.name): (group.name, f.name)
                for group in fields(cls) for f in fields(group.default_factory)}

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
        """The flat options of this config (``None``: a parameter that its mode does not read)."""
        return {name: getattr(getattr(self, group), attr) for name, (group, attr) in self.options().items()}


FLAT_OPTIONS = SoftQConfig.options()  # flat option name -> (group, field)
if len(FLAT_OPTIONS) != sum(len(fields(f.default_factory)) for f in fields(SoftQConfig)):
    raise RuntimeError("SoftQConfig: two group fields share a flat option name")
