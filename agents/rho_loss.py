"""RHO-LOSS (Mindermann et al., 2022): prioritise the candidates with the highest *reducible* loss.

    reducible(x) = L(x; theta_k) - IL(x),   IL(x) = loss of x under a small "irreducible loss" model

**FLOPs** (charged to the run through ``env.unwrapped.learner.add_flops``, counted like the env's:
:class:`curriculum_env.flops.FlopModel`): training the IL model in :meth:`RhoLossAgent.setup`
(``il_steps`` x ``il_batch_size`` windows, 6·P_IL per token; charged at the first step, as the env
zeroes its counters at ``reset``) and one IL forward (2·P_IL per token) of every window not cached.

``L(x; theta_k)`` is ``info["loss"]`` (from the env's own forward). The IL model is a small GPT-2
(same tokenizer, its own tiny config) -- or, in a run that starts from a pretrained LM, that LM (``il_init``)
-- trained in :meth:`RhoLossAgent.setup` on the data ``il_data`` names:

- ``"heldout"`` (the default, and RHO-LOSS as the paper runs it: the IL model is trained on the holdout
  data one cares about): the env's held-out set D (``env.unwrapped.data.heldout``), which already feeds
  the reward and which the soft-Q agent's reference reads. No source label is read.
- ``"labelled"`` (the ``rho_loss_labelled`` row): ``holdout_windows`` stream windows drawn for each
  target label of the task from ``env.unwrapped.data.stream_pools[target]`` -- twice D's data, picked by
  source labels no deployable agent has. A reference row, like the oracle: reported, never ranked among
  agents. The pools are disjoint by construction from D and from the test split; the env still streams
  the reserved windows (with thousands of target windows per pool a reserved one is rarely a candidate).

Either way the IL model never sees the test split. Scoring a candidate with the IL model is a forward of the
*small IL model*, not of the env's LM; the env's LM runs no extra forward. IL losses are cached keyed by the
window's token bytes, so no window is ever scored twice. Initialisation and training happen inside
``torch.random.fork_rng`` seeded from ``seed``: the global torch RNG is left as it was. The agent asks the
env for the loss alone (``env_kwargs``: ``candidate_stats=("loss",)``).

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

from agents.base import candidate_stat
from agents.reference_model import ReferenceModel, window_losses  # noqa: F401 (window_losses: re-export)
from agents.scoring import ScoreAgent, ScoreConfig
from curriculum_env.config_rules import positive_int, refuse_moot

IL_DATA = ("heldout", "labelled")
IL_INITS = ("auto", "random")


@dataclass
class RhoLossConfig(ScoreConfig):
    """Options of :class:`RhoLossAgent` (plus ``action_mode``, ``soft``, ``temperature``)."""

    il_data: str = "heldout"
    """What the IL model trains on: ``heldout`` (the env's D) or ``labelled`` (stream windows of the target
    labels: reads source labels, a reference row)."""
    holdout_windows: int = 512
    """``il_data="labelled"``: target-domain windows per target label reserved to train the IL model."""
    il_steps: int = 200
    """AdamW steps of IL-model training in ``setup``."""
    il_batch_size: int = 16
    """Windows per IL training step."""
    il_lr: float = 3e-3
    """IL-model learning rate."""
    il_init: str = "auto"
    """Where the IL model starts: ``auto`` -- from the LM the run starts from when that is pretrained
    (``init="base"`` or ``model=``: continued pre-training, where a reference trained from scratch on D knows
    less than the learner already does; Rho-1, Lin et al. 2024, fine-tune the reference from the base model),
    fine-tuned at the run's LR, and from a tiny random GPT-2 (``il_n_*``, ``il_lr``) otherwise; ``random``
    -- always the tiny random GPT-2."""
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
        positive_int(**{name: getattr(self, name) for name in ("holdout_windows", "il_steps", "il_batch_size",
                                                                "il_n_layer", "il_n_head", "il_n_embd", "cache_size")})
        if self.il_data not in IL_DATA:
            raise ValueError(f"il_data must be one of {IL_DATA}, got {self.il_data!r}")
        if self.il_init not in IL_INITS:
            raise ValueError(f"il_init must be one of {IL_INITS}, got {self.il_init!r}")
        refuse_moot(self, [("holdout_windows", self.il_data == "labelled", f"il_data={self.il_data!r}")])
        if self.il_n_embd % self.il_n_head:
            raise ValueError(f"il_n_embd ({self.il_n_embd}) must be divisible by il_n_head ({self.il_n_head})")
        if not self.il_lr > 0:
            raise ValueError(f"il_lr must be > 0, got {self.il_lr!r}")


class RhoLossAgent(ScoreAgent):
    """Rank candidates by reducible loss ``info["loss"] - IL``; hard top-k (B under a budget) or soft Boltzmann."""

    name = "rho_loss"
    config_class = RhoLossConfig
    stats = ("loss",)

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        c = self.config
        self.reference = ReferenceModel(c.il_n_layer, c.il_n_head, c.il_n_embd, c.il_steps, c.il_batch_size,
                                        c.il_lr, c.cache_size)
        self.setup_time = 0.0
        self.learner = None  # env.unwrapped.learner: where the IL model's FLOPs are charged

    @property
    def reads_labels(self) -> str | None:
        """``"reference"`` when the IL data are picked by source label (a reference row), else ``None``."""
        return "reference" if self.config.il_data == "labelled" else None

    @property
    def il_model(self) -> torch.nn.Module | None:
        """The trained IL model (``None`` before :meth:`setup`)."""
        return self.reference.model

    # ------------------------------------------------------------------------ the IL model
    def il_windows(self, env: gym.Env, rng: np.random.Generator) -> np.ndarray:
        """The windows the IL model trains on [H, L]: D, or (``il_data="labelled"``) :meth:`reserve_holdout`'s."""
        if self.config.il_data == "heldout":
            return env.unwrapped.data.heldout.ids
        return self.reserve_holdout(env, rng)

    def reserve_holdout(self, env: gym.Env, rng: np.random.Generator) -> np.ndarray:
        """Target-domain windows of the stream pools, picked by source label (never D or the test split)."""
        data = env.unwrapped.data
        rows = []
        for label in data.task.target_labels:
            pool = data.stream_pools.get(label)
            if pool is None or len(pool) == 0:
                raise ValueError(f"RHO-LOSS needs target-domain windows: the stream has no pool {label!r}")
            k = min(self.config.holdout_windows, len(pool))
            rows.append(pool.ids[rng.choice(len(pool), size=k, replace=False)])
        return np.concatenate(rows)  # [H, L]

    def setup(self, env: gym.Env, seed: int) -> None:
        super().setup(env, seed)
        self.learner = env.unwrapped.learner
        t0 = time.perf_counter()
        rng = np.random.default_rng(seed)
        start = self.learner.pretrained_start() if self.config.il_init == "auto" else None
        self.reference.fit(self.il_windows(env, rng), env.unwrapped.data.tokenizer, seed, rng, start=start,
                           lr=None if start is None else env.unwrapped.config.lr)
        self.setup_time = time.perf_counter() - t0

    def irreducible_loss(self, token_ids: np.ndarray) -> np.ndarray:
        """IL [N] of windows ``token_ids`` [N, L]; only windows not already cached are forwarded."""
        if self.il_model is None:
            raise RuntimeError("RhoLossAgent.setup(env, seed) must run before scoring")
        il = self.reference.losses(token_ids, self.learner)
        self._metrics["rho/il_forwarded"] = float(self.reference.forwarded)
        return il

    # ------------------------------------------------------------------------ ranking
    def score(self, info: dict[str, Any]) -> np.ndarray:
        il = self.irreducible_loss(info["token_ids"])  # [N]
        reducible = np.asarray(candidate_stat(info, "loss"), dtype=np.float64) - il  # [N]
        self._metrics.update({"rho/il_mean": float(il.mean()), "rho/reducible_max": float(reducible.max())})
        return reducible

    def state_dict(self) -> dict[str, Any]:
        ref = self.reference.state_dict()
        return {"config": asdict(self.config), "rng": self.rng.bit_generator.state,
                "setup_flops": ref["pending_flops"], "il_model": ref["model"]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.reference.load_state_dict({"model": state.get("il_model"), "pending_flops": state.get("setup_flops", 0.0)})
