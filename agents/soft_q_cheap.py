"""Soft-Q on cheap inputs, credit paid on the trained windows only: the registered ``soft_q``.

The LM-reading soft-Q (``soft_q_lm``, :mod:`agents.soft_q`) forwards all N candidates through the learner and
a reference model every step and regresses Q on that credit: the credit does the choosing and costs 3.9x plain
training. Here Q does the job the paper gives it -- predict a candidate's long-run value from a representation
-- so that the credit is paid only where it is free (:mod:`agents.cheap_inputs`, :mod:`agents.cheap_credit`):

1. ``x_i`` = cheap inputs of each of the N candidates (token-id features, the online D-vs-stream
   classifier's logit, the learner's layer-0 embedding mean); ``q_i = Q_phi(x_i)``, ``qbar_i = Q_phibar(x_i)``.
2. If the previous step's B trained windows have their credit r_b: ``V = beta [logsumexp(qbar / beta) -
   log N]`` (eq. 4), ``y_b = (1 - gamma) r_b + gamma V`` (eq. 3), one Adam step on the mean of
   ``1/2 (Q_phi(x_b) - y_b)^2`` plus ``replay_updates`` steps on (x, y) pairs from the replay, Polyak (eq. 5).
3. ``pi = softmax((t z_i + q_i) / beta)`` (eq. 6 with a prior): ``z_i`` is the classifier's logit z-scored
   over the step (``prior``; ``prior=""`` gives the paper's softmax(q / beta)), so Q learns a correction to the
   cheapest rule that does the same job rather than starting from nothing; ``t`` in [0, 1] is how far that
   rule generalises, from its AUC on D windows it never trained on (:attr:`agents.cheap_inputs.CheapInputs.trust`:
   0 on a stream of the target's own kind, where the classifier can only tell D's documents from others).
   B candidates by Gumbel-top-B from pi, trained with weight 1/B each.
4. :meth:`observe` reads the training forward's losses of those B (``info["trained_loss"]`` and
   ``info["trained_token_loss"]``, no extra forward) and turns them into their credit r_b against a bigram
   model of D (``signal``, :mod:`agents.cheap_inputs`; the default ``known``: the learner's excess over the
   bigram model on the window's first occurrences of transitions that occur in D).

``rule="<input>"`` (or ``"-<input>"``) replaces Q by that one input, z-scored over the step (negated with
``-``), with the same Gumbel-top-B at the same beta and no learning: the fixed rule on the same inputs that
the learned Q must beat to count (``soft_q_rule`` registers ``rule="classifier"``, which is this agent's
prior alone).

The defaults (``prior="classifier"``, ``signal="known"``, beta = 0.1, gamma = 0.5) were chosen on ``noisy``,
``mixed`` and the suite's tuning half only; the variants measured, with their numbers, are in
``docs/cheap_q.md``.

**FLOPs** charged to ``flops/agent`` (2 per multiply-add): the inputs' (:mod:`agents.cheap_inputs`), Q and
Q-bar on the N candidates (2·W per row each, W the Q-network's weight entries), Q on the B rows checked and an
Adam step (6·W per row) on the B and on each replay batch. The env runs no scoring forward, no reward forward
and no observation for this agent (``env_kwargs``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from agents.base import gumbel_top_k, source_mass, train_budget
from agents.cheap_credit import CREDIT_SIGNALS, TrainedWindowCredit
from agents.cheap_inputs import CHEAP_FEATURES, CheapInputs
from agents.classifier import ClassifierConfig
from agents.q_learning import (
    QLearningConfig,
    load_q_learner_state,
    polyak,
    q_learner_state,
    q_network,
    regression_step,
    soft_value,
    td_target,
)
from agents.replay import PairReplay
from agents.soft_q_inputs import zscore
from curriculum_env.config_rules import positive_int
from curriculum_env.flops import mlp_flops


@dataclass(frozen=True)
class CheapSoftQConfig(QLearningConfig):
    """Options of :class:`CheapSoftQAgent` (plus Q's ``gamma``, ``tau``, ``lr``, ``grad_clip``, ``hidden``)."""

    gamma: float = 0.5
    """gamma of the soft Bellman target (eq. 3)."""
    beta: float = 0.1
    """beta, the Boltzmann temperature of pi = softmax(Q / beta) (eq. 6) and of V (eq. 4)."""
    features: tuple[str, ...] = ("classifier", "reference", "seen", "distinct", "embedding")
    """What Q reads (:data:`agents.cheap_inputs.CHEAP_FEATURES`); a comma-separated string is accepted."""
    signal: str = "known"
    """The trained windows' credit (:data:`agents.cheap_credit.CREDIT_SIGNALS`)."""
    norm_rate: float = 0.02
    """Rate of the running mean and variance that standardise the credit, per trained window."""
    replay_size: int = 2000
    """(x, y) pairs kept for replay."""
    replay_updates: int = 8
    """Extra Q steps per env step on replay minibatches."""
    replay_batch: int = 32
    """Rows per replay minibatch."""
    prior: str = "classifier"
    """Add one input's z-score (``"-name"``: negated) to Q in the policy, pi = softmax((z + Q) / beta): Q learns a
    correction to that fixed rule; ``""``: none."""
    rule: str = ""
    """A fixed rule instead of Q: one input's z-score (``"-name"``: negated); ``""``: Q learns (module doc)."""
    buckets: int = 2**14
    """Hash bins of the classifier's n-gram features."""
    reference_steps: int = 0
    """0: the credit's reference is a bigram model of D (free); > 0: a tiny GPT-2 (1 block, d = 32) trained this many
    steps of 16 windows of D, scoring the B trained windows (its training and forwards charged)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.features, str):
            object.__setattr__(self, "features", tuple(f.strip() for f in self.features.split(",") if f.strip()))
        object.__setattr__(self, "features", tuple(self.features))
        bad = [f for f in self.features if f not in CHEAP_FEATURES]
        if bad or not self.features:
            raise ValueError(f"features must be a non-empty subset of {CHEAP_FEATURES}, got {self.features!r}")
        if self.signal not in CREDIT_SIGNALS:
            raise ValueError(f"signal must be one of {CREDIT_SIGNALS}, got {self.signal!r}")
        if not self.beta > 0:
            raise ValueError(f"beta must be > 0, got {self.beta!r}")
        for name in ("rule", "prior"):
            value = getattr(self, name)
            if value and (value.lstrip("-") not in self.features or value.lstrip("-") == "embedding"):
                scalars = [f for f in self.features if f != "embedding"]
                raise ValueError(f"{name}={value!r} must name one scalar input Q reads ({scalars}), "
                                 "optionally with '-' in front")
        if self.rule and self.prior:
            raise ValueError(f"rule={self.rule!r} replaces Q, so prior={self.prior!r} has nothing to add to: set one")
        positive_int(replay_batch=self.replay_batch, buckets=self.buckets)
        if self.replay_size < 0 or self.replay_updates < 0 or bool(self.replay_size) != bool(self.replay_updates):
            raise ValueError(f"replay_size={self.replay_size!r} and replay_updates={self.replay_updates!r}: set "
                             "both > 0 or both 0")


class CheapSoftQAgent:
    """Soft-Q whose Q reads cheap inputs and learns from the credit of the windows it trained (module doc)."""

    name = "soft_q"
    action_mode = "mixture"  # B positive weights, the B it trains

    def __init__(self, **kwargs: Any):
        try:
            self.config = CheapSoftQConfig(**kwargs)
        except TypeError as exc:
            options = ", ".join(CheapSoftQConfig.__dataclass_fields__)
            raise TypeError(f"cheap soft-Q: {exc}; options: {options}") from None
        self.q: nn.Module | None = None
        self.last_q: np.ndarray | None = None

    @property
    def env_kwargs(self) -> dict[str, Any]:
        """No scoring forward, no reward, no observation: the agent reads token ids and the trained losses."""
        return {"candidate_stats": (), "compute_reward": False, "observation": "none"}

    def setup(self, env: gym.Env, seed: int) -> None:
        c = self.config
        self.budget = train_budget(env) or 1
        self.learner = getattr(env.unwrapped, "learner", None)
        self.rng = np.random.default_rng(seed)
        self.inputs = CheapInputs(c.features, ClassifierConfig(buckets=c.buckets), c.reference_steps)
        self.credit = TrainedWindowCredit(c.signal, c.norm_rate)
        d = self.inputs.setup(env, np.random.default_rng(self.rng.integers(2**62)))
        self.gen = torch.Generator().manual_seed(int(self.rng.integers(2**62)))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(self.rng.integers(2**62)))
            self.q = q_network(d, c.hidden)
        with torch.no_grad():  # Q = 0 everywhere: pi uniform until the credit says otherwise
            self.q[-1].weight.zero_()
            self.q[-1].bias.zero_()
        self.q_target = copy.deepcopy(self.q).requires_grad_(False)
        self.opt = torch.optim.Adam(self.q.parameters(), lr=c.lr)
        self.replay = PairReplay(c.replay_size, d) if c.replay_size else None
        self.pending: dict[str, Any] | None = None  # {x [B, d], ids [B, L], chosen [B] ascending, r [B] | None}
        self._metrics: dict[str, float] = {}

    def _charge(self, flops: float) -> None:
        if self.learner is not None and flops:
            self.learner.add_flops(flops, "agent")

    def _q_step(self, x: torch.Tensor, y: torch.Tensor) -> float:
        """One clipped Adam step of Q on these pairs, charged to the run."""
        self._charge(mlp_flops(self.q, len(x), True))
        return regression_step(self.q, self.opt, x, y, self.config.grad_clip)

    def _td_update(self, qbar: torch.Tensor) -> None:
        """Regress Q(x_b) on y_b = (1 - gamma) r_b + gamma V-bar(s') for the previous step's trained windows."""
        c, p = self.config, self.pending
        v_next = soft_value(qbar, c.beta)  # eq. 4
        y = td_target(torch.as_tensor(p["r"], dtype=torch.float32), v_next, c.gamma)  # [B], eq. 3
        with torch.no_grad():
            err = float((self.q(p["x"]).squeeze(-1) - y).abs().mean())
        self._charge(mlp_flops(self.q, len(y), False))
        self._q_step(p["x"], y)
        if self.replay is not None:
            for row, target in zip(p["x"], y, strict=True):
                self.replay.add(row, float(target))
            for _ in range(c.replay_updates):
                self._q_step(*self.replay.sample(c.replay_batch, self.gen))
        polyak(self.q_target, self.q, c.tau)  # eq. 5
        self._metrics.update({"td/error": err, "v_bar": float(v_next)})

    def act(self, obs: np.ndarray, info: dict[str, Any]) -> np.ndarray:
        if self.q is None:
            raise RuntimeError("call setup(env, seed) before act()")
        c = self.config
        self._metrics = {}
        ids = np.asarray(info["token_ids"])
        x, cols = self.inputs.build(ids)  # [N, d]
        n = len(x)
        with torch.no_grad():
            q = self.q(x).squeeze(-1)  # [N]
            qbar = self.q_target(x).squeeze(-1)
        self._charge(self.inputs.take_flops() + 2 * mlp_flops(self.q, n, False))
        if self.pending is not None and self.pending["r"] is not None:
            self._td_update(qbar)
        self.pending = None
        score = q
        if c.rule or c.prior:
            name = c.rule or c.prior
            fixed = torch.from_numpy((-1.0 if name.startswith("-") else 1.0) * zscore(cols[name.lstrip("-")])).float()
            trust = 1.0 if c.rule else self.inputs.trust  # the prior counts as far as the classifier generalises
            score = fixed if c.rule else trust * fixed + q
            self._metrics["prior/trust"] = trust
        self.last_q = score.numpy().copy()  # [N], the policy's score (Langevin-RAG's queries read it)
        b = min(self.budget, n)
        chosen = np.sort(gumbel_top_k((score / c.beta).numpy(), b, self.gen))  # [B], from softmax(score / beta)
        weights = np.zeros(n, dtype=np.float32)
        weights[chosen] = 1.0 / b
        self.pending = {"x": x[torch.from_numpy(chosen)].clone(), "ids": ids[chosen].copy(), "chosen": chosen,
                        "r": None}
        pi = torch.softmax(score / c.beta, dim=-1)
        self._metrics.update({"policy/entropy": float(-(pi * pi.clamp_min(1e-30).log()).sum()),
                              "policy/trained_mass": float(pi[torch.from_numpy(chosen)].sum()),
                              "q/mean": float(q.mean()), "q/std": float(q.std()) if n > 1 else 0.0,
                              "temperature/beta": c.beta})
        if "classifier" in cols and n > 2 and float(q.std()) > 0:
            self._metrics["q/classifier_corr"] = float(np.corrcoef(q.numpy(), cols["classifier"])[0, 1])
        if "source" in info:
            self._metrics.update(source_mass(pi.numpy(), np.asarray(info["source"])))
        return weights

    def observe(self, reward: float, obs: np.ndarray, info: dict[str, Any], terminated: bool,
                truncated: bool) -> None:
        if self.pending is None:
            raise RuntimeError("observe() called without a preceding act()")
        trained = np.asarray(info["trained"])
        if not np.array_equal(trained, self.pending["chosen"]):
            raise RuntimeError(f"the env trained candidates {trained.tolist()}, the agent chose "
                               f"{self.pending['chosen'].tolist()}: make the env with train_weighting and "
                               "train_batch as the agent expects (B positive weights are trained)")
        r, parts = self.credit.targets(info, self.pending["ids"], self.inputs)
        self.inputs.mark_seen(self.pending["ids"])
        self.pending["r"] = r
        self._metrics.update(parts)
        self._metrics["credit/mean"] = float(np.mean(r))
        if terminated or truncated:
            self.pending = None

    def metrics(self) -> dict[str, float]:
        return dict(self._metrics)

    def state_dict(self) -> dict[str, Any]:
        return {**q_learner_state(self), **copy.deepcopy({"pending": self.pending, "metrics": self._metrics}),
                "inputs": self.inputs.state_dict(), "credit": self.credit.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        state = load_q_learner_state(self, state)
        self.pending = state["pending"]
        self.inputs.load_state_dict(state["inputs"])
        self.credit.load_state_dict(state["credit"])
        self._metrics = dict(state["metrics"])
