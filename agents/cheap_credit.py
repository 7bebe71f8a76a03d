"""The cheap soft-Q agent's credit (:mod:`agents.soft_q_cheap`): what each window the step trained earns, from what
the env returns for free, the training forward's per-window and per-token losses (``info["trained_loss"]``,
``info["trained_token_loss"]``), against a reference model of D (by default a bigram count model, integer lookups).

- ``reducible`` = learner loss - reference loss (RHO-LOSS's reducible loss with a count model for its IL model);
- ``fresh`` = the per-token excess floored at 0 over the window's first occurrences of its transitions
  (:func:`agents.soft_q_inputs.fresh_excess`);
- ``known`` = the fresh excess over the transitions that occur in D alone (a bigram count of D above 0): a window
  earns credit for what the learner has yet to learn of D's own transitions, so a run of junk tokens or shuffled
  words, whose transitions D never has, earns none.

A signal is one part or two joined by ``+``. Each part is standardised by a running mean and variance over the
trained windows (:class:`RunningNorm`: four windows are too few to z-score over one step) and the credit is their
sum.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

import numpy as np

from agents.soft_q_inputs import fresh_excess

CREDIT_SIGNALS = ("reducible", "fresh", "reducible+fresh", "known", "reducible+known")
"""The credits of the trained windows (module doc)."""


class RunningNorm:
    """Exponential running mean and variance of a stream of values; :meth:`__call__` standardises a batch
    by the statistics *before* it joins them (the first batch seeds them)."""

    def __init__(self, rate: float):
        if not 0 < rate <= 1:
            raise ValueError(f"running norm: rate must lie in (0, 1], got {rate!r}")
        self.rate, self.mean, self.var, self.count = float(rate), 0.0, 1.0, 0

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if self.count == 0:
            self.mean, self.var = float(x.mean()), float(x.var()) if len(x) > 1 else 1.0
        out = (x - self.mean) / math.sqrt(self.var + 1e-12)
        for value in x:  # one update per value: the rate is per window, whatever the batch
            delta = value - self.mean
            self.mean += self.rate * delta
            self.var = (1.0 - self.rate) * (self.var + self.rate * delta * delta)
        self.count += len(x)
        return out

    def state_dict(self) -> dict[str, float]:
        return {"mean": self.mean, "var": self.var, "count": self.count}

    def load_state_dict(self, state: dict[str, float]) -> None:
        self.mean, self.var, self.count = float(state["mean"]), float(state["var"]), int(state["count"])


class Reference(Protocol):
    """What the credit reads of the reference: per-token losses [B, L-1] and which transitions D has [B, L-1]."""

    def reference_token_losses(self, ids: np.ndarray) -> np.ndarray: ...

    def known(self, ids: np.ndarray) -> np.ndarray: ...


class TrainedWindowCredit:
    """The credit of the windows a step trained (module doc): ``signal`` (:data:`CREDIT_SIGNALS`), each part
    standardised by a running norm at ``norm_rate`` per window."""

    def __init__(self, signal: str = "known", norm_rate: float = 0.02):
        if signal not in CREDIT_SIGNALS:
            raise ValueError(f"credit signal must be one of {CREDIT_SIGNALS}, got {signal!r}")
        self.parts = tuple(signal.split("+"))
        self.norms = {name: RunningNorm(norm_rate) for name in self.parts}

    def env_kwargs(self) -> dict[str, Any]:
        """Nothing: every budgeted step returns the trained windows' training losses."""
        return {}

    def targets(self, info: dict[str, Any], ids: np.ndarray, reference: Reference) -> tuple[np.ndarray, dict]:
        """The credit [B] of the trained windows ``ids`` [B, L] from the step's ``info``, and its raw parts' means
        (``credit/<part>``)."""
        ids = np.asarray(ids)
        token_loss = np.asarray(info["trained_token_loss"], dtype=np.float64)
        if not np.all(np.isfinite(token_loss)):
            raise ValueError("cheap soft-Q credit: info['trained_token_loss'] is not finite (the env's fused step "
                             "keeps no per-token loss; use fused_forward=False)")
        reference_tokens = reference.reference_token_losses(ids)  # [B, L-1]
        raw = {}  # only the parts the signal reads
        if "reducible" in self.parts:
            raw["reducible"] = np.asarray(info["trained_loss"], dtype=np.float64) - reference_tokens.mean(1)
        if "fresh" in self.parts:
            raw["fresh"] = fresh_excess(token_loss, reference_tokens, ids)
        if "known" in self.parts:
            known = reference.known(ids)  # [B, L-1]: transitions that occur in D
            raw["known"] = fresh_excess(token_loss * known, reference_tokens * known, ids)
        r = sum(self.norms[name](value) for name, value in raw.items())
        return r, {f"credit/{name}": float(value.mean()) for name, value in raw.items()}

    def state_dict(self) -> dict[str, Any]:
        return {name: norm.state_dict() for name, norm in self.norms.items()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name, norm in self.norms.items():
            norm.load_state_dict(state[name])
