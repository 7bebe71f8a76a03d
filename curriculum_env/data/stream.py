"""The candidate stream: N fresh windows per step, each window at most once per epoch of its source."""

from __future__ import annotations

import numpy as np

from curriculum_env.data.tasks import TaskData
from curriculum_env.data.windows import WindowPool

Batch = WindowPool
"""One step's candidates: a pool of N windows (ids [N, L], and per window its source label and difficulty
scores) -- the same record as a source's pool of windows."""


class CandidateStream:
    """Draws candidate batches from a task's stream pools with its own generator.

    Each candidate's source is drawn from the task's mixture weights; within a source, windows come
    in a random order without replacement. When a source's pool is exhausted a new epoch of it
    starts with a fresh permutation (``epochs`` counts them), so a window is streamed at most once
    per epoch. In a needle task every batch holds the needle at a random slot and N-1 fillers.
    The stream never reads the env's generator, so every agent sees the same stream for a seed.
    """

    def __init__(self, data: TaskData, num_candidates: int, rng: np.random.Generator):
        self.data = data
        self.n = num_candidates
        self.rng = rng
        self.labels = list(data.stream_pools)
        weights = np.array([data.weights[k] for k in self.labels], dtype=np.float64)
        self.probs = weights / weights.sum() if weights.sum() > 0 else None
        self.order = {k: rng.permutation(len(p)) for k, p in data.stream_pools.items()}
        self.pos = {k: 0 for k in self.labels}
        self.epochs = {k: 0 for k in self.labels}
        self.examples_streamed = 0

    def _take(self, label: str, count: int) -> np.ndarray:
        out = []
        pool_size = len(self.data.stream_pools[label])
        while count:
            if self.pos[label] == pool_size:
                self.order[label] = self.rng.permutation(pool_size)
                self.pos[label] = 0
                self.epochs[label] += 1
            k = min(count, pool_size - self.pos[label])
            out.append(self.order[label][self.pos[label] : self.pos[label] + k])
            self.pos[label] += k
            count -= k
        return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)

    def next_batch(self) -> Batch:
        """The next N candidates."""
        if self.data.task.needle:
            slot_labels = np.array([k for k in self.labels if k != "needle"] * self.n, dtype=object)[: self.n]
            slot_labels[int(self.rng.integers(self.n))] = "needle"
        else:
            slot_labels = np.asarray(self.labels, dtype=object)[self.rng.choice(len(self.labels), self.n, p=self.probs)]
        L = self.data.heldout.ids.shape[1]
        ids = np.empty((self.n, L), dtype=np.int64)
        rarity = np.empty(self.n, dtype=np.float32)
        length = np.empty(self.n, dtype=np.float32)
        for label in self.labels:
            slots = np.flatnonzero(slot_labels == label)
            if len(slots):
                pool = self.data.stream_pools[label]
                idx = self._take(label, len(slots))
                ids[slots], rarity[slots], length[slots] = pool.ids[idx], pool.rarity[idx], pool.length[idx]
        self.examples_streamed += self.n
        return Batch(ids, slot_labels, rarity, length)

    def state_dict(self) -> dict:
        """Everything needed to continue the stream exactly (numpy arrays, ints, the rng state)."""
        return {
            "rng": self.rng.bit_generator.state,
            "order": {k: v.copy() for k, v in self.order.items()},
            "pos": dict(self.pos),
            "epochs": dict(self.epochs),
            "examples_streamed": self.examples_streamed,
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict` output (validated against this stream's pools first)."""
        order = {k: np.asarray(v, dtype=np.int64) for k, v in state["order"].items()}
        if set(order) != set(self.labels) or any(len(order[k]) != len(self.data.stream_pools[k]) for k in order):
            raise ValueError("stream state does not match this task's pools (different task or data?)")
        self.rng.bit_generator.state = state["rng"]
        self.order = order
        self.pos = {k: int(v) for k, v in state["pos"].items()}
        self.epochs = {k: int(v) for k, v in state["epochs"].items()}
        self.examples_streamed = int(state["examples_streamed"])
