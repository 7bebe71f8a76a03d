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

Options (all in :class:`SoftQConfig`): ``no_q_weighting`` (§2.6), ``td_into_theta`` / ``td_lambda``
(§2.7), experience replay of (h, y) pairs, Q warm-up, temperature control
(:mod:`agents.temperature`), and two ablations:

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
import math
from dataclasses import asdict, dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn
from torch.func import functional_call

from agents.base import gumbel_top_k, source_mass, train_budget
from agents.q_learning import QLearningConfig, polyak, q_network, soft_value, td_target
from agents.replay import PairReplay
from agents.temperature import TEMPERATURES, make_temperature


@dataclass
class SoftQConfig(QLearningConfig):
    """Hyperparameters of the soft-Q agent (paper defaults; Q-learning fields in :class:`QLearningConfig`)."""

    q_init: str = "reward"
    """``reward``: Q's output layer starts at weights 0, bias = the first reward (Q = r_0 everywhere, pi uniform);
    ``default``: PyTorch's initialisation of every layer (see the module doc)."""
    credit: str = "reward"
    """How candidates get credit. ``reward``: the TD update of the sampled action(s) on the step's reward
    (Algorithm 1). ``influence``: on every probed step each of the N candidates gets its own reward r_i =
    its first-order influence on D (env ``influence_every=probe_every``), z-scored over the candidates, and
    Q(h_i) regresses on y_i = (1 - gamma) r_i + gamma V-bar(s') (eqs. 3-5): Q amortises the probes (MATES)."""
    probe_every: int = 5
    """With ``credit="influence"``: the env probes the candidates' influence every this many steps."""
    probe_kind: str = "first_order"
    """With ``credit="influence"``: the env's ``influence_kind`` (``first_order`` or ``measured``)."""
    reward_signal: str = "absolute"
    """What Q learns from: ``absolute`` r_k (eq. 1, the paper) or ``gain`` r_k - (log-prob of the same
    D-hat before the update), read from ``info["reward_gain"]`` (needs the env's ``paired_reward=True``)."""
    reward_norm: float = 0.0
    """If > 0: divide the signal by its running RMS, an exponential average with this rate (0: off, the paper)."""
    probe_weight: float = 0.0
    """epsilon: mixture mode trains on (1 - epsilon) pi + epsilon one_hot(a_k), so r_k depends on a_k (0: the paper)."""
    action_mode: str = "mixture"
    """``mixture``: send pi as weights (the paper). ``select``: train the LM on the sampled a_k alone."""
    no_q_weighting: bool = False
    """Send uniform 1/N weights to the env; Q still learns from sampled actions (§2.6)."""
    td_into_theta: bool = False
    """Re-forward the previous action's tokens with gradients; the TD loss also trains theta (§2.7)."""
    td_lambda: float = 1.0
    """lambda_TD, scale of the TD loss's gradient into theta (only with td_into_theta)."""
    replay_size: int = 0
    """Capacity of the (h, y) replay buffer (0: no replay)."""
    replay_updates: int = 0
    """Extra Q steps per env step on minibatches drawn from the replay buffer."""
    replay_batch: int = 32
    """Minibatch size of each replay update."""
    warmup_steps: int = 0
    """First steps send the uniform mixture while Q learns."""
    reset_lm_every: int = 0
    """Ablation: re-initialise the LM every K steps so only Q keeps learning (0: off)."""
    alternate_every: int = 0
    """Ablation: alternate B-step blocks of uniform LM updates (Q learns only) and Q-weighted ones (0: off)."""
    temperature: str = "fixed"
    """Temperature control: ``fixed`` | ``phased`` | ``closed_loop`` (see agents.temperature)."""
    beta_min: float = 0.5
    """Closed loop: beta = beta_min + beta_k * failure_rate."""
    beta_k: float = 0.7
    """Closed loop: gain k on the failure rate."""
    temperature_window: int = 20
    """Closed loop: steps in the failure-rate window (and the running mean that defines failure)."""
    planned_steps: int = 1000
    """Phased: the planned run length the phase fractions refer to."""
    phase_betas: tuple[float, ...] = (1.2, 0.9, 0.7)
    """Phased: beta of the explore, focus and refine phases."""
    phase_bounds: tuple[float, ...] = (0.1, 0.5, 0.9)
    """Phased: step fractions where those phases end (then the closed loop)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.action_mode not in ("mixture", "select"):
            raise ValueError(f"SoftQConfig.action_mode must be 'mixture' or 'select', got {self.action_mode!r}")
        if self.temperature not in TEMPERATURES:
            raise ValueError(f"SoftQConfig.temperature must be one of {TEMPERATURES}, got {self.temperature!r}")
        if self.q_init not in ("reward", "default"):
            raise ValueError(f"SoftQConfig.q_init must be 'reward' or 'default', got {self.q_init!r}")
        if self.credit not in ("reward", "influence"):
            raise ValueError(f"SoftQConfig.credit must be 'reward' or 'influence', got {self.credit!r}")
        if self.probe_kind not in ("first_order", "measured"):
            raise ValueError(f"SoftQConfig.probe_kind must be 'first_order' or 'measured', got {self.probe_kind!r}")
        if not (isinstance(self.probe_every, int) and self.probe_every >= 1):
            raise ValueError(f"SoftQConfig.probe_every must be a positive integer, got {self.probe_every!r}")
        if self.credit == "influence" and (self.reward_signal != "absolute" or self.reward_norm):
            raise ValueError("SoftQConfig.credit='influence' learns from the env's influence probes: "
                             "reward_signal and reward_norm apply to credit='reward' only")
        if self.credit == "influence" and (self.td_into_theta or self.action_mode != "mixture"):
            raise ValueError("SoftQConfig.credit='influence' needs action_mode='mixture' and td_into_theta=False")
        if self.reward_signal not in ("absolute", "gain"):
            raise ValueError(f"SoftQConfig.reward_signal must be 'absolute' or 'gain', got {self.reward_signal!r}")
        if not 0 <= self.reward_norm <= 1:
            raise ValueError(f"SoftQConfig.reward_norm must lie in [0, 1], got {self.reward_norm!r}")
        if not 0 <= self.probe_weight <= 1:
            raise ValueError(f"SoftQConfig.probe_weight must lie in [0, 1], got {self.probe_weight!r}")
        if self.td_lambda < 0:
            raise ValueError(f"SoftQConfig.td_lambda must be >= 0, got {self.td_lambda!r}")
        if self.replay_batch < 1:
            raise ValueError(f"SoftQConfig.replay_batch must be >= 1, got {self.replay_batch!r}")
        for name in ("replay_size", "replay_updates", "warmup_steps", "reset_lm_every", "alternate_every"):
            if getattr(self, name) < 0:
                raise ValueError(f"SoftQConfig.{name} must be >= 0, got {getattr(self, name)!r}")
        if self.replay_updates and not self.replay_size:
            raise ValueError("SoftQConfig.replay_updates > 0 needs replay_size > 0")


class SoftQAgent:
    """Algorithm 1: Boltzmann-weighted mixture curriculum learned by normalised soft Q-learning."""

    name = "soft_q"

    def __init__(self, **kwargs: Any):
        self.config = SoftQConfig(**kwargs)
        self.action_mode = self.config.action_mode
        self.env: gym.Env | None = None
        self.q: nn.Module | None = None

    @property
    def env_kwargs(self) -> dict[str, Any]:
        """Env config this agent needs beyond ``action_mode`` (the harness passes it to ``gym.make``):
        no per-candidate statistic, and the paired reward for the ``gain`` signal."""
        kwargs: dict[str, Any] = {"candidate_stats": ()}
        if self.config.reward_signal == "gain":
            kwargs["paired_reward"] = True
        if self.config.credit == "influence":
            kwargs.update(influence_every=self.config.probe_every, influence_kind=self.config.probe_kind)
        return kwargs

    # ------------------------------------------------------------------------------------ setup
    def setup(self, env: gym.Env, seed: int) -> None:
        """Build Q, target and Adam from ``seed`` (no global RNG touched); clear the pending transition."""
        c = self.config
        self.budget = train_budget(env)
        if self.budget is not None and c.probe_weight:
            raise ValueError(f"probe_weight={c.probe_weight} has no meaning under the env's training budget "
                             f"train_batch={self.budget} (the B trained candidates share the weight): "
                             f"set probe_weight=0 or make the env with train_batch=None")
        self.env = env
        d = int(env.observation_space.shape[1])
        self.rng = np.random.default_rng(seed)  # LM reset seeds
        self.gen = torch.Generator().manual_seed(int(self.rng.integers(2**62)))  # action and replay sampling
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(self.rng.integers(2**62)))
            self.q = q_network(d, c.hidden)
        if c.q_init == "reward":
            with torch.no_grad():
                self.q[-1].weight.zero_()
        self.q_target = copy.deepcopy(self.q).requires_grad_(False)
        self.opt = torch.optim.Adam(self.q.parameters(), lr=c.lr)
        self.temp = make_temperature(c.temperature, c.beta, c.beta_min, c.beta_k, c.temperature_window,
                                     c.planned_steps, c.phase_betas, c.phase_bounds)
        self.replay = PairReplay(c.replay_size, d) if c.replay_size else None
        self.pending: dict[str, Any] | None = None  # {h [k, d], ids [k, L], reward}; k = B under a budget, else 1
        self.step = 0
        # influence credit: z-scored rewards, whose constant-reward fixed point is Q = 0 (bias 0 from the start)
        self.bias_set = c.q_init != "reward" or c.credit == "influence"
        if c.credit == "influence" and c.q_init == "reward":
            with torch.no_grad():
                for net in (self.q, self.q_target):
                    net[-1].bias.zero_()
        self.probe: dict[str, torch.Tensor] | None = None  # {h [N, d], r [N]} of the last probed step
        self.last_q: np.ndarray | None = None  # Q [N] of the candidates last acted on (interpretability)
        self.sq_mean = 0.0  # running mean of signal^2 (reward_norm)
        self._metrics: dict[str, float] = {}

    def _uniform_step(self) -> bool:
        """Whether this step's LM update ignores Q (ablation, warm-up or alternating uniform block)."""
        c = self.config
        if c.no_q_weighting or self.step < c.warmup_steps:
            return True
        return bool(c.alternate_every) and (self.step // c.alternate_every) % 2 == 0

    # ------------------------------------------------------------------------------------ Q update
    def _q_step(self, h: torch.Tensor, y: torch.Tensor) -> float:
        """One clipped Adam step on 1/2 (Q_phi(h) - y)^2, mean over the batch; h [B, d], y [B]."""
        loss = 0.5 * (self.q(h).squeeze(-1) - y).pow(2).mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(self.q.parameters(), self.config.grad_clip)
        self.opt.step()
        return float(loss.detach())

    def _td_update(self, qbar: torch.Tensor, beta: float) -> None:
        """TD update of phi for the pending transition, bootstrapped from this step's target Q.

        The k pending hidden states (k = B under a budget, else 1) all regress on the same target y.
        """
        c, p = self.config, self.pending
        v_next = soft_value(qbar, beta)  # eq. 4, from the target network
        y = td_target(p["reward"], v_next, c.gamma)  # eq. 3
        h = p["h"]  # [k, d]
        if c.td_into_theta:
            learner = self.env.unwrapped.learner
            h_theta = learner.hidden(input_ids=p["ids"], grad=True).float().cpu()  # [k, d], graph to theta
            h = h_theta.detach()
            if c.td_lambda > 0:
                # The theta-side loss reads a frozen copy of phi, so updating phi in place below cannot
                # break its graph; its gradient enters the LM's next optimizer step (§2.7).
                frozen = {k: v.detach().clone() for k, v in self.q.named_parameters()}
                q_theta = functional_call(self.q, frozen, (h_theta,)).squeeze(-1)  # [k]
                learner.add_auxiliary_loss(c.td_lambda * 0.5 * (q_theta - y).pow(2).mean())
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
            for _ in range(c.replay_updates):
                self._q_step(*self.replay.sample(c.replay_batch, self.gen))
        polyak(self.q_target, self.q, c.tau)  # eq. 5

    def _probe_update(self, qbar: torch.Tensor, beta: float) -> None:
        """Influence credit: every candidate of the probed step regresses on its own target
        y_i = (1 - gamma) r_i + gamma V-bar(s') (eqs. 3-4, V-bar from this step's target Q)."""
        c, p = self.config, self.probe
        v_next = soft_value(qbar, beta)  # eq. 4
        y = td_target(p["r"], v_next, c.gamma)  # [N], eq. 3
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
        if c.reset_lm_every and self.step and self.step % c.reset_lm_every == 0:
            obs, info = self._reset_lm()
        self._metrics = {}
        H = torch.as_tensor(np.asarray(obs, dtype=np.float32))  # [N, d]
        n = H.shape[0]
        beta = self.temp.beta
        with torch.no_grad():
            q = self.q(H).squeeze(-1)  # [N], online: action selection (one-step stale, §2.5)
            qbar = self.q_target(H).squeeze(-1)  # [N], target: bootstrap of the previous step
        if self.pending is not None:
            if c.credit == "reward":
                self._td_update(qbar, beta)
            self.pending = None
        if self.probe is not None:
            self._probe_update(qbar, beta)
        if c.credit == "influence" and "influence" in info:
            r = torch.as_tensor(np.asarray(info["influence"], dtype=np.float64))
            r = ((r - r.mean()) / (r.std() + 1e-12)).float()  # [N], z-scored over the candidates
            self.probe = {"h": H.clone(), "r": r}
            if n > 2:
                self._metrics["probe/q_corr"] = float(torch.corrcoef(torch.stack([q, r]))[0, 1])
        self.last_q = q.numpy().copy()
        pi = torch.softmax(q / beta, dim=-1)  # [N], eq. 6
        uniform = self._uniform_step()
        if self.budget is not None and c.action_mode == "mixture":
            return self._act_budget(H, q, pi, beta, uniform, info)
        behaviour = torch.full((n,), 1.0 / n) if uniform and c.action_mode == "select" else pi
        a = int(torch.multinomial(behaviour, 1, generator=self.gen))
        self._set_pending(H, info, torch.tensor([a]))
        self.step += 1
        self._record(q, pi, beta, a, uniform, info)
        if c.action_mode == "select":
            return a
        weights = torch.full((n,), 1.0 / n) if uniform else pi
        if c.probe_weight:
            weights = (1.0 - c.probe_weight) * weights
            weights[a] += c.probe_weight
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
        if self.config.reward_signal == "gain":
            if "reward_gain" not in info:
                raise KeyError("reward_signal='gain' reads info['reward_gain']: make the env with paired_reward=True")
            signal = float(info["reward_gain"])
        if self.config.reward_norm:
            rate = self.config.reward_norm if self.sq_mean else 1.0  # the first signal seeds the average
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
