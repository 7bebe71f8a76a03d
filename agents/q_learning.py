"""The Q-network and its normalised soft TD update (paper eqs. 2-5), shared by the soft-Q agent
(:mod:`agents.soft_q`) and the paper's Langevin-RAG agent (:mod:`agents.langevin_rag_paper`)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class QLearningConfig:
    """The Q-network and its normalised soft TD update (eqs. 2-5), shared by the soft-Q agents.

    The temperature beta is not here: the soft-Q agent sets it with a controller
    (:class:`agents.temperature.TemperatureConfig`), the Langevin-RAG agent holds a fixed one.
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


@torch.no_grad()
def polyak(target: nn.Module, online: nn.Module, tau: float) -> None:
    """phibar <- tau phi + (1 - tau) phibar (eq. 5), in place."""
    for pt, p in zip(target.parameters(), online.parameters(), strict=True):
        pt.mul_(1.0 - tau).add_(p, alpha=tau)
