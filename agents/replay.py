"""A ring buffer of Q-regression pairs (h, y) for the soft-Q agent's optional experience replay."""

from __future__ import annotations

from typing import Any

import torch


class PairReplay:
    """Fixed-capacity ring buffer of hidden states ``h`` [d] and their TD targets ``y`` (scalars).

    The targets are stored as computed at the time (stale bootstraps), as in DQN-style replay of
    regression pairs; sampling draws from a caller's ``torch.Generator`` so runs stay reproducible.
    """

    def __init__(self, capacity: int, dim: int):
        if capacity < 1:
            raise ValueError(f"replay capacity must be >= 1, got {capacity!r}")
        self.capacity, self.dim = capacity, dim
        self.h = torch.zeros(capacity, dim)  # [C, d]
        self.y = torch.zeros(capacity)  # [C]
        self.size = 0
        self.next = 0

    def __len__(self) -> int:
        return self.size

    def add(self, h: torch.Tensor, y: float) -> None:
        self.h[self.next] = h.detach().reshape(self.dim)
        self.y[self.next] = float(y)
        self.next = (self.next + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, batch: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """``batch`` pairs drawn uniformly with replacement: h [B, d], y [B]."""
        if self.size == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        idx = torch.randint(self.size, (batch,), generator=generator)
        return self.h[idx], self.y[idx]

    def state_dict(self) -> dict[str, Any]:
        return {"h": self.h.clone(), "y": self.y.clone(), "size": self.size, "next": self.next}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.h, self.y = state["h"].clone(), state["y"].clone()
        self.size, self.next = int(state["size"]), int(state["next"])
