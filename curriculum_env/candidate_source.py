"""Where the env's next candidates come from: its own stream, or a source an agent or wrapper installs.

By default each step's N candidates are the N windows the env streams after its update. A
*candidate source* (``env.unwrapped.set_candidate_source(source)``) chooses them instead, from the
windows the env streams for it: after every update (and at reset) the env streams its N fresh
windows as usual and calls ::

    batch = source.propose(fresh, draw, reset)

``fresh`` is that :class:`~curriculum_env.data.stream.Batch`; ``draw(count)`` streams at least
``count`` further windows (whole batches of N) for the source to keep; ``reset`` is True for the
first proposal of an episode. Every window streamed either way counts in ``examples_streamed``, so a
source sees only what the stream gives (disjoint from D and the test split) and the cost of looking
is on the record. The env scores the returned N windows -- the one scoring forward of the step,
nothing is scored and thrown away -- and the next ``step`` trains on them like any candidates.

A source that wants to report something implements ``info() -> dict``; the env adds it to every
``info`` (keys should carry a prefix, e.g. ``rag/``). A source that raises, or returns a batch of the
wrong shape, dtype or vocabulary, makes the env raise ``ValueError`` naming the problem; the update of
that step has happened, so the env then refuses to step until ``reset()`` rather than train on stale
candidates. ``save_state`` does not include the source's own state.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import numpy as np

from curriculum_env.data.stream import Batch

Draw = Callable[[int], Batch]
"""``draw(count)``: at least ``count`` more stream windows (whole env batches), counted as streamed."""


@runtime_checkable
class CandidateSource(Protocol):
    """Chooses the env's next N candidates from what the env streams for it (module docstring)."""

    def propose(self, fresh: Batch, draw: Draw, reset: bool) -> Batch: ...


def checked_batch(ids: Any, source: Any, rarity: Any, length: Any, n: int, context_length: int,
                  vocab: int) -> Batch:
    """A copy of the candidates as a :class:`Batch`, or ``ValueError`` naming what is wrong with them."""
    ids = np.asarray(ids)
    if ids.shape != (n, context_length) or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"candidate ids must be integers of shape ({n}, {context_length}), "
                         f"got {ids.dtype} {ids.shape}")
    if ids.min() < 0 or ids.max() >= vocab:
        raise ValueError(f"candidate ids must lie in [0, {vocab}), got range [{ids.min()}, {ids.max()}]")
    source = np.asarray(source, dtype=object)
    rarity, length = np.asarray(rarity, dtype=np.float32), np.asarray(length, dtype=np.float32)
    if source.shape != (n,) or rarity.shape != (n,) or length.shape != (n,):
        raise ValueError(f"source, rarity and length must each have shape ({n},)")
    return Batch(ids.astype(np.int64, copy=True), source.copy(), rarity.copy(), length.copy())


def concat(batches: list[Batch]) -> Batch:
    """One batch holding the windows of ``batches`` in order."""
    return Batch(*(np.concatenate([getattr(b, f) for b in batches])
                   for f in ("ids", "source", "rarity", "length")))


def draw_from(stream: Any) -> Draw:
    """The ``draw`` function over a :class:`~curriculum_env.data.stream.CandidateStream`."""

    def draw(count: int) -> Batch:
        if not isinstance(count, (int, np.integer)) or count < 0:
            raise ValueError(f"draw(count) needs a non-negative integer, got {count!r}")
        parts = []
        while sum(len(b.ids) for b in parts) < count:
            parts.append(stream.next_batch())
        if not parts:
            return Batch(np.zeros((0, stream.data.heldout.ids.shape[1]), np.int64), np.zeros(0, object),
                         np.zeros(0, np.float32), np.zeros(0, np.float32))
        return concat(parts)

    return draw
