"""The signal-separation study: its AUC and top-B share by hand, and a short run as a user makes it."""

import csv

import numpy as np
import pytest

from studies import signal_separation as study


def test_auc_counts_pairs_ranked_right_and_ties_as_half():
    assert study.auc(np.array([3.0, 4.0]), np.array([1.0, 2.0])) == 1.0
    assert study.auc(np.array([1.0, 2.0]), np.array([3.0, 4.0])) == 0.0
    # pairs (2>1) (2<3) (5>1) (5>3): 3 of 4; a tie counts half
    assert study.auc(np.array([2.0, 5.0]), np.array([1.0, 3.0])) == pytest.approx(0.75)
    assert study.auc(np.array([1.0]), np.array([1.0])) == pytest.approx(0.5)


def test_top_share_of_a_perfect_and_of_a_blind_score():
    rng = np.random.default_rng(0)
    is_target = np.arange(64) % 4 == 0  # a quarter of the sample
    perfect = study.top_share(is_target.astype(float), is_target, 16, 4, rng)
    blind = study.top_share(np.zeros(64), is_target, 16, 4, rng)  # ties: argsort keeps sample order
    inverted = study.top_share(-is_target.astype(float), is_target, 16, 4, rng)
    assert perfect > 0.8 and inverted == 0.0 and inverted < blind < perfect


def test_a_short_run_writes_a_row_per_check_and_signal(tmp_path, capsys):
    rows = study.main(["noisy", "--steps", "3", "--checks", "2,3", "--per-task", "48", "--out", str(tmp_path)])
    assert len(rows) == 2 * 8 and {r["step"] for r in rows} == {2, 3}
    with open(tmp_path / "noisy.csv", newline="") as f:
        written = list(csv.DictReader(f))
    assert len(written) == len(rows)
    for row in rows:
        assert {"auc_vs_random", "auc_vs_shuffled", "auc_vs_repeat"} <= set(row)
        assert all(0.0 <= v <= 1.0 for k, v in row.items() if k.startswith(("auc_", "top")))
    assert "reducible+fresh" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="--checks"):
        study.main(["noisy", "--steps", "3", "--checks", "5", "--out", str(tmp_path)])
