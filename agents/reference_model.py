"""A small reference language model that an agent trains on windows it is allowed to read, and its
per-window (and per-token) losses: RHO-LOSS's irreducible-loss model, and the soft-Q agent's reference on D.

:class:`ReferenceModel` is a tiny GPT-2 (the env's tokenizer, its own width and depth) trained with
AdamW on an array of windows. Everything is seeded: the initialisation runs inside
``torch.random.fork_rng`` seeded from ``seed`` (the global torch RNG is left as it was) and the
training batches are drawn by the numpy Generator the caller passes, so two agents built with the
same seed hold the same model.

**FLOPs** are counted the env's way (:class:`curriculum_env.flops.FlopModel`: 6·P per trained token,
2·P per forwarded one) and charged to the run through ``learner.add_flops``: the training at the first
:meth:`losses` call after :meth:`fit` (the env zeroes its counters at ``reset``, after the agent's
``setup``), every forward when it runs. Losses are cached keyed by the window's token bytes, so no
window is forwarded twice.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from curriculum_env.config_rules import positive_int
from curriculum_env.flops import FlopModel
from curriculum_env.models import gpt2_model, token_nll


def window_losses(model: torch.nn.Module, ids: torch.Tensor) -> torch.Tensor:
    """Per-window mean next-token cross-entropy [B] of ``ids`` [B, L] (the env's ``loss`` definition)."""
    return token_nll(model(input_ids=ids).logits, ids).mean(-1)


class ReferenceModel:
    """A tiny GPT-2 trained on given windows; :meth:`losses` gives its cached per-window loss."""

    def __init__(self, n_layer: int = 1, n_head: int = 2, n_embd: int = 32, steps: int = 200,
                 batch_size: int = 16, lr: float = 3e-3, cache_size: int = 200_000):
        try:
            positive_int(n_layer=n_layer, n_head=n_head, n_embd=n_embd, steps=steps, batch_size=batch_size,
                         cache_size=cache_size)
        except ValueError as exc:
            raise ValueError(f"reference model: {exc}") from None
        if n_embd % n_head:
            raise ValueError(f"reference model: n_embd ({n_embd}) must be divisible by n_head ({n_head})")
        if not lr > 0:
            raise ValueError(f"reference model: lr must be > 0, got {lr!r}")
        self.shape = dict(n_layer=n_layer, n_head=n_head, n_embd=n_embd)
        self.steps, self.batch_size, self.lr, self.cache_size = steps, batch_size, lr, cache_size
        self.model: torch.nn.Module | None = None
        self.flops: FlopModel | None = None
        self.cache: dict[bytes, float] = {}
        self.token_cache: dict[bytes, np.ndarray] = {}  # per-token losses [L-1] of the same windows
        self.train_loss = float("nan")
        self.pending_flops = 0.0  # training FLOPs not yet charged to a learner
        self.forwarded = 0  # windows forwarded by the last losses() call
        self.last_keys: list[bytes] = []  # the cache keys of the windows of the last losses() call

    def fit(self, windows: np.ndarray, tokenizer: Any, seed: int, rng: np.random.Generator,
            start: torch.nn.Module | None = None, lr: float | None = None) -> None:
        """Initialise from ``seed`` (or start from ``start``, a pretrained LM it then owns, instead of the tiny
        random GPT-2) and train ``steps`` AdamW steps at ``lr`` (default: the model's own) on batches of
        ``windows`` [H, L] drawn with ``rng``; clears the cache."""
        data = torch.from_numpy(np.array(windows, dtype=np.int64))  # a writable copy
        if data.ndim != 2 or not len(data):
            raise ValueError(f"reference model: need windows [H, L] with H >= 1, got shape {tuple(data.shape)}")
        if start is not None:
            model = start.float()
        else:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                model = gpt2_model(len(tokenizer), data.shape[1], tokenizer.eos_token_id, attn_implementation=None,
                                   **self.shape)
        optimizer = torch.optim.AdamW(model.parameters(), lr=self.lr if lr is None else lr)
        model.train()
        self.flops = FlopModel(model)
        self.pending_flops = 0.0
        for _ in range(self.steps):
            batch = data[rng.choice(len(data), size=min(self.batch_size, len(data)), replace=False)]
            self.pending_flops += self.flops.train(batch.numel())
            loss = window_losses(model, batch).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            self.train_loss = float(loss.detach())
        self.model = model.eval()
        self.cache, self.token_cache = {}, {}

    @torch.no_grad()
    def losses(self, token_ids: np.ndarray, learner: Any = None) -> np.ndarray:
        """The reference loss [N] of windows ``token_ids`` [N, L]; only windows not cached are forwarded.
        ``learner`` (the env's): where the FLOPs are charged (its ``add_flops``)."""
        if self.model is None:
            raise RuntimeError("reference model: fit() must run before losses()")
        ids = np.ascontiguousarray(token_ids, dtype=np.int64)
        keys = [row.tobytes() for row in ids]
        missing = [i for i, k in enumerate(keys) if k not in self.cache]
        if learner is not None:
            learner.add_flops(self.pending_flops + self.flops.forward(len(missing) * ids.shape[1]))
            self.pending_flops = 0.0
        if missing:
            x = torch.from_numpy(ids[missing])
            tokens = token_nll(self.model(input_ids=x).logits, x)  # [m, L-1]
            values = tokens.mean(-1).numpy()  # window_losses' numbers, bit for bit
            for i, value, row in zip(missing, values, tokens.numpy(), strict=True):
                self.cache[keys[i]] = float(value)
                self.token_cache[keys[i]] = row.copy()
            while len(self.cache) > self.cache_size:  # the oldest window first, from both caches
                oldest = next(iter(self.cache))
                del self.cache[oldest], self.token_cache[oldest]
        self.forwarded = len(missing)
        self.last_keys = keys
        return np.array([self.cache[k] for k in keys])

    def token_losses(self, token_ids: np.ndarray, learner: Any = None) -> np.ndarray:
        """The reference's per-token loss [N, L-1] of windows ``token_ids`` [N, L] (their :meth:`losses` are its
        means); forwards, and charges, only the windows not cached."""
        self.losses(token_ids, learner)
        return np.stack([self.token_cache[k] for k in self.last_keys])

    def state_dict(self) -> dict[str, Any]:
        return {"model": None if self.model is None else self.model.state_dict(), "pending_flops": self.pending_flops}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` output into a model already built by :meth:`fit`; clears the cache."""
        self.pending_flops = float(state.get("pending_flops", 0.0))
        if state.get("model") is not None and self.model is not None:
            self.model.load_state_dict(state["model"])
            self.cache, self.token_cache = {}, {}
