"""The auxiliary losses queued for the learner's next update, each with the tokens it trains.

An auxiliary loss (the paper's TD loss into theta, §2.7) trains tokens the update's own batch does not: they
count in the env's ``tokens_trained`` and cost ``6·P`` FLOPs each, like the update's. A loss built on hidden
states whose body forward and backward :meth:`Learner.hidden` already charged (``grad=True``) pays only the
rest, so every trained token costs ``6·P`` once (:meth:`AuxiliaryLosses.add`).
"""

from __future__ import annotations

import numpy as np
import torch

from curriculum_env.flops import FlopModel


class AuxiliaryLosses:
    """``(loss, tokens)`` pairs for the next update, and the body tokens already charged for a graph."""

    def __init__(self) -> None:
        self.queue: list[tuple[torch.Tensor, int]] = []
        self.graph_tokens = 0  # tokens hidden(grad=True) charged forward + backward for since the last update

    def clear(self) -> None:
        self.queue.clear()
        self.graph_tokens = 0

    def add(self, loss: torch.Tensor, tokens: int | None, flop_model: FlopModel) -> float:
        """Queue ``loss`` training ``tokens``; returns the FLOPs to charge now (``6·P`` a token, less the body
        forward and backward already charged for up to ``tokens`` of the graph's tokens)."""
        if tokens is None:
            raise TypeError("add_auxiliary_loss(loss, tokens=T) needs T, the number of tokens the loss trains: "
                            "they count in tokens_trained and cost 6·P FLOPs each, like the update's")
        if not isinstance(tokens, (int, np.integer)) or isinstance(tokens, bool) or tokens < 0:
            raise ValueError(f"tokens must be a non-negative integer, got {tokens!r}")
        if not isinstance(loss, torch.Tensor) or loss.ndim != 0:
            raise ValueError("an auxiliary loss must be a scalar tensor")
        if not loss.requires_grad:
            raise ValueError("an auxiliary loss must be connected to the model (requires_grad=False)")
        tokens = int(tokens)
        covered = min(tokens, self.graph_tokens)
        self.graph_tokens -= covered
        self.queue.append((loss, tokens))
        return flop_model.train(tokens) - 3 * flop_model.forward(covered, head=False)

    def take(self) -> list[tuple[torch.Tensor, int]]:
        """The queued pairs, removed from the queue (put them back with :meth:`restore`)."""
        taken, self.queue = self.queue, []
        return taken

    def restore(self, taken: list[tuple[torch.Tensor, int]]) -> None:
        """Queue again pairs :meth:`take` returned (their FLOPs were charged when added)."""
        self.queue.extend((loss, int(tokens)) for loss, tokens in taken)

    @property
    def tokens(self) -> int:
        """Tokens the queued losses train."""
        return sum(tokens for _, tokens in self.queue)
