import numpy as np
import pytest

from benchmarks.stats import examples_to_reach, gap_closed, iqm, iqm_ci, normalised_auc


def test_iqm_is_the_mean_of_the_middle_half():
    assert iqm([1, 2, 3, 4, 5, 6, 7, 100]) == pytest.approx(4.5)  # mean(3, 4, 5, 6): the outlier is trimmed
    assert iqm([2.0, np.nan, 2.0]) == 2.0


def test_bootstrap_ci_brackets_the_iqm_and_is_reproducible():
    x = np.arange(100, dtype=float)
    point, lo, hi = iqm_ci(x)
    assert point == pytest.approx(49.5)
    assert lo < point < hi and 4 < hi - lo < 25
    assert iqm_ci(x) == (point, lo, hi)
    assert iqm_ci([3.0, 3.0, 3.0]) == (3.0, 3.0, 3.0)


def test_examples_to_reach_interpolates_between_evaluations():
    assert examples_to_reach([0, 100, 200], [8.0, 7.0, 6.0], 6.5) == pytest.approx(150.0)
    assert examples_to_reach([0, 100], [8.0, 7.0], 8.0) == 0.0
    assert np.isnan(examples_to_reach([0, 100], [8.0, 7.0], 6.0))


def test_auc_and_gap_closed():
    assert normalised_auc([0, 10], [8.0, 6.0]) == pytest.approx(7.0)
    assert gap_closed(agent=7.5, random=8.0, oracle=7.0) == pytest.approx(0.5)
    assert np.isnan(gap_closed(agent=7.5, random=8.0, oracle=8.0))
