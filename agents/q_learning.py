"""The Q-network and its normalised soft TD update (paper eqs. 2-5), shared by the soft-Q agent
(:mod:`agents.soft_q`) and the paper's Langevin-RAG agent (:mod:`agents.langevin_rag_paper`)."""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn


@dataclass(frozen=True)
class QLearningConfig:
    """The Q-network and its normalised soft TD update (eqs. 2-5), shared by the soft-Q agents.

    The temperature beta is not here: the soft-Q agent sets it with a controller
    (:func:`agents.temperature.make_temperature`), the Langevin-RAG agent holds a fixed one.
    """

    gamma: float = 0.9
    """gamma, discount of the normalised soft Bellman target (eq. 3)."""
    tau: float = 0.01
    """tau, Polyak rate of the target network (eq. 5)."""
    lr: float = 1e-3
    """eta, Adam learning rate of the Q-network."""
    grad_clip: float = 1.0
    """G, max global gradient norm of each Q-network step."""
    hidden: int = 32
    """Width of the Q-network's hidden layer (d -> hidden -> 1, eq. 2)."""

    def __post_init__(self) -> None:
        name = type(self).__name__
        for field_ in ("tau", "lr", "grad_clip"):
            if not getattr(self, field_) > 0:
                raise ValueError(f"{name}.{field_} must be > 0, got {getattr(self, field_)!r}")
        if not 0 <= self.gamma < 1:
            raise ValueError(f"{name}.gamma must lie in [0, 1), got {self.gamma!r}")
        if self.tau > 1:
            raise ValueError(f"{name}.tau must lie in (0, 1], got {self.tau!r}")
        if self.hidden < 1:
            raise ValueError(f"{name}.hidden must be >= 1, got {self.hidden!r}")


def q_network(d: int, hidden: int) -> nn.Module:
    """Q_phi(h) = W2 relu(W1 h + b1) + b2 (eq. 2): [B, d] -> [B, 1]."""
    return nn.Sequential(nn.Linear(d, hidden), nn.ReLU(), nn.Linear(hidden, 1))


def soft_value(q: torch.Tensor, beta: float) -> torch.Tensor:
    """Normalised soft value V = beta [logsumexp(q / beta) - log N] (eq. 4); q [N] -> scalar."""
    return beta * (torch.logsumexp(q / beta, dim=-1) - math.log(q.shape[-1]))


def td_target(reward: float, v_next: torch.Tensor, gamma: float) -> torch.Tensor:
    """y = (1 - gamma) r + gamma V(s') (eq. 3), stop-gradient."""
    return ((1.0 - gamma) * reward + gamma * v_next).detach()


def regression_step(q: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
                    grad_clip: float) -> float:
    """One Adam step of ``q`` on 1/2 (Q(x) - y)^2, mean over the batch, its gradient clipped to norm ``grad_clip``;
    x [B, d], y [B]. Returns the loss before the step."""
    loss = 0.5 * (q(x).squeeze(-1) - y).pow(2).mean()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    nn.utils.clip_grad_norm_(q.parameters(), grad_clip)
    opt.step()
    return float(loss.detach())


@torch.no_grad()
def polyak(target: nn.Module, online: nn.Module, tau: float) -> None:
    """phibar <- tau phi + (1 - tau) phibar (eq. 5), in place."""
    for pt, p in zip(target.parameters(), online.parameters(), strict=True):
        pt.mul_(1.0 - tau).add_(p, alpha=tau)


def q_learner_state(agent: Any) -> dict[str, Any]:
    """The parts of a soft-Q agent's state that every one has: its config, Q, Q-bar, Adam, its torch and numpy
    generators and the (x, y) replay (``agent.replay`` may be ``None``); copies, not views."""
    return copy.deepcopy({
        "config": asdict(agent.config), "q": agent.q.state_dict(), "q_target": agent.q_target.state_dict(),
        "opt": agent.opt.state_dict(), "gen": agent.gen.get_state(), "rng": agent.rng.bit_generator.state,
        "replay": agent.replay.state_dict() if agent.replay is not None else None})


def load_q_learner_state(agent: Any, state: dict[str, Any]) -> dict[str, Any]:
    """Restore :func:`q_learner_state`'s parts of ``state`` into ``agent`` (after its ``setup``, which sizes the
    networks); refuses a state saved under another config. Returns a deep copy of ``state`` for the rest."""
    if agent.q is None:
        raise RuntimeError("call setup(env, seed) before load_state_dict()")
    if dict(state["config"]) != asdict(agent.config):
        raise ValueError(f"{type(agent).__name__} state was saved with a different config")
    state = copy.deepcopy(state)
    agent.q.load_state_dict(state["q"])
    agent.q_target.load_state_dict(state["q_target"])
    agent.opt.load_state_dict(state["opt"])
    agent.gen.set_state(state["gen"])
    agent.rng.bit_generator.state = state["rng"]
    if agent.replay is not None:
        agent.replay.load_state_dict(state["replay"])
    return state
