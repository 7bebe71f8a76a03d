"""Soft-Q curriculum agent: the paper's Algorithm 1 (Viteri & Vrabac, §2), one file, top to bottom.

Per step k, in :meth:`SoftQAgent.act` (one forward of the candidates serves two purposes, §2.5):

1. ``q_k = Q_phi(H_k)`` and ``qbar_k = Q_phibar(H_k)`` on the env observation H_k [N, d] (detached
   last-layer hidden states);
2. if a transition (h_prev, r_prev) is pending: ``V_k = beta [logsumexp(qbar_k / beta) - log N]``
   (eq. 4), ``y = (1 - gamma) r_prev + gamma V_k`` (eq. 3, stop-gradient), one Adam step on
   ``1/2 (Q_phi(h_prev) - y)^2`` with gradient clipping G, then Polyak ``phibar <- tau phi + (1 - tau)
   phibar`` (eq. 5);
3. ``pi_k = softmax(q_k / beta)`` (eq. 6), sample ``a_k ~ pi_k``, keep ``h_prev = H_k[a_k]`` and its
   token ids; return ``pi_k`` as the mixture weights (the env trains on ``sum_i pi_i loss_i``, eq. 7).

:meth:`SoftQAgent.observe` stores ``r_prev`` = the reward of that step. Q learns off-policy from the
sampled action (§2.5); in mixture mode the transition is caused by the whole mixture.

Credit assignment (measured in ``benchmarks/q_ranking.py``; figures in the README). With the
paper's settings the Q-ranking of candidates carries no signal, for three reasons, each with an
option that addresses it:

- In mixture mode r_k does not depend on the sampled a_k (the LM trained on the whole mixture), so
  the TD target cannot tell candidates of one batch apart. ``action_mode="select"`` (the paper's
  single-action formulation, §2.1) makes the transition depend on a_k; ``probe_weight=epsilon``
  keeps the mixture but gives a_k an extra share epsilon of it.
- The absolute reward r_k moves by several nats over a run while one step changes it by ~0.01-0.1,
  and D-hat's resampling noise exceeds that change. ``reward_signal="gain"`` learns instead from
  r_k minus the log-prob of the *same* D-hat before the update (env ``paired_reward=True``: one
  extra no-grad forward of M windows).
- Q starts near 0 while rewards are near -log V, so early TD errors are all offset.
  ``q_init="reward"`` (the default) starts the output layer at weights 0 and bias r_0: Q = r_0 for
  every candidate (the constant-reward fixed point) and pi uniform; it changes nothing else.

The ``soft_q_gain`` preset (select mode, gain, gamma = 0, (h, y) replay) is the configuration that
ranks the needle first; ``reward_norm`` (divide by a running RMS) is what makes beta = 1 matter
when the gains are ~1e-3 (noisy task). gamma = 0 makes Q a per-candidate bandit estimate of the
one-step gain; with gamma = 0.9 the bootstrap V-bar adds noise larger than the gain differences.

Options (:class:`SoftQConfig`, six groups: ``q``, ``temperature`` (:mod:`agents.temperature`),
``action``, ``credit``, ``replay``, ``ablation``; the constructor takes them flat, and refuses an
option that the others make meaningless): ``no_q_weighting`` (§2.6), ``td_into_theta`` /
``td_lambda`` (§2.7), experience replay of (h, y) pairs, Q warm-up, and two ablations:

- ``reset_lm_every=K``: every K steps the agent re-initialises the LM
  (``env.unwrapped.learner.reinitialise(seed)``, fresh weights and AdamW) and re-forwards the
  current candidates, so the LM never gets far while Q keeps learning across resets — does Q
  learn a value of data that transfers to a fresh model?
- ``alternate_every=B``: blocks of B steps alternate between a uniform LM update (only Q learns,
  its weights are not used) and the Q-weighted update, starting with a uniform block.

**Training budget** (env ``train_batch=B``, read in :meth:`SoftQAgent.setup`). The env trains
exactly the B candidates with the largest weights, so sending pi would train its top B
deterministically. In ``mixture`` mode the agent instead draws B distinct candidates from pi without
replacement (Gumbel-top-B with its own ``torch.Generator``; the first one is a plain draw from pi
and is reported as ``policy/action``) and sends ``pi * mask`` renormalised: exactly B positive
weights, so the env trains those B under either ``train_weighting`` (``uniform``: 1/B each;
``action``: pi renormalised over them). Uniform steps (``no_q_weighting``, warm-up, alternating
blocks) draw the B uniformly at random and weight them 1/B. The pending transition keeps all B
hidden states (and token ids, for ``td_into_theta``); the TD step regresses Q(h_b) on the same
target y for every b (mean over B of ``1/2 (Q(h_b) - y)^2``), and replay stores all B pairs.
``policy/trained_mass`` is pi's mass on the B. In ``select`` mode the agent still samples one
a_k and learns from it alone; the env trains it plus B - 1 candidates it picks at random.
``probe_weight`` has no meaning under a budget (the B trained share the weight) and is refused.

The agent reads no per-candidate statistic (``env_kwargs``: ``candidate_stats=()``, the cheapest
env step; plus ``paired_reward=True`` for ``reward_signal="gain"``).

**Influence credit** (``credit="influence"``, the registered default ``soft_q``). Under a budget the
step's reward is shared by the B windows trained together, and the paper's TD update cannot tell
them apart. With this credit the env probes, every ``probe_every`` steps, each of the N candidates'
first-order influence on a sample of D (env ``influence_every``: <grad l_D, grad l_x> at theta_k,
one forward/backward per candidate; see :meth:`curriculum_env.learner.Learner.influence`). Each
candidate gets its own reward r_i = its influence z-scored over the N, and Q(h_i) regresses on
y_i = (1 - gamma) r_i + gamma V-bar(s') -- eqs. 3-5 with the normalised log-mean-exp value of the
next candidates from the Polyak target -- with (h, y) replay. Q amortises the probes (MATES) and
selects every step: B windows by Gumbel-top-B from softmax(Q / beta). On the benchmark (3 seeds,
300 steps, B = 4 of 16), share of the random -> oracle gap in final test NLL: beta 0.1, gamma 0:
25% on noisy, 128% on mixed; beta 0.05, gamma 0.5: 25%, 131% (the default); beta 1: 10%, 57%;
gamma 0.9 at beta 0.1: 14%, 74%. On ``mixed`` Q learns what the oracle knows (prose over code) and
more; on ``noisy`` the probe itself is the limit: even ranking every step by exact first-order
influence closes only ~45% there, because shuffled and repeated prose help the held-out loss about
as much as prose does in the first step after training on them.
"""

from __future__ import annotations

import copy
import difflib
import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn
from torch.func import functional_call

from agents.base import gumbel_top_k, source_mass, train_budget
from agents.q_learning import QLearningConfig, polyak, q_network, soft_value, td_target
from agents.replay import PairReplay
from agents.temperature import TemperatureConfig

# ---------------------------------------------------------------------------------------------- config
# Six groups, each one concern. The agent's constructor stays flat (``SoftQAgent(beta=0.3, gamma=0)``,
# the registry and ``soft_q@beta=0.3``): every flat option is one group field, named by the field or by
# its ``metadata["flat"]``. A parameter that only one mode reads defaults to ``None`` and is resolved
# to its default when the mode reads it; giving it to a mode that does not read it is refused, as is
# switching on an option (``probe_weight > 0``, ``warmup_steps > 0``, ...) that the rest ignores.


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
    y_i = (1 - gamma) r_i + gamma V-bar(s') (eqs. 3-5): Q amortises the probes (MATES)."""
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

    def __post_init__(self) -> None:
        if self.kind not in ("reward", "influence"):
            raise ValueError(f"credit must be 'reward' or 'influence', got {self.kind!r}")
        reads = {"reward": ("reward_signal",), "influence": ("probe_every", "probe_kind", "probe_heldout")}
        defaults = {"reward_signal": "absolute", "probe_every": 5, "probe_kind": "first_order", "probe_heldout": 16}
        for name, default in defaults.items():
            value = getattr(self, name)
            if name in reads[self.kind]:
                object.__setattr__(self, name, default if value is None else value)
            elif value is not None:
                raise ValueError(f"{name}={value!r} contradicts credit={self.kind!r}: {name} applies to "
                                 f"credit={'influence' if self.kind == 'reward' else 'reward'!r} only; drop one")
        if self.reward_norm and self.kind == "influence":
            raise ValueError(f"reward_norm={self.reward_norm!r} contradicts credit='influence': the z-scored probes "
                             "are already normalised (reward_norm applies to credit='reward' only); drop one")
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
        for name, value in (("replay_size", self.size), ("replay_updates", self.updates)):
            if value < 0:
                raise ValueError(f"{name} must be >= 0, got {value!r}")
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
        for name in ("warmup_steps", "alternate_every", "reset_lm_every"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")
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
    """Hyperparameters of the soft-Q agent (paper defaults), in six groups.

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
    """What Q regresses on: credit, reward_signal, reward_norm, probe_every, probe_kind."""
    replay: ReplayConfig = field(default_factory=ReplayConfig)
    """(h, y) replay: replay_size, replay_updates, replay_batch."""
    ablation: AblationConfig = field(default_factory=AblationConfig)
    """no_q_weighting, warmup_steps, alternate_every, reset_lm_every, td_into_theta, td_lambda."""

    def __post_init__(self) -> None:  # contradictions across groups
        if self.credit.kind == "influence" and self.action.mode != "mixture":
            raise ValueError("credit='influence' needs action_mode='mixture' (the probes credit all N candidates "
                             f"of a mixture step), got action_mode={self.action.mode!r}")
        if self.credit.kind == "influence" and self.ablation.td_into_theta:
            raise ValueError("credit='influence' contradicts td_into_theta=True (there is no TD loss on the trained "
                             "windows to send into theta); drop one")

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


class SoftQAgent:
    """Algorithm 1: Boltzmann-weighted mixture curriculum learned by normalised soft Q-learning."""

    name = "soft_q"

    def __init__(self, **kwargs: Any):
        """``kwargs``: flat options (``beta=0.3, replay_size=300``), see :meth:`SoftQConfig.options`."""
        self.config = SoftQConfig.from_flat(**kwargs)
        self.action_mode = self.config.action.mode
        self.env: gym.Env | None = None
        self.q: nn.Module | None = None

    @property
    def env_kwargs(self) -> dict[str, Any]:
        """Env config this agent needs beyond ``action_mode`` (the harness passes it to ``gym.make``):
        no per-candidate statistic, and the paired reward for the ``gain`` signal."""
        kwargs: dict[str, Any] = {"candidate_stats": ()}
        credit = self.config.credit
        if credit.reward_signal == "gain":
            kwargs["paired_reward"] = True
        if credit.kind == "influence":
            kwargs.update(influence_every=credit.probe_every, influence_kind=credit.probe_kind,
                          influence_heldout=credit.probe_heldout)
        return kwargs

    # ------------------------------------------------------------------------------------ setup
    def setup(self, env: gym.Env, seed: int) -> None:
        """Build Q, target and Adam from ``seed`` (no global RNG touched); clear the pending transition."""
        c = self.config
        self.budget = train_budget(env)
        if self.budget is not None and c.action.probe_weight:
            raise ValueError(f"probe_weight={c.action.probe_weight} has no meaning under the env's training budget "
                             f"train_batch={self.budget} (the B trained candidates share the weight): "
                             f"set probe_weight=0 or make the env with train_batch=None")
        self.env = env
        d = int(env.observation_space.shape[1])
        self.rng = np.random.default_rng(seed)  # LM reset seeds
        self.gen = torch.Generator().manual_seed(int(self.rng.integers(2**62)))  # action and replay sampling
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(self.rng.integers(2**62)))
            self.q = q_network(d, c.q.hidden)
        if c.q.q_init == "reward":
            with torch.no_grad():
                self.q[-1].weight.zero_()
        self.q_target = copy.deepcopy(self.q).requires_grad_(False)
        self.opt = torch.optim.Adam(self.q.parameters(), lr=c.q.lr)
        self.temp = c.temperature.build()
        self.replay = PairReplay(c.replay.size, d) if c.replay.size else None
        self.pending: dict[str, Any] | None = None  # {h [k, d], ids [k, L], reward}; k = B under a budget, else 1
        self.step = 0
        # influence credit: z-scored rewards, whose constant-reward fixed point is Q = 0 (bias 0 from the start)
        self.bias_set = c.q.q_init != "reward" or c.credit.kind == "influence"
        if c.credit.kind == "influence" and c.q.q_init == "reward":
            with torch.no_grad():
                for net in (self.q, self.q_target):
                    net[-1].bias.zero_()
        self.probe: dict[str, torch.Tensor] | None = None  # {h [N, d], r [N]} of the last probed step
        self.last_q: np.ndarray | None = None  # Q [N] of the candidates last acted on (interpretability)
        self.sq_mean = 0.0  # running mean of signal^2 (reward_norm)
        self._metrics: dict[str, float] = {}

    def _uniform_step(self) -> bool:
        """Whether this step's LM update ignores Q (ablation, warm-up or alternating uniform block)."""
        c = self.config.ablation
        if c.no_q_weighting or self.step < c.warmup_steps:
            return True
        return bool(c.alternate_every) and (self.step // c.alternate_every) % 2 == 0

    # ------------------------------------------------------------------------------------ Q update
    def _q_step(self, h: torch.Tensor, y: torch.Tensor) -> float:
        """One clipped Adam step on 1/2 (Q_phi(h) - y)^2, mean over the batch; h [B, d], y [B]."""
        loss = 0.5 * (self.q(h).squeeze(-1) - y).pow(2).mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(self.q.parameters(), self.config.q.grad_clip)
        self.opt.step()
        return float(loss.detach())

    def _td_update(self, qbar: torch.Tensor, beta: float) -> None:
        """TD update of phi for the pending transition, bootstrapped from this step's target Q.

        The k pending hidden states (k = B under a budget, else 1) all regress on the same target y.
        """
        c, p = self.config, self.pending
        v_next = soft_value(qbar, beta)  # eq. 4, from the target network
        y = td_target(p["reward"], v_next, c.q.gamma)  # eq. 3
        h = p["h"]  # [k, d]
        if c.ablation.td_into_theta:
            learner = self.env.unwrapped.learner
            h_theta = learner.hidden(input_ids=p["ids"], grad=True).float().cpu()  # [k, d], graph to theta
            h = h_theta.detach()
            if c.ablation.td_lambda > 0:
                # The theta-side loss reads a frozen copy of phi, so updating phi in place below cannot
                # break its graph; its gradient enters the LM's next optimizer step (§2.7).
                frozen = {k: v.detach().clone() for k, v in self.q.named_parameters()}
                q_theta = functional_call(self.q, frozen, (h_theta,)).squeeze(-1)  # [k]
                learner.add_auxiliary_loss(c.ablation.td_lambda * 0.5 * (q_theta - y).pow(2).mean())
        with torch.no_grad():
            q_hat = float(self.q(h).mean())
        self._fit(h, y.expand(len(h)))
        self._metrics.update({"td/error": q_hat - float(y), "td/target": float(y), "v_bar": float(v_next)})

    def _fit(self, h: torch.Tensor, y: torch.Tensor) -> None:
        """Regress Q(h) [k] on targets y [k]: one step on these pairs, store them in the replay and take
        its extra steps, then Polyak (eq. 5)."""
        c = self.config
        self._q_step(h, y)
        if self.replay is not None:
            for row, target in zip(h, y, strict=True):
                self.replay.add(row, float(target))
            for _ in range(c.replay.updates):
                self._q_step(*self.replay.sample(c.replay.batch, self.gen))
        polyak(self.q_target, self.q, c.q.tau)  # eq. 5

    def _probe_update(self, qbar: torch.Tensor, beta: float) -> None:
        """Influence credit: every candidate of the probed step regresses on its own target
        y_i = (1 - gamma) r_i + gamma V-bar(s') (eqs. 3-4, V-bar from this step's target Q)."""
        c, p = self.config, self.probe
        v_next = soft_value(qbar, beta)  # eq. 4
        y = td_target(p["r"], v_next, c.q.gamma)  # [N], eq. 3
        with torch.no_grad():
            err = float((self.q(p["h"]).squeeze(-1) - y).abs().mean())
        self._fit(p["h"], y)
        self._metrics.update({"td/error": err, "v_bar": float(v_next)})
        self.probe = None

    # ------------------------------------------------------------------------------------ protocol
    def act(self, obs: np.ndarray, info: dict[str, Any]) -> Any:
        if self.q is None:
            raise RuntimeError("call setup(env, seed) before act()")
        c = self.config
        if c.ablation.reset_lm_every and self.step and self.step % c.ablation.reset_lm_every == 0:
            obs, info = self._reset_lm()
        self._metrics = {}
        H = torch.as_tensor(np.asarray(obs, dtype=np.float32))  # [N, d]
        n = H.shape[0]
        beta = self.temp.beta
        with torch.no_grad():
            q = self.q(H).squeeze(-1)  # [N], online: action selection (one-step stale, §2.5)
            qbar = self.q_target(H).squeeze(-1)  # [N], target: bootstrap of the previous step
        if self.pending is not None:
            if c.credit.kind == "reward":
                self._td_update(qbar, beta)
            self.pending = None
        if self.probe is not None:
            self._probe_update(qbar, beta)
        if c.credit.kind == "influence" and "influence" in info:
            r = torch.as_tensor(np.asarray(info["influence"], dtype=np.float64))
            r = ((r - r.mean()) / (r.std() + 1e-12)).float()  # [N], z-scored over the candidates
            self.probe = {"h": H.clone(), "r": r}
            if n > 2:
                self._metrics["probe/q_corr"] = float(torch.corrcoef(torch.stack([q, r]))[0, 1])
        self.last_q = q.numpy().copy()
        pi = torch.softmax(q / beta, dim=-1)  # [N], eq. 6
        uniform = self._uniform_step()
        if self.budget is not None and c.action.mode == "mixture":
            return self._act_budget(H, q, pi, beta, uniform, info)
        behaviour = torch.full((n,), 1.0 / n) if uniform and c.action.mode == "select" else pi
        a = int(torch.multinomial(behaviour, 1, generator=self.gen))
        self._set_pending(H, info, torch.tensor([a]))
        self.step += 1
        self._record(q, pi, beta, a, uniform, info)
        if c.action.mode == "select":
            return a
        weights = torch.full((n,), 1.0 / n) if uniform else pi
        if c.action.probe_weight:
            weights = (1.0 - c.action.probe_weight) * weights
            weights[a] += c.action.probe_weight
        return weights.numpy().astype(np.float32)

    def _act_budget(self, H: torch.Tensor, q: torch.Tensor, pi: torch.Tensor, beta: float, uniform: bool,
                    info: dict[str, Any]) -> np.ndarray:
        """Mixture mode under the env's budget B: B distinct candidates, from pi by Gumbel-top-B (uniform
        steps: uniformly at random); weights ``pi * mask`` (uniform steps: 1/B) renormalised."""
        n, b = H.shape[0], self.budget
        if uniform:
            chosen = torch.randperm(n, generator=self.gen)[:b]  # [B], a uniform B-subset
        else:
            chosen = torch.from_numpy(gumbel_top_k((q / beta).numpy(), b, self.gen))  # [B], from pi w/o repl.
        mask = torch.zeros(n, dtype=torch.bool)
        mask[chosen] = True
        if uniform:
            weights = mask.double() / b
        else:  # pi on the B alone (floored so an underflowed pi still leaves B positive weights)
            weights = torch.where(mask, pi.double().clamp_min(1e-30), torch.zeros((), dtype=torch.float64))
            weights = weights / weights.sum()
        a = int(chosen[0])
        self._set_pending(H, info, chosen)
        self.step += 1
        self._record(q, pi, beta, a, uniform, info, chosen=chosen)
        return weights.numpy().astype(np.float32)

    def _set_pending(self, H: torch.Tensor, info: dict[str, Any], chosen: torch.Tensor) -> None:
        """Keep the hidden states [k, d] and token ids [k, L] of the ``chosen`` candidates for the TD step."""
        ids = np.asarray(info["token_ids"])[chosen.numpy()]  # [k, L]
        self.pending = {"h": H[chosen].clone(), "ids": torch.as_tensor(ids).clone(), "reward": None}

    def observe(self, reward: float, obs: np.ndarray, info: dict[str, Any], terminated: bool,
                truncated: bool) -> None:
        if self.pending is None:
            raise RuntimeError("observe() called without a preceding act()")
        signal = float(reward)
        credit = self.config.credit
        if credit.reward_signal == "gain":
            if "reward_gain" not in info:
                raise KeyError("reward_signal='gain' reads info['reward_gain']: make the env with paired_reward=True")
            signal = float(info["reward_gain"])
        if credit.reward_norm:
            rate = credit.reward_norm if self.sq_mean else 1.0  # the first signal seeds the average
            self.sq_mean = (1.0 - rate) * self.sq_mean + rate * signal * signal
            signal = signal / math.sqrt(self.sq_mean + 1e-12)
        self.pending["reward"] = signal
        self._metrics["td/signal"] = signal  # what the next TD target uses in place of r_k
        if not self.bias_set:
            with torch.no_grad():  # Q = r_0 everywhere: the fixed point of a constant reward (eq. 3)
                for net in (self.q, self.q_target):
                    net[-1].bias.fill_(signal)
            self.bias_set = True
        self.temp.update(float(reward))
        self._metrics["temperature/failure_rate"] = self.temp.failure_rate
        if terminated or truncated:
            self.pending = None  # the next obs belongs to a new episode: no bootstrap across it

    def metrics(self) -> dict[str, float]:
        return dict(self._metrics)

    def _record(self, q: torch.Tensor, pi: torch.Tensor, beta: float, a: int, uniform: bool,
                info: dict[str, Any], chosen: torch.Tensor | None = None) -> None:
        """Diagnostics of this step's policy (flat, prefixed names); ``chosen`` [B]: the candidates
        sent for training under a budget (``None``: a alone is the sampled action)."""
        m = self._metrics
        m.update({
            "policy/entropy": float(-(pi * pi.clamp_min(1e-30).log()).sum()),
            "policy/max": float(pi.max()),
            "policy/effective_batch": float(1.0 / pi.pow(2).sum()),
            "policy/uniform_step": float(uniform),
            "policy/action": float(a),
            "q/mean": float(q.mean()), "q/std": float(q.std()) if q.numel() > 1 else 0.0,
            "q/spread": float(q.max() - q.min()),
            "temperature/beta": beta, "temperature/failure_rate": self.temp.failure_rate,
        })
        if chosen is not None:
            m["policy/trained_mass"] = float(pi[chosen].sum())
        if "source" in info:
            sources = np.asarray(info["source"])
            m.update(source_mass(pi.numpy(), sources))
            hits = np.flatnonzero(sources == "needle")
            if hits.size:
                i = int(hits[0])
                m["needle/chosen"] = float(a == i if chosen is None else bool((chosen == i).any()))
                m["needle/rank"] = float(1 + int((q > q[i]).sum()))
                m["needle/prob"] = float(pi[i])

    def _reset_lm(self) -> tuple[np.ndarray, dict[str, Any]]:
        """Ablation: a fresh LM; the current candidates are re-forwarded through it."""
        env = self.env.unwrapped
        env.learner.reinitialise(int(self.rng.integers(2**62)))
        return env.refresh()

    # ------------------------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume identically (copies, not views)."""
        return copy.deepcopy({
            "config": asdict(self.config), "q": self.q.state_dict(), "q_target": self.q_target.state_dict(),
            "opt": self.opt.state_dict(), "gen": self.gen.get_state(), "rng": self.rng.bit_generator.state,
            "pending": self.pending, "bias_set": self.bias_set, "sq_mean": self.sq_mean, "probe": self.probe,
            "temperature": self.temp.state_dict(), "step": self.step,
            "replay": self.replay.state_dict() if self.replay is not None else None, "metrics": self._metrics,
        })

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` output; call :meth:`setup` first (it sizes the networks)."""
        if self.q is None:
            raise RuntimeError("call setup(env, seed) before load_state_dict()")
        if dict(state["config"]) != asdict(self.config):
            raise ValueError("soft-Q state was saved with a different SoftQConfig")
        state = copy.deepcopy(state)
        self.q.load_state_dict(state["q"])
        self.q_target.load_state_dict(state["q_target"])
        self.opt.load_state_dict(state["opt"])
        self.gen.set_state(state["gen"])
        self.rng.bit_generator.state = state["rng"]
        self.pending = state["pending"]
        self.bias_set = bool(state["bias_set"])
        self.probe = state.get("probe")
        self.sq_mean = float(state["sq_mean"])
        self.temp.load_state_dict(state["temperature"])
        self.step = int(state["step"])
        if self.replay is not None:
            self.replay.load_state_dict(state["replay"])
        self._metrics = dict(state["metrics"])
