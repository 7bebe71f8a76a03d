"""How good is a per-candidate signal as a selection rule? Rankers that train the top B by one signal.

A learned Q can at best amortise the signal it is trained on, so ranking by the signal itself, every
step, bounds what that credit can give. Each ranker is an agent of the harness (no learning):

- ``SimilarityRanker`` / ``PooledSimilarityRanker``: cosine similarity of the candidate's hidden state
  (final token / mean over positions) to the mean of 64 held-out windows' (one body forward of them);
- ``InfluenceRanker`` / ``AdamInfluenceRanker`` / ``CosineInfluenceRanker``: exact first-order influence
  on 16 held-out windows, <g_D, g_x> (raw, Adam-preconditioned <g_D, g_x / sqrt(v)>, or cosine of the
  preconditioned gradients), one backward per candidate -- the env's ``influence`` probe every step;
- ``LossLevelRanker``: -|loss(x) - loss(D-hat)|, the held-out loss level read from the last reward;
- ``MeasuredGainRanker``: the measured drop of 16 held-out windows' loss after one real update on the
  candidate alone (restored after each probe).

    python -m benchmarks.compare --tasks noisy,mixed --seeds 3 --agents random,oracle,\\
        studies.signal_rankers:SimilarityRanker,studies.signal_rankers:InfluenceRanker

The held-out windows come from the env's D (the reward set), drawn with the ranker's own generator.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch

from agents.base import train_budget
from agents.scoring import BaselineAgent, ModeConfig


class _Ranker(BaselineAgent):
    """Top-B (B = the env's budget, 1 without one) by ``signal(obs, info)``; draws D samples from ``self.rng``."""

    config_class = ModeConfig
    stats: tuple[str, ...] = ()

    def setup(self, env: gym.Env, seed: int) -> None:
        super().setup(env, seed)
        self.env = env.unwrapped
        self.budget = train_budget(env) or 1

    def heldout(self, size: int) -> np.ndarray:
        return self.env.data.heldout.sample(self.rng, size)

    def signal(self, obs: np.ndarray, info: dict[str, Any]) -> np.ndarray:
        raise NotImplementedError

    def act(self, obs: np.ndarray, info: dict[str, Any]) -> Any:
        self._obs = obs
        return super().act(obs, info)

    def choose(self, info: dict[str, Any]) -> tuple[Any, np.ndarray]:
        score = np.asarray(self.signal(self._obs, info), dtype=np.float64)  # [N]
        w = np.zeros(len(score), dtype=np.float32)
        w[np.argsort(-score, kind="stable")[: self.budget]] = 1.0
        return w, w / w.sum()


class SimilarityRanker(_Ranker):
    """Cosine similarity of the final-token hidden state to the held-out mean."""

    name = "similarity"

    def features(self, ids: np.ndarray, obs: np.ndarray | None) -> torch.Tensor:
        if obs is not None:
            return torch.as_tensor(obs)
        return self.env.learner.hidden(input_ids=ids).float()

    def signal(self, obs, info):
        centre = self.features(self.heldout(64), None).mean(0)
        h = self.features(info["token_ids"], obs)
        return torch.nn.functional.cosine_similarity(h, centre[None], dim=-1).numpy()


class PooledSimilarityRanker(SimilarityRanker):
    """Cosine similarity of the mean-pooled last-layer hidden states to the held-out mean."""

    name = "similarity_pooled"

    def features(self, ids, obs):
        with torch.no_grad():
            return self.env.learner.body_states(torch.as_tensor(ids)).float().mean(1)


class InfluenceRanker(_Ranker):
    """Exact first-order influence <g_D, P g_x> (P = identity here)."""

    name = "influence"

    def grad(self, ids: np.ndarray) -> torch.Tensor:
        return self.env.learner.gradient(ids)

    def precondition(self) -> torch.Tensor | None:
        return None

    def signal(self, obs, info):
        g_d = self.grad(self.heldout(16))
        p = self.precondition()
        out = []
        for ids in info["token_ids"]:
            g = self.grad(ids[None])
            g = g if p is None else g * p
            out.append(self.combine(g_d, g, p))
        return np.array(out)

    def combine(self, g_d: torch.Tensor, g: torch.Tensor, p: torch.Tensor | None) -> float:
        return float(g_d @ g)


class AdamInfluenceRanker(InfluenceRanker):
    """Influence under Adam's preconditioner: <g_D, g_x / (sqrt(v) + eps)> (LESS-style)."""

    name = "influence_adam"

    def precondition(self):
        opt = self.env.learner.optimizer
        parts = []
        for p in self.env.learner.model.parameters():
            v = opt.state.get(p, {}).get("exp_avg_sq")
            parts.append(torch.ones(p.numel()) if v is None else 1.0 / (v.reshape(-1).sqrt() + 1e-8))
        return torch.cat(parts)


class CosineInfluenceRanker(AdamInfluenceRanker):
    """Cosine of the Adam-preconditioned candidate gradient with the held-out gradient."""

    name = "influence_cosine"

    def combine(self, g_d, g, p):
        return float(g_d @ g) / float(g.norm() * (g_d * p.sqrt()).norm() + 1e-12)


class LossLevelRanker(_Ranker):
    """-|loss(x) - loss(D-hat)|: windows the LM finds as hard as the held-out set (its level = -reward)."""

    name = "loss_level"
    stats = ("loss",)

    def setup(self, env, seed):
        super().setup(env, seed)
        self.level: float | None = None

    def signal(self, obs, info):
        loss = np.asarray(info["loss"], dtype=np.float64)
        return -np.abs(loss - (self.level if self.level is not None else float(np.median(loss))))

    def observe(self, reward, obs, info, terminated, truncated):
        self.level = -float(reward)


class MeasuredGainRanker(_Ranker):
    """Measured one-step gain: for each candidate, one real env update (AdamW from the live optimizer
    state, clipping) on it alone, then the drop of the loss of 16 held-out windows; theta and the optimizer
    are restored after each probe (MATES's probe, not a first-order estimate)."""

    name = "measured_gain"

    def signal(self, obs, info):
        return self.env.learner.measured_gain(info["token_ids"], self.heldout(16))
