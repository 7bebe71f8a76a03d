"""Statistics of the comparison: IQM with bootstrap CIs, sample efficiency, area under the curve."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats


def iqm(x: Sequence[float]) -> float:
    """Interquartile mean: the mean of the middle 50% (scipy's 25% two-sided trimmed mean)."""
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    return float(stats.trim_mean(x, 0.25)) if len(x) else float("nan")


def iqm_ci(x: Sequence[float], confidence: float = 0.95, n_resamples: int = 2000, seed: int = 0
           ) -> tuple[float, float, float]:
    """IQM and its percentile-bootstrap confidence interval (``scipy.stats.bootstrap``).

    With fewer than two finite values the interval collapses to the point estimate.
    """
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    point = iqm(x)
    if len(x) < 2 or np.all(x == x[0]):
        return point, point, point
    res = stats.bootstrap((x,), lambda s, axis=-1: stats.trim_mean(s, 0.25, axis=axis), confidence_level=confidence,
                          n_resamples=n_resamples, method="percentile", random_state=np.random.default_rng(seed))
    return point, float(res.confidence_interval.low), float(res.confidence_interval.high)


def examples_to_reach(examples: Sequence[float], nll: Sequence[float], target: float) -> float:
    """First number of examples at which the curve's NLL is at or below ``target`` (linear
    interpolation between evaluations); ``nan`` when never reached."""
    x, y = np.asarray(examples, float), np.asarray(nll, float)
    hit = np.flatnonzero(y <= target)
    if not len(hit):
        return float("nan")
    i = int(hit[0])
    if i == 0 or y[i - 1] == y[i]:
        return float(x[i])
    frac = (y[i - 1] - target) / (y[i - 1] - y[i])
    return float(x[i - 1] + frac * (x[i] - x[i - 1]))


def normalised_auc(examples: Sequence[float], nll: Sequence[float]) -> float:
    """Area under the NLL curve divided by its x-range: the curve's mean NLL (lower is better)."""
    x, y = np.asarray(examples, float), np.asarray(nll, float)
    if len(x) < 2 or x[-1] == x[0]:
        return float(y.mean()) if len(y) else float("nan")
    return float(np.trapezoid(y, x) / (x[-1] - x[0]))


def gap_closed(agent: float, random: float, oracle: float, min_gap: float = 1e-3) -> float:
    """Fraction of the random -> oracle improvement in final NLL that ``agent`` achieves
    (1 = as good as the oracle, 0 = no better than random); ``nan`` when the oracle gains nothing."""
    gap = random - oracle
    if not np.isfinite(gap) or gap < min_gap:
        return float("nan")
    return float((random - agent) / gap)
