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

**D and the test split stay out.** A returned window whose content is a window of the held-out set D
or of the test split is refused before it is scored (``ValueError`` naming the candidate's index and
the split), whatever the source read to make it: :class:`SplitGuard` holds the content keys of both
splits (:func:`content_keys`, computed once per env), less the windows the stream itself holds (the
needle task's D is its needle, a stream window by design). The env's ``set_candidates`` refuses them
the same way.

A source that wants to know what the env trained implements ``trained(ids)``: after every update that
was taken the env calls it with the token ids [B, L] of the windows trained (indices ``info["trained"]``
into the proposal), before the next ``propose``.

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


_MULTIPLIERS = np.random.default_rng(0x5EED).integers(1, 2**63, size=4096, dtype=np.uint64) | np.uint64(1)
_CHUNK = 8192  # rows hashed at a time: the [rows, L] uint64 products stay small for long windows


def content_keys(ids: np.ndarray) -> np.ndarray:
    """Stable 63-bit content hashes of windows ``ids`` [n, L] -> [n] int64, vectorised (equal windows get
    equal keys): a random-multiplier hash of the tokens, mixed by splitmix64. The one window hash of the
    package (the ring's dedupe, the embedding lookup, the refusal of D and test windows)."""
    ids = np.asarray(ids, dtype=np.int64)
    if ids.shape[1] > len(_MULTIPLIERS):
        raise ValueError(f"windows longer than {len(_MULTIPLIERS)} tokens are not supported")
    out = np.empty(len(ids), dtype=np.int64)
    with np.errstate(over="ignore"):
        for start in range(0, len(ids), _CHUNK):
            rows = ids[start:start + _CHUNK]
            h = (rows.astype(np.uint64) * _MULTIPLIERS[: ids.shape[1]]).sum(axis=1, dtype=np.uint64)
            h ^= h >> np.uint64(30)
            h *= np.uint64(0xBF58476D1CE4E5B9)
            h ^= h >> np.uint64(27)
            h *= np.uint64(0x94D049BB133111EB)
            h ^= h >> np.uint64(31)
            out[start:start + _CHUNK] = (h >> np.uint64(1)).astype(np.int64)
    return out


class SplitGuard:
    """The windows no candidate may be: those of D (``heldout``) and of the test split, less any window the
    stream holds too (module docstring). Built from a :class:`~curriculum_env.data.tasks.TaskData`."""

    SPLITS = ("heldout", "test")

    def __init__(self, data: Any):
        stream = [content_keys(pool.ids) for pool in data.stream_pools.values()]
        in_stream = np.concatenate(stream) if stream else np.zeros(0, np.int64)
        keys, rows, split = [], [], []
        for i, name in enumerate(self.SPLITS):
            ids = np.asarray(getattr(data, name).ids, dtype=np.int64)
            k = content_keys(ids)
            keep = ~np.isin(k, in_stream)
            keys.append(k[keep])
            rows.append(ids[keep])
            split.append(np.full(int(keep.sum()), i))
        keys = np.concatenate(keys)
        order = np.argsort(keys, kind="stable")
        self._keys, self._rows, self._split = keys[order], np.concatenate(rows)[order], np.concatenate(split)[order]

    def __len__(self) -> int:
        return len(self._keys)

    def check(self, ids: np.ndarray) -> None:
        """``ValueError`` naming the first window of ``ids`` [n, L] that is a window of D or the test split."""
        ids = np.asarray(ids, dtype=np.int64)
        if not len(self._keys) or not len(ids):
            return
        keys = content_keys(ids)
        at = np.minimum(np.searchsorted(self._keys, keys), len(self._keys) - 1)
        for i in np.flatnonzero(self._keys[at] == keys):
            j = at[i]
            while j < len(self._keys) and self._keys[j] == keys[i]:  # the key's rows: compare the tokens
                if np.array_equal(self._rows[j], ids[i]):
                    name = self.SPLITS[self._split[j]]
                    what = "the held-out set D" if name == "heldout" else "the test split"
                    raise ValueError(f"candidate {i} is a window of {what} (split {name!r}): candidates must be "
                                     "stream windows, never D or test windows")
                j += 1


class StreamedWindows:
    """The content keys of every window the env streamed this episode. A candidate a source proposes (or
    ``set_candidates`` gives) must be one of them: a source that reads the task's pools directly, or makes
    windows up, would train data no ``examples_streamed`` counted. Cleared at reset."""

    def __init__(self) -> None:
        self._keys: set[int] = set()

    def clear(self) -> None:
        self._keys.clear()

    def __len__(self) -> int:
        return len(self._keys)

    def keys(self) -> np.ndarray:
        """The recorded content keys, sorted [n] int64 (saved with the env state)."""
        return np.array(sorted(self._keys), dtype=np.int64)

    def replace(self, keys: np.ndarray) -> None:
        """Make ``keys`` the recorded windows (restoring a saved state)."""
        self._keys = set(np.asarray(keys, dtype=np.int64).tolist())

    def add(self, batch: Batch) -> Batch:
        """Record ``batch``'s windows as streamed; returns ``batch``."""
        self._keys.update(content_keys(batch.ids).tolist())
        return batch

    def check(self, ids: np.ndarray) -> None:
        """``ValueError`` naming the first window of ``ids`` [n, L] the env did not stream this episode."""
        for i, key in enumerate(content_keys(np.asarray(ids, dtype=np.int64)).tolist()):
            if key not in self._keys:
                raise ValueError(f"candidate {i} was not streamed this episode: candidates must be windows the "
                                 "env streamed (the fresh batch, or what draw() returned), so that "
                                 "examples_streamed counts every window an agent looked at")


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
