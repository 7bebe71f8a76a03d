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

Credit assignment (measured in ``studies/q_ranking.py``; figures in ``docs/what_q_learns.md``). With the
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

Options (:class:`~agents.soft_q_config.SoftQConfig`, seven groups: ``q``, ``temperature`` (:mod:`agents.temperature`),
``action``, ``credit``, ``inputs``, ``replay``, ``ablation``; the constructor takes them flat, and refuses an
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

With the paper's inputs (hidden states, no reference model) the agent reads no per-candidate statistic
(``env_kwargs``: ``candidate_stats=()``, the cheapest env step; plus ``paired_reward=True`` for
``reward_signal="gain"``); the learnability features below ask for the scoring forward's loss and entropy.

**Influence credit** (``credit="influence"``, the ``soft_q_influence`` preset, the default before the
learnability credit). Under a budget the
step's reward is shared by the B windows trained together, and the paper's TD update cannot tell
them apart. With this credit the env probes, every ``probe_every`` steps, each of the N candidates'
first-order influence on a sample of D (env ``influence_every``: <grad l_D, grad l_x> at theta_k,
one forward/backward per candidate; see :meth:`curriculum_env.learner.Learner.influence`). Each
candidate gets its own reward r_i = its influence z-scored over the N, and Q(h_i) regresses on
y_i = (1 - gamma) r_i + gamma V-bar(s') -- eqs. 3-5 with the normalised log-mean-exp value of the
next candidates from the Polyak target -- with (h, y) replay. Q amortises the probes (MATES) and
selects every step: B windows by Gumbel-top-B from softmax(Q / beta). How beta and gamma change
it, measured, is in ``docs/influence_credit.md``.

**Learnability credit** (``credit="learnability"``, the registered default ``soft_q``;
:mod:`agents.soft_q_inputs`). The agent trains a tiny reference GPT-2 on the env's held-out set D in
``setup`` (D already feeds the reward: no source label and no test window is read; its FLOPs are
charged to the run) and Q reads per-candidate features from the env's scoring forward instead of the
hidden states: loss, entropy, reference loss and learnability (loss minus reference loss), each
z-scored over the step and divided by log V. Every step each candidate's reward is its z-scored
learnability -- the reducible loss of RHO-LOSS, here the intrinsic reward the soft Bellman target
(eqs. 3-5) is built from, not a ranking rule -- optionally summed with the env's first-order influence
probe on D (``learnability_signal="reducible+influence"``) or with the cross-entropy difference of a
hashed bigram model of the stream seen so far (``stream_model=True``, ``contrast`` / ``sum``). Q(x_i)
regresses on y_i = (1 - gamma) r_i + gamma V-bar(s') with (h, y) replay and selects B candidates by
Gumbel-top-B from softmax(Q / beta). The registered ``soft_q`` adds the **fresh excess**
(``learnability_signal="reducible+fresh"``): the per-token excess loss of the learner over the reference,
floored at 0 and counted once per distinct transition of the window, read from the per-token losses of
the same two forwards (the env's ``token_loss``, no extra FLOPs) -- a feature of Q and half of its reward,
so that a window repeating a phrase no longer scores like the phrase. What each of these changes
measured is in ``docs/learned_curriculum.md``.

**FLOPs** (charged to the run's ``flops/agent`` with ``learner.add_flops``, 2 per multiply-add,
:func:`curriculum_env.flops.mlp_flops`; W = the Q-network's weight entries, d·hidden + hidden). Every forward
of Q or of its target costs 2·W per row: Q and Q-bar on the N candidates each step, Q on the rows a TD
step checks. Every Adam step (forward, backward, update) costs 6·W per row: the TD step on the k pending
rows, the influence / learnability step on the N, each of the ``replay_updates`` replay steps on
``replay_batch`` rows. ``td_into_theta``'s loss charges Q's forward and backward on its k rows (6·W each)
here; the LM's side of it is the learner's (``add_auxiliary_loss(..., tokens=k·L)``, 6·P per token).
The reference model's training and forwards are charged by :class:`~agents.reference_model.ReferenceModel`.
Polyak averaging and Adam's own arithmetic are elementwise and not counted.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn
from torch.func import functional_call

from agents.base import gumbel_top_k, source_mass, train_budget
from agents.q_learning import load_q_learner_state, polyak, q_learner_state, q_network, soft_value, td_target
from agents.reference_model import ReferenceModel
from agents.replay import PairReplay
from agents.soft_q_config import SoftQConfig
from agents.soft_q_inputs import CandidateInputs
from curriculum_env.flops import mlp_flops


class SoftQAgent:
    """Algorithm 1: Boltzmann-weighted mixture curriculum learned by normalised soft Q-learning."""

    name = "soft_q"

    def __init__(self, **kwargs: Any):
        """``kwargs``: flat options (``beta=0.3, replay_size=300``), see :meth:`SoftQConfig.options`."""
        self.config = SoftQConfig.from_flat(**kwargs)
        self.action_mode = self.config.action.action_mode
        self.env: gym.Env | None = None
        self.q: nn.Module | None = None

    @property
    def env_kwargs(self) -> dict[str, Any]:
        """Env config this agent needs beyond ``action_mode`` (the harness passes it to ``gym.make``):
        no per-candidate statistic, and the paired reward for the ``gain`` signal."""
        credit = self.config.credit
        # the reward feeds the TD target (reward credit) and the closed-loop / phased temperature's failures
        reads_reward = (credit.credit == "reward" or credit.reward_signal == "gain"
                        or self.config.temperature.temperature != "fixed")
        inputs = self.config.inputs
        stats = ("loss", "entropy") if inputs.inputs != "hidden" or inputs.reference else ()
        if credit.fresh:
            stats += ("token_loss",)  # the fresh excess reads the scoring forward's per-token losses
        kwargs: dict[str, Any] = {"candidate_stats": stats, "compute_reward": reads_reward}
        if inputs.inputs == "features":
            kwargs["observation"] = "none"  # Q reads the statistics alone: no hidden state is needed
        if credit.reward_signal == "gain":
            kwargs["paired_reward"] = True
        if credit.probes:
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
        self.learner = getattr(env.unwrapped, "learner", None)  # where the Q-network's FLOPs go (none: a stub env)
        i = c.inputs
        reference = (ReferenceModel(i.reference_layers, 2, i.reference_width, i.reference_steps)
                     if i.reference else None)
        self.inputs = CandidateInputs(i.inputs, reference, i.stream_model, fresh=c.credit.fresh,
                                      fresh_token=c.credit.fresh_token, fresh_first=c.credit.fresh_first)
        d = self.inputs.setup(env, seed)  # the width of Q's input (fits the reference model on D)
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
        self.replay = PairReplay(c.replay.replay_size, d) if c.replay.replay_size else None
        self.pending: dict[str, Any] | None = None  # {h [k, d], ids [k, L], reward}; k = B under a budget, else 1
        self.step = 0
        # influence / learnability credit: z-scored rewards, whose constant-reward fixed point is Q = 0 (bias 0)
        self.bias_set = c.q.q_init != "reward" or c.credit.credit != "reward"
        if c.credit.credit != "reward" and c.q.q_init == "reward":
            with torch.no_grad():
                for net in (self.q, self.q_target):
                    net[-1].bias.zero_()
        self.probe: dict[str, torch.Tensor] | None = None  # {h [N, d], r [N]} of the last probed step
        self.last_q: np.ndarray | None = None  # Q [N] of the candidates last acted on (interpretability)
        self.sq_mean = 0.0  # running mean of signal^2 (reward_norm)
        self._metrics: dict[str, float] = {}

    def uniform_step(self) -> bool:
        """Whether this step's LM update ignores Q (ablation, warm-up or alternating uniform block)."""
        c = self.config.ablation
        if c.no_q_weighting or self.step < c.warmup_steps:
            return True
        return bool(c.alternate_every) and (self.step // c.alternate_every) % 2 == 0

    # ------------------------------------------------------------------------------------ Q update
    def _charge(self, rows: int, train: bool = False) -> None:
        """Charge Q-network work on ``rows`` rows to the run: a forward, or with ``train`` an Adam step."""
        if self.learner is not None and rows:
            self.learner.add_flops(mlp_flops(self.q, rows, train), "agent")

    def q_step(self, h: torch.Tensor, y: torch.Tensor) -> float:
        """One clipped Adam step on 1/2 (Q_phi(h) - y)^2, mean over the batch; h [B, d], y [B]."""
        self._charge(len(h), train=True)
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
            h_theta = learner.hidden(input_ids=p["ids"], grad=c.ablation.td_lambda > 0).float().cpu()  # [k, d]; graph
            h = h_theta.detach()
            if c.ablation.td_lambda > 0:
                # The theta-side loss reads a frozen copy of phi, so updating phi in place below cannot
                # break its graph; its gradient enters the LM's next optimizer step (§2.7).
                frozen = {k: v.detach().clone() for k, v in self.q.named_parameters()}
                q_theta = functional_call(self.q, frozen, (h_theta,)).squeeze(-1)  # [k]
                self._charge(len(h_theta), train=True)  # Q's forward here, its backward in the LM's update
                learner.add_auxiliary_loss(c.ablation.td_lambda * 0.5 * (q_theta - y).pow(2).mean(),
                                           tokens=int(p["ids"].numel()))  # the k windows' tokens train theta
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
            for _ in range(c.replay.replay_updates):
                self.q_step(*self.replay.sample(c.replay.replay_batch, self.gen))
        polyak(self.q_target, self.q, c.q.tau)  # eq. 5

    def _probe_update(self, qbar: torch.Tensor, beta: float) -> None:
        """Influence credit: every candidate of the probed step regresses on its own target
        y_i = (1 - gamma) r_i + gamma V-bar(s') (eqs. 3-4, V-bar from this step's target Q)."""
        c, p = self.config, self.probe
        v_next = soft_value(qbar, beta)  # eq. 4
        y = td_target(p["r"], v_next, c.q.gamma)  # [N], eq. 3
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
        c = self.config
        if c.ablation.reset_lm_every and self.step and self.step % c.ablation.reset_lm_every == 0:
            obs, info = self._reset_lm()
        self._metrics = {}
        H, cols = self.inputs.build(obs, info)  # [N, k]: hidden states and / or per-candidate features
        n = H.shape[0]
        beta = self.temp.beta
        with torch.no_grad():
            q = self.q(H).squeeze(-1)  # [N], online: action selection (one-step stale, §2.5)
            qbar = self.q_target(H).squeeze(-1)  # [N], target: bootstrap of the previous step
        self._charge(2 * n)
        if self.pending is not None:
            if c.credit.credit == "reward":
                self._td_update(qbar, beta)
            self.pending = None
        if self.probe is not None:
            self._probe_update(qbar, beta)
        if c.credit.credit == "influence" and "influence" in info:
            r = torch.as_tensor(np.asarray(info["influence"], dtype=np.float64))
            r = ((r - r.mean()) / (r.std() + 1e-12)).float()  # [N], z-scored over the candidates
            self.probe = {"h": H.clone(), "r": r}
            if n > 2:
                self._metrics["probe/q_corr"] = float(torch.corrcoef(torch.stack([q, r]))[0, 1])
        if c.credit.credit == "learnability" and (not c.credit.probes or "influence" in info):
            r = self.inputs.learnability(cols, c.credit.learnability_signal, info.get("influence"))  # [N], z-scored
            self.probe = {"h": H.clone(), "r": r}
            if n > 2 and float(r.std()) > 0 and float(q.std()) > 0:
                self._metrics["learnability/q_corr"] = float(torch.corrcoef(torch.stack([q, r]))[0, 1])
        self.last_q = q.numpy().copy()
        pi = torch.softmax(q / beta, dim=-1)  # [N], eq. 6
        uniform = self.uniform_step()
        if self.budget is not None and c.action.action_mode == "mixture":
            return self._act_budget(H, q, pi, beta, uniform, info)
        behaviour = torch.full((n,), 1.0 / n) if uniform and c.action.action_mode == "select" else pi
        a = int(torch.multinomial(behaviour, 1, generator=self.gen))
        self._set_pending(H, info, torch.tensor([a]))
        self.step += 1
        self._record(q, pi, beta, a, uniform, info)
        if c.action.action_mode == "select":
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
        if credit.credit == "reward":
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
