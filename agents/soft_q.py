"""Soft-Q curriculum agent: the paper's Algorithm 1 (Viteri & Vrabac, §2), one file, top to bottom.

Per step k, in :meth:`SoftQAgent.act` (one forward of the candidates serves two purposes, §2.5):

1. ``q_k = Q_phi(H_k)`` and ``qbar_k = Q_phibar(H_k)`` on Q's input H_k [N, d] (by default the env
   observation: the detached last-layer hidden states);
2. learn from the previous step: ``V_k = beta [logsumexp(qbar_k / beta) - log N]`` (eq. 4),
   ``y = (1 - gamma) r + gamma V_k`` (eq. 3, stop-gradient), one Adam step on ``1/2 (Q_phi(h) - y)^2`` with
   gradient clipping G (and replay), then Polyak ``phibar <- tau phi + (1 - tau) phibar`` (eq. 5);
3. ``pi_k = softmax(q_k / beta)`` (eq. 6), sample ``a_k ~ pi_k``; return ``pi_k`` as the mixture weights (the env
   trains on ``sum_i pi_i loss_i``, eq. 7) or, with ``action_mode="select"``, ``a_k``.

**Credit** (``credit``, :mod:`agents.soft_q_credit`) says which rows h regress on which reward r in step 2.
``reward`` (the paper): r is the step's reward, stored by :meth:`SoftQAgent.observe`, and h the window(s)
trained. ``influence`` and ``learnability``: every candidate of a step gets its own r_i, so Q(h_i) regresses on
y_i = (1 - gamma) r_i + gamma V-bar(s'); these credit all N candidates of a mixture step. Why the paper's credit
carries little signal here (a mixture step's reward does not depend on a_k; the absolute reward drifts by more
than a step changes it) is measured in ``studies/q_ranking.py`` and ``docs/what_q_learns.md``; the
per-candidate credits are measured in ``docs/influence_credit.md`` and ``docs/learned_curriculum.md``.

**Initialisation.** Q's output layer starts at weights 0: Q is constant and pi uniform. Under the reward credit
its bias is set to the first reward r_0 (the fixed point of a constant reward, eq. 3), so early TD errors are not
all the offset between Q ~ 0 and r ~ -log V; under a per-candidate credit, whose rewards are z-scored, it is 0.

**Training budget** (env ``train_batch=B``, read in :meth:`SoftQAgent.setup`). The env trains exactly the B
candidates with the largest weights, so sending pi would train its top B deterministically. In ``mixture`` mode
the agent instead draws B distinct candidates from pi without replacement (Gumbel-top-B with its own
``torch.Generator``; the first one is a plain draw from pi and is reported as ``policy/action``) and sends
``pi * mask`` renormalised: exactly B positive weights, so the env trains those B under either
``train_weighting``. Uniform steps (``no_q_weighting``, §2.6) draw the B uniformly at random and weight them 1/B.
The reward credit's TD step regresses Q(h_b) on the same target y for every trained b, and replay stores all B
pairs. ``policy/trained_mass`` is pi's mass on the B. In ``select`` mode the agent samples one a_k and learns from
it alone; the env trains it plus B - 1 candidates it picks at random.

**Inputs** (``inputs``, ``reference``; :mod:`agents.soft_q_inputs`). With the paper's hidden states and no
reference model the agent asks the env for no per-candidate statistic (``candidate_stats=()``, the cheapest
step); features ask for the scoring forward's loss and entropy, and the reference model trained on D in
``setup`` adds its loss and the learnability.

**FLOPs** (charged to the run's ``flops/agent`` with ``learner.add_flops``, 2 per multiply-add,
:func:`curriculum_env.flops.mlp_flops`; W = the Q-network's weight entries). Every forward of Q or of its target
costs 2·W per row: Q and Q-bar on the N candidates each step, Q on the rows a TD step checks. Every Adam step
(forward, backward, update) costs 6·W per row: the TD step on its rows and each of the ``replay_updates`` replay
steps on ``replay_batch`` rows. The reference model's training and forwards are charged by
:class:`~agents.reference_model.ReferenceModel`. Polyak averaging and Adam's own arithmetic are elementwise and
not counted.
"""

from __future__ import annotations

import copy
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from agents.base import gumbel_top_k, source_mass, train_budget
from agents.q_learning import (
    load_q_learner_state,
    polyak,
    q_learner_state,
    q_network,
    regression_step,
    soft_value,
    td_target,
)
from agents.reference_model import ReferenceModel
from agents.replay import PairReplay
from agents.soft_q_config import SoftQConfig
from agents.soft_q_inputs import CandidateInputs
from agents.temperature import FixedTemperature, make_temperature
from curriculum_env.flops import mlp_flops


class SoftQAgent:
    """Algorithm 1: Boltzmann-weighted mixture curriculum learned by normalised soft Q-learning."""

    name = "soft_q"

    def __init__(self, **kwargs: Any):
        """``kwargs``: the options of :class:`~agents.soft_q_config.SoftQConfig` (``beta=0.3, replay_size=300``)."""
        self.config = SoftQConfig.from_options(**kwargs)
        self.credit = self.config.credit
        self.action_mode = self.config.action_mode
        self.env: gym.Env | None = None
        self.q: nn.Module | None = None

    @property
    def env_kwargs(self) -> dict[str, Any]:
        """Env config this agent needs beyond ``action_mode`` (the harness passes it to ``gym.make``): the
        per-candidate statistics its inputs and credit read, whether the step's reward is read (by the reward
        credit, and by a closed-loop temperature), and what the credit asks of the env."""
        c, credit = self.config, self.credit
        fixed = isinstance(make_temperature(c.beta), FixedTemperature)
        stats = ("loss", "entropy") if c.inputs != "hidden" or c.uses_reference else ()
        if credit.fresh:
            stats += ("token_loss",)  # the fresh excess reads the scoring forward's per-token losses
        kwargs: dict[str, Any] = {"candidate_stats": stats, "compute_reward": not credit.per_candidate or not fixed}
        if c.inputs == "features":
            kwargs["observation"] = "none"  # Q reads the statistics alone: no hidden state is needed
        kwargs.update(credit.env_kwargs())
        return kwargs

    # ------------------------------------------------------------------------------------ setup
    def setup(self, env: gym.Env, seed: int) -> None:
        """Build Q, target and Adam from ``seed`` (no global RNG touched); clear the pending transition."""
        c, credit = self.config, self.credit
        self.budget = train_budget(env)
        self.env = env
        self.learner = getattr(env.unwrapped, "learner", None)  # where the Q-network's FLOPs go (none: a stub env)
        reference = ReferenceModel(steps=c.reference_steps) if c.uses_reference else None
        fresh = {"fresh": True, "fresh_token": credit.fresh_token, "fresh_first": credit.fresh_first} \
            if credit.fresh else {}
        self.inputs = CandidateInputs(c.inputs, reference, **fresh)
        d = self.inputs.setup(env, seed)  # the width of Q's input (fits the reference model on D)
        self.rng = np.random.default_rng(seed)
        self.gen = torch.Generator().manual_seed(int(self.rng.integers(2**62)))  # action and replay sampling
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(self.rng.integers(2**62)))
            self.q = q_network(d, c.hidden)
        with torch.no_grad():
            self.q[-1].weight.zero_()  # Q constant, pi uniform (the module doc's initialisation)
            if credit.per_candidate:
                self.q[-1].bias.zero_()
        self.q_target = copy.deepcopy(self.q).requires_grad_(False)
        self.opt = torch.optim.Adam(self.q.parameters(), lr=c.lr)
        self.temp = make_temperature(c.beta)
        self.replay = PairReplay(c.replay_size, d) if c.replay_size else None
        self.pending: dict[str, Any] | None = None  # {h [k, d], reward}: the rows the reward credit will credit
        self.probe: dict[str, torch.Tensor] | None = None  # {h [N, d], r [N]}: a per-candidate credit's step
        self.bias_set = credit.per_candidate  # the reward credit sets Q's bias to the first reward
        self.step = 0
        self.last_q: np.ndarray | None = None  # Q [N] of the candidates last acted on (interpretability)
        self.sq_mean = 0.0  # running mean of signal^2 (the reward credit's norm)
        self._metrics: dict[str, float] = {}

    # ------------------------------------------------------------------------------------ Q update
    def _charge(self, rows: int, train: bool = False) -> None:
        """Charge Q-network work on ``rows`` rows to the run: a forward, or with ``train`` an Adam step."""
        if self.learner is not None and rows:
            self.learner.add_flops(mlp_flops(self.q, rows, train), "agent")

    def q_step(self, h: torch.Tensor, y: torch.Tensor) -> float:
        """One clipped Adam step on 1/2 (Q_phi(h) - y)^2, mean over the batch; h [B, d], y [B]."""
        self._charge(len(h), train=True)
        return regression_step(self.q, self.opt, h, y, self.config.grad_clip)

    def _learn(self, qbar: torch.Tensor, beta: float) -> None:
        """Step 2 of the module doc: regress on the previous step's credit, bootstrapped from this step's
        target Q: the reward credit's pending rows, or a per-candidate credit's last rewarded step."""
        if self.pending is not None and not self.credit.per_candidate:
            self._td_update(qbar, beta)
        self.pending = None
        if self.probe is not None:
            self._probe_update(qbar, beta)

    def _td_update(self, qbar: torch.Tensor, beta: float) -> None:
        """TD update of phi for the pending transition: its k rows (k = B under a budget, else 1) all
        regress on the same target y."""
        p = self.pending
        v_next = soft_value(qbar, beta)  # eq. 4, from the target network
        y = td_target(p["reward"], v_next, self.config.gamma)  # eq. 3
        h = p["h"]  # [k, d]
        with torch.no_grad():
            q_hat = float(self.q(h).mean())
        self._charge(len(h))
        self._fit(h, y.expand(len(h)))
        self._metrics.update({"td/error": q_hat - float(y), "td/target": float(y), "v_bar": float(v_next)})

    def _fit(self, h: torch.Tensor, y: torch.Tensor) -> None:
        """Regress Q(h) [k] on targets y [k]: one step on these pairs, store them in the replay and take
        its extra steps, then Polyak (eq. 5)."""
        c = self.config
        self.q_step(h, y)
        if self.replay is not None:
            for row, target in zip(h, y, strict=True):
                self.replay.add(row, float(target))
            for _ in range(c.replay_updates):
                self.q_step(*self.replay.sample(c.replay_batch, self.gen))
        polyak(self.q_target, self.q, c.tau)  # eq. 5

    def _probe_update(self, qbar: torch.Tensor, beta: float) -> None:
        """Per-candidate credit: every candidate of the rewarded step regresses on its own target
        y_i = (1 - gamma) r_i + gamma V-bar(s') (eqs. 3-4, V-bar from this step's target Q)."""
        p = self.probe
        v_next = soft_value(qbar, beta)  # eq. 4
        y = td_target(p["r"], v_next, self.config.gamma)  # [N], eq. 3
        with torch.no_grad():
            err = float((self.q(p["h"]).squeeze(-1) - y).abs().mean())
        self._charge(len(p["h"]))
        self._fit(p["h"], y)
        self._metrics.update({"td/error": err, "v_bar": float(v_next)})
        self.probe = None

    # ------------------------------------------------------------------------------------ protocol
    def act(self, obs: np.ndarray, info: dict[str, Any]) -> Any:
        if self.q is None:
            raise RuntimeError("call setup(env, seed) before act()")
        self._metrics = {}
        H, cols = self.inputs.build(obs, info)  # [N, k]: hidden states and / or per-candidate features
        beta = self.temp.beta
        with torch.no_grad():
            q = self.q(H).squeeze(-1)  # [N], online: action selection (one-step stale, §2.5)
            qbar = self.q_target(H).squeeze(-1)  # [N], target: bootstrap of the previous step
        self._charge(2 * len(H))
        self._learn(qbar, beta)
        r = self.credit.candidate_rewards(cols, info)  # [N] this step's per-candidate rewards, or None
        if r is not None:
            self.probe = {"h": H.clone(), "r": r}
            self._metrics.update(self.credit.correlation(q, r))
        self.last_q = q.numpy().copy()
        pi = torch.softmax(q / beta, dim=-1)  # [N], eq. 6
        uniform = self.config.no_q_weighting
        budgeted = self.budget is not None and self.action_mode == "mixture"
        chosen = self._choose(q / beta, pi, uniform, budgeted)  # [k]: the B trained, or the sampled a_k
        self.pending = {"h": H[chosen].clone(), "reward": None}
        self.step += 1
        self._record(q, pi, beta, int(chosen[0]), uniform, info, chosen if budgeted else None)
        return self._action(pi, chosen, uniform, budgeted)

    def _choose(self, logits: torch.Tensor, pi: torch.Tensor, uniform: bool, budgeted: bool) -> torch.Tensor:
        """The candidates this step acts on: under a budget B distinct ones, from pi by Gumbel-top-B (uniform
        steps: a uniform B-subset); otherwise one a_k ~ pi (uniform select steps: uniformly)."""
        n = len(pi)
        if budgeted:
            if uniform:
                return torch.randperm(n, generator=self.gen)[:self.budget]
            return torch.from_numpy(gumbel_top_k(logits.numpy(), self.budget, self.gen))
        behaviour = torch.full((n,), 1.0 / n) if uniform and self.action_mode == "select" else pi
        return torch.multinomial(behaviour, 1, generator=self.gen)

    def _action(self, pi: torch.Tensor, chosen: torch.Tensor, uniform: bool, budgeted: bool) -> Any:
        """What goes to the env: a_k in select mode; else weights, under a budget ``pi * mask`` renormalised
        (uniform steps: 1/B; pi floored so an underflowed pi still leaves B positive weights)."""
        n = len(pi)
        if self.action_mode == "select":
            return int(chosen[0])
        if not budgeted:
            return (torch.full((n,), 1.0 / n) if uniform else pi).numpy().astype(np.float32)
        mask = torch.zeros(n, dtype=torch.bool)
        mask[chosen] = True
        if uniform:
            return (mask.double() / self.budget).numpy().astype(np.float32)
        weights = torch.where(mask, pi.double().clamp_min(1e-30), torch.zeros((), dtype=torch.float64))
        return (weights / weights.sum()).numpy().astype(np.float32)

    def observe(self, reward: float, obs: np.ndarray, info: dict[str, Any], terminated: bool,
                truncated: bool) -> None:
        if self.pending is None:
            raise RuntimeError("observe() called without a preceding act()")
        if not self.credit.per_candidate:
            signal, self.sq_mean = self.credit.step_reward(reward, info, self.sq_mean)
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

    # ------------------------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume identically (copies, not views)."""
        return {**q_learner_state(self), **copy.deepcopy({
            "pending": self.pending, "bias_set": self.bias_set, "sq_mean": self.sq_mean, "probe": self.probe,
            "temperature": self.temp.state_dict(), "step": self.step, "metrics": self._metrics,
            "inputs": self.inputs.state_dict()})}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` output; call :meth:`setup` first (it sizes the networks)."""
        state = load_q_learner_state(self, state)
        self.pending = state["pending"]
        self.bias_set = bool(state["bias_set"])
        self.probe = state.get("probe")
        self.sq_mean = float(state["sq_mean"])
        self.temp.load_state_dict(state["temperature"])
        self.step = int(state["step"])
        self._metrics = dict(state["metrics"])
        self.inputs.load_state_dict(state["inputs"])
