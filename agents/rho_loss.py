"""RHO-LOSS (Mindermann et al., 2022): prioritise the candidates with the highest *reducible* loss.

    reducible(x) = L(x; theta_k) - IL(x),   IL(x) = loss of x under a small "irreducible loss" model

**FLOPs** (charged to the run through ``env.unwrapped.learner.add_flops``, counted like the env's:
:class:`curriculum_env.flops.FlopModel`): training the IL model in :meth:`RhoLossAgent.setup`
(``il_steps`` x ``il_batch_size`` windows, 6·P_IL per token; charged at the first step, as the env
zeroes its counters at ``reset``) and one IL forward (2·P_IL per token) of every window not cached.

``L(x; theta_k)`` is ``info["loss"]`` (from the env's own forward). The IL model is a small GPT-2
(same tokenizer, its own tiny config) trained in :meth:`RhoLossAgent.setup` on a holdout slice the
agent reserves: ``holdout_windows`` windows drawn (with a Generator seeded from ``seed``) from
``env.unwrapped.data.stream_pools[target]`` for each target label of the task. Those pools are the
training stream's target-domain windows, disjoint by construction of the task data from the reward
set D and from the test split, so the IL model never sees what the env rewards or reports on. (The
env still streams the reserved windows; with thousands of target windows per pool a reserved one is
rarely a candidate.)

Cost: scoring a candidate with the IL model is a forward of the *small IL model*, not of the env's
LM; the env's LM runs no extra forward. IL losses are cached keyed by the window's token bytes, so no
window is ever scored twice. Initialisation and training happen inside ``torch.random.fork_rng``
seeded from ``seed``: the global torch RNG is left as it was. The agent asks the env for the loss
alone (``env_kwargs``: ``candidate_stats=("loss",)``).

**Training budget.** Under the env's ``train_batch=B`` the hard variant trains the B candidates of
highest reducible loss (``top_k`` defaults to B in mixture mode) -- the paper's protocol: select the
top ``n_b`` of a large batch ``n_B`` by reducible loss and train on them.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from agents._scoring import ScoreAgent, ScoreConfig
from agents.base import candidate_stat
from curriculum_env.flops import FlopModel
from curriculum_env.learner import token_nll


@dataclass
class RhoLossConfig(ScoreConfig):
    """Options of :class:`RhoLossAgent` (plus ``action_mode``, ``soft``, ``temperature``)."""

    holdout_windows: int = 512
    """Target-domain windows per target label reserved to train the IL model."""
    il_steps: int = 200
    """AdamW steps of IL-model training in ``setup``."""
    il_batch_size: int = 16
    """Windows per IL training step."""
    il_lr: float = 3e-3
    """IL-model learning rate."""
    il_n_layer: int = 1
    """Transformer blocks of the IL GPT-2."""
    il_n_head: int = 2
    """Attention heads of the IL GPT-2."""
    il_n_embd: int = 32
    """Hidden size of the IL GPT-2."""
    cache_size: int = 200_000
    """Most IL losses kept in the cache (oldest dropped first)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("holdout_windows", "il_steps", "il_batch_size", "il_n_layer", "il_n_head", "il_n_embd",
                     "cache_size"):
            value = getattr(self, name)
            if not (isinstance(value, int) and value >= 1):
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.il_n_embd % self.il_n_head:
            raise ValueError(f"il_n_embd ({self.il_n_embd}) must be divisible by il_n_head ({self.il_n_head})")
        if not self.il_lr > 0:
            raise ValueError(f"il_lr must be > 0, got {self.il_lr!r}")


def window_losses(model: torch.nn.Module, ids: torch.Tensor) -> torch.Tensor:
    """Per-window mean next-token cross-entropy [B] of ``ids`` [B, L] (the env's ``loss`` definition)."""
    return token_nll(model(input_ids=ids).logits, ids).mean(-1)


class RhoLossAgent(ScoreAgent):
    """Rank candidates by reducible loss ``info["loss"] - IL``; hard top-k (B under a budget) or soft Boltzmann."""

    name = "rho_loss"
    config_class = RhoLossConfig
    stats = ("loss",)

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.il_model: torch.nn.Module | None = None
        self.cache: dict[bytes, float] = {}
        self.il_train_loss = float("nan")
        self.setup_time = 0.0
        self.learner = None  # env.unwrapped.learner: where the IL model's FLOPs are charged
        self.il_flops: FlopModel | None = None
        self._setup_flops = 0.0  # IL training, charged at the first step (the env's reset zeroes its counters)

    # ------------------------------------------------------------------------ the IL model
    def _holdout(self, env: gym.Env, rng: np.random.Generator) -> np.ndarray:
        data = env.unwrapped.data
        rows = []
        for label in data.task.target_labels:
            pool = data.stream_pools.get(label)
            if pool is None or len(pool) == 0:
                raise ValueError(f"RHO-LOSS needs target-domain windows: the stream has no pool {label!r}")
            k = min(self.config.holdout_windows, len(pool))
            rows.append(pool.ids[rng.choice(len(pool), size=k, replace=False)])
        return np.concatenate(rows)  # [H, L]

    def _train_il_model(self, env: gym.Env, seed: int) -> None:
        from transformers import GPT2Config, GPT2LMHeadModel

        cfg = self.config
        rng = np.random.default_rng(seed)
        holdout = torch.from_numpy(self._holdout(env, rng))  # [H, L]
        tokenizer = env.unwrapped.data.tokenizer
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = GPT2LMHeadModel(GPT2Config(
                vocab_size=len(tokenizer), n_positions=holdout.shape[1], n_embd=cfg.il_n_embd,
                n_layer=cfg.il_n_layer, n_head=cfg.il_n_head, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id))
        optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.il_lr)
        model.train()
        self.il_flops = FlopModel(model)
        self._setup_flops = 0.0
        for _ in range(cfg.il_steps):
            batch = holdout[rng.choice(len(holdout), size=min(cfg.il_batch_size, len(holdout)), replace=False)]
            self._setup_flops += self.il_flops.train(batch.numel())
            loss = window_losses(model, batch).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            self.il_train_loss = float(loss.detach())
        self.il_model = model.eval()

    def setup(self, env: gym.Env, seed: int) -> None:
        super().setup(env, seed)
        self.learner = env.unwrapped.learner
        t0 = time.perf_counter()
        self.cache = {}
        self._train_il_model(env, seed)
        self.setup_time = time.perf_counter() - t0

    @torch.no_grad()
    def irreducible_loss(self, token_ids: np.ndarray) -> np.ndarray:
        """IL [N] of windows ``token_ids`` [N, L]; only windows not already cached are forwarded."""
        if self.il_model is None:
            raise RuntimeError("RhoLossAgent.setup(env, seed) must run before scoring")
        ids = np.ascontiguousarray(token_ids, dtype=np.int64)
        keys = [row.tobytes() for row in ids]
        missing = [i for i, k in enumerate(keys) if k not in self.cache]
        if self.learner is not None:
            self.learner.add_flops(self._setup_flops + self.il_flops.forward(len(missing) * ids.shape[1]))
            self._setup_flops = 0.0
        if missing:
            losses = window_losses(self.il_model, torch.from_numpy(ids[missing])).numpy()
            for i, value in zip(missing, losses, strict=True):
                self.cache[keys[i]] = float(value)
            while len(self.cache) > self.config.cache_size:
                self.cache.pop(next(iter(self.cache)))
        self._metrics["rho/il_forwarded"] = float(len(missing))
        return np.array([self.cache[k] for k in keys])

    # ------------------------------------------------------------------------ ranking
    def score(self, info: dict[str, Any]) -> np.ndarray:
        il = self.irreducible_loss(info["token_ids"])  # [N]
        reducible = np.asarray(candidate_stat(info, "loss"), dtype=np.float64) - il  # [N]
        self._metrics.update({"rho/il_mean": float(il.mean()), "rho/reducible_max": float(reducible.max())})
        return reducible

    def state_dict(self) -> dict[str, Any]:
        return {"config": asdict(self.config), "rng": self.rng.bit_generator.state, "setup_flops": self._setup_flops,
                "il_model": None if self.il_model is None else self.il_model.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self._setup_flops = float(state.get("setup_flops", 0.0))
        if state.get("il_model") is not None and self.il_model is not None:
            self.il_model.load_state_dict(state["il_model"])
            self.cache = {}
