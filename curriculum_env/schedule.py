"""The LM's learning-rate schedule: linear warm-up, then constant, cosine or linear decay.

A pure function of the update index, so an env state that stores its step count restores the
schedule exactly. For update ``k = 0, 1, ...`` (the ``k``-th optimizer step of the episode) with peak
``lr``, ``w`` warm-up steps, horizon ``H`` and floor ``f = lr_final``::

    k < w:        lr * (k + 1) / w                            (linear warm-up, reaching lr at k = w - 1)
    constant:     lr
    cosine:       lr * (f + (1 - f) * (1 + cos(pi * p)) / 2)
    linear:       lr * (f + (1 - f) * (1 - p))
                  with p = (k - w) / (H - 1 - w), clipped to [0, 1]

so the last update of the horizon (``k = H - 1``) runs at exactly ``f * lr``: the decay completes
within the budget ("No Train No Gain", Kaddour et al. 2023, measure selection against such a
baseline), and any update after the horizon stays at the floor.
"""

from __future__ import annotations

import math

SCHEDULES = ("constant", "cosine", "linear")


def lr_at(step: int, lr: float, schedule: str = "constant", warmup_steps: int = 0, lr_final: float = 0.0,
          horizon: int | None = None) -> float:
    """The learning rate of update ``step`` (0-based); see the module docstring."""
    if schedule not in SCHEDULES:
        raise ValueError(f"lr_schedule must be one of {SCHEDULES}, got {schedule!r}")
    if step < warmup_steps:
        return lr * (step + 1) / warmup_steps
    if schedule == "constant":
        return lr
    if horizon is None:
        raise ValueError(f"lr_schedule={schedule!r} needs a horizon (lr_horizon, or the episode's max_episode_steps)")
    span = horizon - 1 - warmup_steps
    p = 1.0 if span <= 0 else min(1.0, max(0.0, (step - warmup_steps) / span))
    shape = 0.5 * (1.0 + math.cos(math.pi * p)) if schedule == "cosine" else 1.0 - p
    return lr * (lr_final + (1.0 - lr_final) * shape)
