"""ODM (Albalak et al., 2023, *Efficient Online Data Mixing for Language Model Pre-Training*): an EXP3
bandit over the stream's source labels whose reward is the training loss -- train more of the sources
the LM still finds hard. **It reads source labels** (``info["source"]``, learned online as they appear),
**never which is the target**: ``reads_labels = "source"``, so the benchmark marks its rows.

The arms are the K source labels seen so far (a new label joins with ``R_hat = 0``). At step t (ODM's
Algorithm 1, with t counting this agent's steps):

    eps_t    = min(1/K, sqrt(ln K / (K t)))                                   exploration rate (eps_0 = 1/K)
    pi_t(j)  = (1 - K eps_t) softmax(eps_{t-1} R_hat)_j + eps_t               the mixing distribution
    R_hat_j <- alpha R_hat_j + (1 - alpha) L_j / pi_t(j)    for each source j trained at step t

``L_j`` is the mean training loss of the windows of source j trained this step (``info["trained_loss"]``,
free from the env's training forward), importance-weighted by ``1/pi_t(j)`` as in EXP3; ``alpha`` is
ODM's smoothing (a moving average of the estimated reward in place of EXP3's running sum, so old losses
fade as the model learns); sources not trained keep their estimate. With ``eps = K eps_t`` and
``w = eps_{t-1} R_hat`` this is the textbook EXP3 mix ``(1 - eps) softmax(w) + eps/K``; ``eps_{t-1}``
plays EXP3's learning rate.

**Choosing the B trained windows** (B = the env's ``train_batch``; the paper samples each sequence of a
batch from ``pi``): B draws, each a source from ``pi_t`` restricted to the sources with candidates left
(renormalised), then a candidate of that source uniformly at random, without replacement; the action
puts weight 1/B on the B drawn. ``select`` mode draws one (the env fills the other B - 1 at random, and
only the drawn one feeds the reward). Without a budget the mixture is ``pi_t`` spread evenly over each
source's candidates (renormalised over the sources present). Every draw comes from the agent's generator.

It reads no LM output beyond the free ``trained_loss`` (``env_kwargs``: no statistic, no reward, no
observation).

**FLOPs** (2 per multiply-add, charged to ``agent``): per step 5K for ``pi_t`` (scale, exp, sum, divide,
mix) and, after the step, one add per trained window's loss plus 4 per trained source (mean, 1/pi,
the two-term average): 5K + B + 4 per trained source per step. FLOPs x plain training ≈ 1.00.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from agents.scoring import BaselineAgent, ModeConfig


@dataclass
class ODMConfig(ModeConfig):
    """Options of :class:`ODMAgent` (plus ``action_mode``)."""

    alpha: float = 0.9
    """Smoothing of the estimated reward: ``R_hat <- alpha R_hat + (1 - alpha) L / pi`` (ODM's default 0.9)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if not (isinstance(self.alpha, (int, float)) and 0 <= self.alpha < 1):
            raise ValueError(f"alpha must be a number in [0, 1), got {self.alpha!r}")


def exploration(k: int, t: int) -> float:
    """``eps_t = min(1/K, sqrt(ln K / (K t)))``, with ``eps_0 = 1/K``."""
    return 1.0 / k if t == 0 else min(1.0 / k, math.sqrt(math.log(k) / (k * t)))


def mixing_distribution(estimated_reward: np.ndarray, t: int) -> np.ndarray:
    """``pi_t`` [K] of ODM for the estimated rewards ``R_hat`` [K] at step t >= 1."""
    k = len(estimated_reward)
    eps, eps_prev = exploration(k, t), exploration(k, t - 1)
    z = eps_prev * np.asarray(estimated_reward, dtype=np.float64)
    soft = np.exp(z - z.max())
    return (1.0 - k * eps) * soft / soft.sum() + eps


class ODMAgent(BaselineAgent):
    """EXP3 over source labels, rewarded by each source's importance-weighted training loss (ODM)."""

    name = "odm"
    config_class = ODMConfig
    reads_labels = "source"  # reads info["source"], never which source is the target

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.learner: Any = None
        self.labels: list[str] = []  # the sources seen so far, in order of first appearance
        self.estimated_reward = np.zeros(0)  # [K] R_hat
        self.t = 0  # steps taken
        self.pi = np.zeros(0)  # [K] pi_t of the last act
        self.drawn = np.zeros(0, dtype=np.int64)  # candidates drawn by the last act (the reward reads these)
        self.pending_flops = 0.0

    def setup(self, env: gym.Env, seed: int) -> None:
        super().setup(env, seed)
        self.learner = getattr(env.unwrapped, "learner", None)
        self.labels, self.estimated_reward, self.t = [], np.zeros(0), 0
        self.pi, self.drawn, self.pending_flops = np.zeros(0), np.zeros(0, dtype=np.int64), 0.0

    def arms(self, sources: np.ndarray) -> np.ndarray:
        """The arm index [N] of each candidate's source, adding labels not seen before (``R_hat = 0``)."""
        for label in sources:
            if label not in self.labels:
                self.labels.append(str(label))
                self.estimated_reward = np.append(self.estimated_reward, 0.0)
        index = {label: j for j, label in enumerate(self.labels)}
        return np.array([index[str(label)] for label in sources], dtype=np.int64)

    def draw(self, arm: np.ndarray, count: int) -> np.ndarray:
        """``count`` distinct candidates: each a source from ``pi`` restricted to sources with candidates left,
        then one of its remaining candidates uniformly."""
        left = np.ones(len(arm), dtype=bool)
        drawn = []
        for _ in range(count):
            present = np.unique(arm[left])  # [k'] sources with candidates left
            q = self.pi[present] / self.pi[present].sum()
            source = present[self.rng.choice(len(present), p=q)]
            pick = int(self.rng.choice(np.flatnonzero(left & (arm == source))))
            drawn.append(pick)
            left[pick] = False
        return np.array(drawn, dtype=np.int64)

    def choose(self, info: dict[str, Any]) -> tuple[Any, np.ndarray]:
        arm = self.arms(np.asarray(info["source"]))  # [N]
        self.t += 1
        self.pi = mixing_distribution(self.estimated_reward, self.t)  # [K]
        self.charge(5 * len(self.pi))
        # the distribution over candidates: pi over the sources present, spread evenly over each one's candidates
        present = np.bincount(arm, minlength=len(self.pi))  # [K] candidates per source
        probs = self.pi[arm] / present[arm]
        probs /= probs.sum()  # [N]
        if self.action_mode == "select":
            self.drawn = self.draw(arm, 1)
            action: Any = int(self.drawn[0])
        elif self.budget is None:
            self.drawn = np.arange(len(arm))
            action = probs.astype(np.float32)
        else:
            self.drawn = self.draw(arm, min(self.budget, len(arm)))
            action = np.zeros(len(arm), dtype=np.float32)
            action[self.drawn] = 1.0 / len(self.drawn)
        self._metrics.update({"odm/eps": exploration(len(self.pi), self.t), "odm/sources": float(len(self.pi)),
                              "odm/pi_max": float(self.pi.max()),
                              **{f"odm/pi/{label}": float(p) for label, p in zip(self.labels, self.pi, strict=True)}})
        if self.learner is not None:
            self.learner.add_flops(self.pending_flops, "agent")
            self.pending_flops = 0.0
        return action, probs

    def charge(self, flops: float) -> None:
        """Count ``flops`` of this agent's own compute (charged at the next act)."""
        self.pending_flops += float(flops)

    def observe(self, reward: float, obs: np.ndarray, info: dict[str, Any], terminated: bool,
                truncated: bool) -> None:
        """ODM's reward update from the step just taken: each source's mean training loss over the windows this
        agent drew and the env trained, divided by ``pi_t``, into the moving average ``R_hat``."""
        mine = np.isin(np.asarray(info["trained"]), self.drawn)  # [B] the trained windows this agent drew
        losses = np.asarray(info["trained_loss"], dtype=np.float64)[mine]
        sources = np.asarray(info["trained_source"])[mine]
        a = self.config.alpha
        updated = 0
        for label in np.unique(sources):
            loss = losses[sources == label]
            loss = loss[np.isfinite(loss)]
            if not len(loss):  # the step diverged: no loss to learn from
                continue
            j = self.labels.index(str(label))
            self.estimated_reward[j] = a * self.estimated_reward[j] + (1 - a) * loss.mean() / self.pi[j]
            updated += 1
        self.charge(len(losses) + 4 * updated)
        self._metrics["odm/reward_max"] = float(self.estimated_reward.max()) if len(self.estimated_reward) else 0.0

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "labels": list(self.labels), "estimated_reward": self.estimated_reward.copy(),
                "t": self.t, "pi": self.pi.copy(), "drawn": self.drawn.copy(), "pending_flops": self.pending_flops}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        labels, reward = list(state["labels"]), np.array(state["estimated_reward"], dtype=np.float64)
        if len(labels) != len(reward):
            raise ValueError(f"ODM state: {len(labels)} labels but {len(reward)} estimated rewards")
        super().load_state_dict(state)
        self.labels, self.estimated_reward, self.t = labels, reward, int(state["t"])
        self.pi = np.array(state.get("pi", np.zeros(0)), dtype=np.float64)
        self.drawn = np.array(state.get("drawn", np.zeros(0)), dtype=np.int64)
        self.pending_flops = float(state.get("pending_flops", 0.0))
