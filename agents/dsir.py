"""DSIR (Xie et al., 2023, *Data Selection for Language Models via Importance Resampling*): train the
candidates that look most like the held-out set D under cheap hashed n-gram bag models.

Two bag-of-hashed-n-grams models (unigrams + bigrams of token ids in ``buckets`` bins,
:func:`agents.hashed_ngrams.hashed_ngrams`), each a categorical over buckets with add-``alpha``
smoothing (DSIR Sec. 4):

    log p(k) = log (c(k) + alpha) - log (sum_j c(j) + alpha * buckets)        c: feature counts

- the *target* model ``p_D`` is fit once, in ``setup``, on D's windows (``env.unwrapped.data.heldout``,
  which the reward already reads);
- the *raw* model ``p_raw`` is fit online on every candidate the agent has been shown, this step's
  included (they are counted before scoring, so the first step's raw model is its candidates alone).

A window's log importance weight is ``score(x) = sum_k c_x(k) (log p_D(k) - log p_raw(k))``, its
feature counts ``c_x`` against the log-ratio (DSIR eq. 2 for bag models). ``resample="top"`` (default)
trains the B highest scores (B = the env's ``train_batch``; top-1 without a budget or in ``select``
mode); ``resample="gumbel"`` is DSIR's importance resampling: B drawn without replacement with
probabilities proportional to ``exp(score)``, by Gumbel-top-B with the agent's generator.

It reads no LM output and no source label (``env_kwargs``: no statistic, no reward, no observation).

**FLOPs** (2 per multiply-add, charged to ``agent``; F = 2L - 1 features per window, K = ``buckets``):
fitting ``p_D`` costs |D|·F adds (one per feature counted) + 2K (normalise, log), charged at the first
step; each step counts the N candidates (N·F), refreshes ``log p_raw`` and the log-ratio (3K) and scores
(one multiply-add per feature occurrence, 2·N·F): 3·N·F + 3K per step. Hashing is integer work (none).
Next to the env's LM forwards this is negligible: FLOPs x plain training ≈ 1.00 plus this.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from agents.base import gumbel_top_k
from agents.hashed_ngrams import HashedNgramAgent, HashedNgramConfig, bucket_counts
from agents.scoring import boltzmann

RESAMPLE = ("top", "gumbel")


def log_probs(counts: np.ndarray, alpha: float) -> np.ndarray:
    """``log p`` [K] of the add-``alpha`` smoothed categorical of bucket ``counts`` [K]."""
    return np.log(counts + alpha) - np.log(counts.sum() + alpha * len(counts))


@dataclass
class DSIRConfig(HashedNgramConfig):
    """Options of :class:`DSIRAgent` (plus ``action_mode``, ``buckets``)."""

    alpha: float = 1.0
    """Add-alpha smoothing of both bucket models (pseudo-count per bucket)."""
    resample: str = "top"
    """``top``: the B highest importance weights. ``gumbel``: B drawn without replacement with probabilities
    proportional to the importance weights (DSIR's resampling)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if not (isinstance(self.alpha, (int, float)) and self.alpha > 0):
            raise ValueError(f"alpha must be a positive number, got {self.alpha!r}")
        if self.resample not in RESAMPLE:
            raise ValueError(f"resample must be one of {RESAMPLE}, got {self.resample!r}")


class DSIRAgent(HashedNgramAgent):
    """Train the candidates of highest hashed-n-gram importance weight ``log p_D(x) - log p_raw(x)``."""

    name = "dsir"
    config_class = DSIRConfig
    prefix = "dsir"

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        k = self.config.buckets
        self.target_counts = np.zeros(k)  # [K] D's bucket counts
        self.raw_counts = np.zeros(k)  # [K] the stream's, every candidate shown so far
        self.log_target = log_probs(self.target_counts, self.config.alpha)  # [K]

    def fit_target(self, features: np.ndarray) -> None:
        k = self.config.buckets
        self.target_counts = bucket_counts(features, k)
        self.log_target = log_probs(self.target_counts, self.config.alpha)
        self.raw_counts = np.zeros(k)
        self.charge(features.size + 2 * k)

    def log_ratio(self) -> np.ndarray:
        """``log p_D - log p_raw`` [K] under the current counts."""
        return self.log_target - log_probs(self.raw_counts, self.config.alpha)

    def score(self, features: np.ndarray) -> np.ndarray:
        self.raw_counts += bucket_counts(features, self.config.buckets)  # this step's candidates first
        score = self.log_ratio()[features].sum(axis=1)  # [N]: sum_k c_x(k) (log p_D(k) - log p_raw(k))
        self.charge(3 * features.size + 3 * self.config.buckets)
        self._metrics["dsir/raw_features"] = float(self.raw_counts.sum())
        return score

    def pick(self, score: np.ndarray) -> tuple[Any, np.ndarray]:
        if self.config.resample == "top":
            return super().pick(score)
        chosen = gumbel_top_k(score, self.top_k, self.rng)  # [k] importance resampling, without replacement
        probs = boltzmann(score, 1.0)  # the resampling distribution, exp(score) normalised
        if self.action_mode == "select":
            return int(chosen[0]), probs
        weights = np.zeros(len(score), dtype=np.float32)
        weights[chosen] = 1.0 / len(chosen)
        return weights, probs

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "target_counts": self.target_counts.copy(),
                "raw_counts": self.raw_counts.copy()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        target, raw = (np.array(state[key], dtype=np.float64) for key in ("target_counts", "raw_counts"))
        if target.shape != raw.shape or target.shape != (self.config.buckets,):
            raise ValueError(f"DSIR state: counts of shape {target.shape} and {raw.shape} do not match "
                             f"buckets={self.config.buckets}")
        super().load_state_dict(state)
        self.target_counts, self.raw_counts = target, raw
        self.log_target = log_probs(self.target_counts, self.config.alpha)
