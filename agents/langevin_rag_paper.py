"""Langevin-RAG exactly as the paper gives it (§3, Algorithm 2): a soft-Q network whose energy landscape picks the data.

Registered as ``langevin_rag_paper``: the reference row that :mod:`agents.langevin_rag` (the default
``langevin_rag``, retrieval that follows the soft-Q agent's Q) is measured against.

The agent owns Q_phi (d -> 32 -> 1, eq. 2), its Polyak target and the normalised soft TD update of
Algorithm 1 (eqs. 3-5; the pieces are shared in :mod:`agents.q_learning`). The search itself is the
env wrapper :class:`~curriculum_env.wrappers.langevin_rag.LangevinRAG`, which uses ``Q_phi`` as
its SGLD energy and makes the retrieved windows the candidates. Per step:

1. ``act``: ``q = Q_phi(H)`` on the retrieved windows' hidden states [N, d]; over the R
   softmax-sampled windows (``info["rag/sampled"]``) sample ``a ~ softmax(q / beta)`` (eq. 6) and
   keep ``h_prev = H[a]``; send uniform weights 1/R (default) or ``softmax(q / beta)`` (Q-weighted);
2. ``observe``: ``y = (1 - gamma) r + gamma V(s')`` with ``V = beta [logsumexp(qbar / beta) - log R]``
   from the target network on the next retrieved set (eqs. 3-4), one clipped Adam step on
   ``1/2 (Q_phi(h_prev) - y)^2``, then Polyak (eq. 5). Off-policy: how the data was chosen does
   not enter the update (§3.5).

The harness runs it through :meth:`LangevinRAGPaperAgent.drive`, which wraps the env (unless it is
already wrapped) and runs the loop; in plain Gymnasium code wrap the env yourself, call
``agent.setup(wrapped, seed)`` (it sets ``wrapped.q_fn``) and then ``wrapped.reset``.

The agent reads no per-candidate LM statistic (``env_kwargs``: ``candidate_stats=()``).

**Training budget** (env ``train_batch=B``, read in ``setup`` as ``self.budget``). The env trains the
B largest of the weights above: uniform 1/R over the R retrieved windows trains B of them chosen
uniformly at random when R >= B, and all R plus B - R of the N - R fill windows at random when
R < B; ``q_weighting`` trains the B retrieved windows of highest Q (then fill windows at random if
R < B); ``train_fill`` makes all N eligible. The TD step still regresses Q(h_a) of the one sampled
window, which under a budget may be left out of the trained B (R > B, uniform weights): the
update is off-policy anyway (§3.5). With the env's ``train_weighting="action"`` the weights must
have at least B positive entries, so R < B without ``train_fill`` is refused by the env.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from agents.base import OnStep, agent_steps, source_mass, train_budget
from agents.q_learning import QLearningConfig, polyak, q_network, regression_step, soft_value, td_target
from curriculum_env.wrappers.langevin_rag import LangevinRAG, LangevinRAGConfig


@dataclass(frozen=True)
class LangevinRAGPaperConfig(QLearningConfig):
    """Hyperparameters of the Langevin-RAG agent (Q-learning fields in :class:`agents.q_learning.QLearningConfig`)."""

    beta: float = 1.0
    """beta, fixed Boltzmann temperature of softmax(Q/beta) over the retrieved windows (eq. 6) and of V (eq. 4)."""
    q_weighting: bool = False
    """LM loss weights softmax(Q/beta) over the retrieved windows (True) or uniform 1/R (False, §3.5)."""
    train_fill: bool = False
    """Also train on the N - R neighbour windows that only fill the fixed candidate count."""
    wrapper: LangevinRAGConfig = field(default_factory=LangevinRAGConfig)
    """Settings of the LangevinRAG wrapper that :meth:`LangevinRAGPaperAgent.drive` builds (a dict is accepted)."""
    embedder: str | None = None
    """Shorthand for ``wrapper.embedder`` (a flat option for specs: ``langevin_rag_paper@embedder=hash-256``)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.beta > 0:
            raise ValueError(f"{type(self).__name__}.beta must be > 0, got {self.beta!r}")
        if isinstance(self.wrapper, dict):
            object.__setattr__(self, "wrapper", LangevinRAGConfig(**self.wrapper))  # frozen: set once here
        if self.embedder is not None:
            object.__setattr__(self, "wrapper", dataclasses.replace(self.wrapper, embedder=self.embedder))


def find_wrapper(env: gym.Env) -> LangevinRAG | None:
    """The LangevinRAG wrapper in ``env``'s wrapper chain, if any."""
    while isinstance(env, gym.Wrapper):
        if isinstance(env, LangevinRAG):
            return env
        env = env.env
    return None


class LangevinRAGPaperAgent:
    """Soft-Q learning on candidates that Langevin-RAG retrieves with Q as the energy (Algorithm 2)."""

    name = "langevin_rag_paper"
    action_mode = "mixture"

    def __init__(self, **kwargs: Any):
        self.config = LangevinRAGPaperConfig(**kwargs)
        self.q: nn.Module | None = None
        self.budget: int | None = None

    @property
    def env_kwargs(self) -> dict[str, Any]:
        """Env config it needs beyond ``action_mode``: no per-candidate statistic."""
        return {"candidate_stats": ()}

    # ------------------------------------------------------------------------------------ setup
    def setup(self, env: gym.Env, seed: int) -> None:
        """Build Q, target and Adam from ``seed``; hand Q to the env's LangevinRAG wrapper as energy."""
        c = self.config
        self.budget = train_budget(env)
        d = int(env.observation_space.shape[1])
        rng = np.random.default_rng(seed)
        self.gen = torch.Generator().manual_seed(int(rng.integers(2**62)))  # action sampling
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(rng.integers(2**62)))
            self.q = q_network(d, c.hidden)
        self.q_target = copy.deepcopy(self.q).requires_grad_(False)
        self.opt = torch.optim.Adam(self.q.parameters(), lr=c.lr)
        self.wrapper = find_wrapper(env)
        if self.wrapper is not None:
            self.wrapper.q_fn = self.q  # the SGLD energy is the online Q_phi (eq. 12)
        self.h_prev: torch.Tensor | None = None
        self._metrics: dict[str, float] = {}

    def drive(self, env: gym.Env, steps: int, seed: int, on_step: OnStep | None = None) -> None:
        """Wrap ``env`` in LangevinRAG (unless it is) and run ``steps`` steps from ``reset(seed=seed)``."""
        wrapped = env if find_wrapper(env) is not None else LangevinRAG(env, config=self.config.wrapper)
        for record in agent_steps(wrapped, self, seed, steps):
            if on_step is not None:
                on_step(record)

    # ------------------------------------------------------------------------------------ policy
    @staticmethod
    def _retrieved(obs: np.ndarray, info: dict[str, Any]) -> np.ndarray:
        mask = np.asarray(info.get("rag/sampled", np.ones(len(obs), dtype=bool)), dtype=bool)  # [N]
        if mask.shape != (len(obs),) or not mask.any():
            raise ValueError("info['rag/sampled'] must mark at least one of the N candidates")
        return mask

    def act(self, obs: np.ndarray, info: dict[str, Any]) -> np.ndarray:
        """Mixture weights [N]: uniform 1/R or softmax(Q/beta) over the R retrieved windows (§3.5)."""
        if self.q is None:
            raise RuntimeError("call setup(env, seed) before act()")
        c = self.config
        h = torch.as_tensor(obs, dtype=torch.float32)  # [N, d]
        mask = self._retrieved(obs, info)
        idx = torch.from_numpy(np.flatnonzero(mask))
        with torch.no_grad():
            q = self.q(h).squeeze(-1)  # [N]
        pi = torch.softmax(q[idx] / c.beta, dim=0)  # [R] (eq. 6)
        a = int(idx[torch.multinomial(pi, 1, generator=self.gen)])
        self.h_prev = h[a].clone()  # the sampled action's transition is what Q learns from
        train = np.ones(len(obs), dtype=bool) if c.train_fill else mask
        if c.q_weighting:
            w = torch.softmax(q / c.beta, dim=0).numpy() * train
        else:
            w = train.astype(np.float64)
        w = (w / w.sum()).astype(np.float32)
        self._metrics = {
            "q/mean": float(q[idx].mean()), "q/std": float(q[idx].std()) if len(idx) > 1 else 0.0,
            "policy/entropy": float(-(pi * pi.clamp_min(1e-30).log()).sum()),
            "policy/effective_batch": float(1.0 / np.sum(w.astype(np.float64) ** 2)),
            **source_mass(w, np.asarray(info["source"])),
        }
        return w

    # ------------------------------------------------------------------------------------ Q update
    def observe(self, reward: float, obs: np.ndarray, info: dict[str, Any], terminated: bool,
                truncated: bool) -> None:
        """TD update of phi for the step just taken, bootstrapped from the next retrieved set."""
        c = self.config
        self._metrics.update({k: float(v) for k, v in info.items()
                              if k.startswith(("langevin/", "time/")) and np.isscalar(v)})
        self._metrics["rag/retrieved"] = float(info.get("rag/retrieved", len(obs)))
        if terminated or self.h_prev is None:
            return
        mask = self._retrieved(obs, info)
        with torch.no_grad():
            qbar = self.q_target(torch.as_tensor(obs[mask], dtype=torch.float32)).squeeze(-1)  # [R]
        v_next = soft_value(qbar, c.beta)  # eq. 4 over the R retrieved windows
        y = td_target(reward, v_next, c.gamma)  # eq. 3, stop-gradient
        loss = regression_step(self.q, self.opt, self.h_prev[None], y, c.grad_clip)
        polyak(self.q_target, self.q, c.tau)  # eq. 5
        self._metrics.update({"td/loss": loss, "td/target": float(y), "v_bar": float(v_next)})

    def metrics(self) -> dict[str, float]:
        return dict(self._metrics)

    # ------------------------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        return {"q": self.q.state_dict(), "q_target": self.q_target.state_dict(), "opt": self.opt.state_dict(),
                "gen": self.gen.get_state(), "h_prev": self.h_prev, "metrics": dict(self._metrics)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.q.load_state_dict(state["q"])
        self.q_target.load_state_dict(state["q_target"])
        self.opt.load_state_dict(state["opt"])
        self.gen.set_state(state["gen"])
        self.h_prev = state["h_prev"]
        self._metrics = dict(state["metrics"])
