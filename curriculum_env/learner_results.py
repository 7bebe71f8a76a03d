"""What the learner's forwards and updates return (:mod:`curriculum_env.learner`): per-candidate scores of a
forward, and an update's statistics with the ``info`` fields the env reports about it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch


@dataclass
class Scores:
    """Per-candidate results of one forward of a batch.

    ``loss`` keeps its autograd graph when the forward ran with gradients (the fused path), so the
    update can backpropagate without forwarding the candidates again.
    """

    hidden: torch.Tensor  # [N, d] float32, detached, on CPU (one transfer for all chunks)
    loss: torch.Tensor | None  # [N] per-token mean cross-entropy (graph-connected iff with_grad); None if not asked
    entropy: torch.Tensor | None  # [N] mean predictive entropy (nats), detached, on CPU; None if not asked
    with_grad: bool
    token_loss: torch.Tensor | None = None  # [N, L-1] per-token NLL, detached, on CPU; None if not asked


def _cat(parts: list[torch.Tensor | None]) -> torch.Tensor | None:
    """The chunks of one statistic joined along the batch, or ``None`` when it was not computed."""
    return torch.cat(parts) if parts and parts[0] is not None else None


def _on_cpu(x: torch.Tensor | None) -> torch.Tensor | None:
    return None if x is None else x.cpu()


@dataclass
class UpdateStats:
    """What one LM update did."""

    loss: float
    aux_loss: float
    grad_norm: float
    clipped: bool
    finite: bool  # the step was taken (a finite loss, gradient and updated theta)
    weights_finite: bool = True  # False: the step gave non-finite weights and was undone
    window_loss: np.ndarray | None = None  # [B] loss of each trained window (non-zero weight), in index order
    token_loss: np.ndarray | None = None  # [B, L-1] their per-token NLL (None: the fused step did not keep it)
    aux_tokens: int = 0  # tokens the auxiliary losses of this update trained (their declared ``tokens``)

    def info(self, weights: np.ndarray, train_weights: np.ndarray, sources: np.ndarray, lr: float,
             window_length: int) -> dict[str, Any]:
        """The step's ``info`` fields about this update: the action ``weights`` [N], the ``train_weights`` [N]
        it trained with, the trained windows' indices, ``sources`` labels and losses (NaN where the update kept
        none), its loss, gradient norm and learning rate ``lr``."""
        k = int(np.count_nonzero(train_weights))
        return {
            "weights": weights.astype(np.float32),
            "train_weights": train_weights.astype(np.float32),
            "trained": np.flatnonzero(train_weights),
            "trained_source": sources[train_weights > 0].copy(),
            "train_loss": self.loss,
            "trained_loss": (np.asarray(self.window_loss, dtype=np.float32) if self.window_loss is not None
                             else np.full(k, np.nan, np.float32)),
            "trained_token_loss": (self.token_loss if self.token_loss is not None
                                   else np.full((k, window_length - 1), np.nan, np.float32)),
            "aux_loss": self.aux_loss,
            "grad_norm": self.grad_norm,
            "grad_clipped": self.clipped,
            "effective_batch": float(1.0 / np.sum(train_weights**2)),
            "lr": lr,
        }
