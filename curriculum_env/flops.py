"""Model FLOPs, counted the usual way and kept per phase of the env step.

**Convention** (Kaplan et al. 2020; nanoGPT's MFU count): a forward pass costs ``2·P`` FLOPs per
token and a forward + backward ``6·P``, where **P = every parameter except the position
embeddings**, the tied token embedding counted once, as the LM head's matmul. A forward that stops
at the transformer body (the observation without per-candidate statistics: no logits) costs
``2·(P - V·d)`` per token. Attention's own score and value products (``2·n_layer·L·d`` per token
forward, about 1% of ``2·P`` at the benchmark's L = 32 and ~15% at GPT-2's L = 1,024) are **not**
included, nor are embedding lookups, softmaxes, norms and the optimizer step. Every window of
``L`` tokens counts ``L`` tokens (its last position predicts nothing but is computed).

:class:`FlopCounter` keeps running totals per phase. The env charges its own phases (``forward``:
the scoring forward of the candidates; ``update``: the training forward/backward; ``reward``;
``influence``: the probes); everything an agent makes the learner do outside them counts as
``agent``, and an agent adds the cost of its own models with :meth:`Learner.add_flops
<curriculum_env.learner.Learner.add_flops>` (RHO-LOSS's reference model, for example). Evaluations
of the test split run under ``eval`` and are kept out of :attr:`FlopCounter.total`: they measure the
run, they are not part of it.

**Auxiliary losses.** A token an auxiliary loss trains (``learner.add_auxiliary_loss(loss, tokens=T)``)
costs what a token the update trains costs, ``6·P``, charged when the loss is queued; what
``learner.hidden(grad=True)`` has already charged for up to T of its tokens since the last update (its
body forward and backward, ``6·(P - V·d)`` each) counts toward it, so the TD loss into theta pays
``6·P`` per token in all.

**An agent's own compute** is charged at **2 FLOPs per multiply-add** with ``learner.add_flops(flops,
phase)``, counted with the helpers below (one place): :func:`matmul_flops` (``2·m·k·n``),
:func:`solve_flops` (LU, ``2/3·d³ + 2·d²`` per right-hand side), :func:`mlp_flops` (a small network's
``nn.Linear`` layers: ``2·W`` per row forward, W its weight entries; a training step -- forward,
backward, update -- ``6·W`` per row, the same 3x as the LM's 6-vs-2). Elementwise work (biases,
activations, normalisation, softmaxes, the optimizer's own arithmetic) is not counted, as for the LM.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

PHASES = ("forward", "update", "reward", "influence", "agent")
"""The phases whose FLOPs make up a run's cost (``FlopCounter.total``)."""
UNCOUNTED = ("eval",)
"""Phases tracked but left out of the total (evaluation of the run, not part of it)."""


def parameter_counts(model: torch.nn.Module) -> dict[str, int]:
    """``total`` (unique parameters), ``P`` (total minus position embeddings: the FLOPs count) and
    ``head`` (V·d, the LM head's matmul, which a body-only forward skips)."""
    total = sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
    base = getattr(model, "base_model", model)
    positions = 0
    for name in ("wpe", "embed_positions", "position_embeddings"):
        module = getattr(base, name, None)
        if isinstance(module, torch.nn.Embedding):
            positions += module.weight.numel()
    out = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    head = out.weight.numel() if out is not None else 0
    return {"total": total, "P": total - positions, "head": head}


def matmul_flops(m: int, k: int, n: int) -> float:
    """FLOPs of an ``[m, k] @ [k, n]`` product: ``2·m·k·n`` (2 per multiply-add)."""
    return 2.0 * int(m) * int(k) * int(n)


def solve_flops(d: int, rhs: int = 1) -> float:
    """FLOPs of solving a ``d x d`` linear system for ``rhs`` right-hand sides by LU: ``2/3·d³ + 2·d²·rhs``
    (the factorisation, then a forward and a back substitution per right-hand side)."""
    return 2.0 / 3.0 * int(d) ** 3 + 2.0 * int(d) ** 2 * int(rhs)


def linear_weights(model: torch.nn.Module) -> int:
    """W, the weight entries of every ``nn.Linear`` of ``model`` (one multiply-add each per row forwarded)."""
    return sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear))


def mlp_flops(model: torch.nn.Module, rows: int, train: bool = False) -> float:
    """FLOPs of ``rows`` rows through a small network of ``nn.Linear`` layers (a Q-network): ``2·W`` per row
    forward; with ``train`` a forward, backward and update, ``6·W`` per row."""
    return (6.0 if train else 2.0) * linear_weights(model) * int(rows)


class FlopModel:
    """FLOPs per token of one model: ``forward(head)`` and ``train`` (forward + backward).

    Computed once from the parameter counts (they do not change while training)."""

    def __init__(self, model: torch.nn.Module):
        counts = parameter_counts(model)
        self.params = counts["P"]
        self.head = counts["head"]

    def forward(self, tokens: int, head: bool = True) -> float:
        """FLOPs of a forward of ``tokens`` tokens, through the LM head (logits) or the body alone."""
        return 2.0 * (self.params if head else self.params - self.head) * tokens

    def backward(self, tokens: int) -> float:
        """FLOPs of the backward of ``tokens`` tokens whose forward (with logits) was counted already."""
        return 4.0 * self.params * tokens

    def train(self, tokens: int) -> float:
        """FLOPs of a forward and backward of ``tokens`` tokens (``6·P`` per token)."""
        return 6.0 * self.params * tokens


class FlopCounter:
    """Running FLOPs totals per phase; :meth:`phase` sets where :meth:`add` without a phase goes."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = {}
        self.current = "agent"

    def reset(self) -> None:
        """Zero every total (a new episode)."""
        self.totals = {}

    def add(self, flops: float, phase: str | None = None) -> None:
        """Charge ``flops`` to ``phase`` (default: the current one)."""
        flops = float(flops)
        if not flops >= 0:
            raise ValueError(f"FLOPs must be a non-negative number, got {flops!r}")
        key = self.current if phase is None else phase
        self.totals[key] = self.totals.get(key, 0.0) + flops

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Charge everything counted inside the block to ``name``."""
        previous, self.current = self.current, name
        try:
            yield
        finally:
            self.current = previous

    @property
    def total(self) -> float:
        """The run's cost so far: every phase but the uncounted ones (evaluation)."""
        return float(sum(v for k, v in self.totals.items() if k not in UNCOUNTED))

    def info(self) -> dict[str, float]:
        """``flops/<phase>`` for the env's phases and any an agent added, plus ``flops/total``."""
        keys = [*PHASES, *sorted(set(self.totals) - set(PHASES) - set(UNCOUNTED))]
        return {**{f"flops/{k}": float(self.totals.get(k, 0.0)) for k in keys}, "flops/total": self.total}

    def state_dict(self) -> dict[str, float]:
        return dict(self.totals)

    def load_state_dict(self, state: dict[str, float]) -> None:
        self.totals = {str(k): float(v) for k, v in state.items()}
