"""Undo an optimizer step whose updated weights are not finite.

Finite gradients can still give non-finite weights (an overflowing update: a huge learning rate, an
exploding Adam ratio). :class:`StepGuard` copies theta and the optimizer state into buffers kept
across steps before the step, checks the updated weights with one fused norm, and copies everything
back when they are not finite -- so a diverging step leaves the model exactly as it was.
"""

from __future__ import annotations

import torch


class StepGuard:
    """``with`` nothing: call :meth:`snapshot` before ``optimizer.step()``, then :meth:`keep_or_undo`."""

    def __init__(self) -> None:
        self._buffers: list[torch.Tensor] = []

    def snapshot(self, params: list[torch.Tensor], optimizer: torch.optim.Optimizer):
        """Copy ``params`` and their optimizer state; returns what :meth:`keep_or_undo` needs."""
        states = [optimizer.state.get(p, {}) for p in params]
        tensors = params + [v for st in states for v in st.values() if torch.is_tensor(v)]
        if [b.shape for b in self._buffers] != [t.shape for t in tensors]:
            self._buffers = [torch.empty_like(t) for t in tensors]
        with torch.no_grad():
            for b, t in zip(self._buffers, tensors, strict=True):
                b.copy_(t)
        return params, tensors, {id(p) for p, st in zip(params, states, strict=True) if st}

    def keep_or_undo(self, snapshot, optimizer: torch.optim.Optimizer) -> bool:
        """True if the updated weights are finite; otherwise restore the snapshot and return False.

        One fused norm over all parameters decides (a non-finite entry, or weights so large that their
        norm overflows, makes it non-finite), read with one host sync."""
        params, tensors, had_state = snapshot
        if bool(torch.nn.utils.get_total_norm(params).isfinite()):
            return True
        with torch.no_grad():
            for t, b in zip(tensors, self._buffers, strict=True):
                t.copy_(b)
        for p in list(optimizer.state):
            if id(p) not in had_state:  # state the failed step created (the first step of a run)
                del optimizer.state[p]
        return False
