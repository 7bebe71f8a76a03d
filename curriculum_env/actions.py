"""The env's action, checked: an integer index (select mode) or non-negative mixture weights; and the weights the
LM trains with under the budget B."""

from __future__ import annotations

from typing import Any

import numpy as np


def action_weights(action: Any, config: Any) -> np.ndarray:
    """``action`` as normalised weights [N] under ``config`` (an :class:`~curriculum_env.config.EnvConfig`);
    ``ValueError`` naming the problem for anything else (wrong type, shape, NaN, negative, all zero, or fewer
    positive weights than ``train_batch`` under ``train_weighting="action"``)."""
    n = config.num_candidates
    if config.action_mode == "select":
        a = np.asarray(action)
        if a.ndim != 0 or not np.issubdtype(a.dtype, np.integer):
            raise ValueError(f"select mode takes one integer candidate index, got {action!r}")
        if not 0 <= int(a) < n:
            raise ValueError(f"candidate index {int(a)} out of range [0, {n})")
        w = np.zeros(n)
        w[int(a)] = 1.0
        return w
    try:
        w = np.asarray(action, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"mixture weights must be numeric, got {action!r}") from exc
    if w.shape != (n,):
        raise ValueError(f"mixture weights must have shape ({n},), got {w.shape}")
    if not np.all(np.isfinite(w)):
        raise ValueError("mixture weights contain NaN or inf")
    if np.any(w < 0):
        raise ValueError(f"mixture weights must be non-negative, got min {w.min():.4g}")
    if w.sum() <= 0:
        raise ValueError("mixture weights are all zero; give at least one positive weight")
    b = config.train_batch
    if b is not None and config.train_weighting == "action" and np.count_nonzero(w) < b:
        raise ValueError(f"train_weighting='action' needs at least train_batch={b} positive weights, "
                         f"got {np.count_nonzero(w)}")
    return w / w.sum()


def trained_weights(weights: np.ndarray, config: Any, rng: np.random.Generator) -> np.ndarray:
    """The weights [N] the LM trains with: ``weights`` itself, or under ``config.train_batch`` exactly B non-zero
    entries on the B largest weights (ties broken by a permutation from ``rng``, the env's ``np_random``,
    drawn every step so every agent consumes the same random numbers): 1/B each, or under
    ``train_weighting="action"`` the weights renormalised over the B."""
    b = config.train_batch
    if b is None:
        return weights
    perm = rng.permutation(len(weights))
    chosen = perm[np.argsort(-weights[perm], kind="stable")[:b]]  # [B]
    out = np.zeros_like(weights)
    if config.train_weighting == "action":
        out[chosen] = weights[chosen] / weights[chosen].sum()
    else:
        out[chosen] = 1.0 / b
    return out
