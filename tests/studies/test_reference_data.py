"""The reference-data study: its pick by hand, and a short run as a user makes it."""

import csv

import numpy as np
import pytest

from studies import reference_data as study


def test_pick_takes_the_lowest_scores_among_novel_windows():
    rng = np.random.default_rng(0)
    pool = rng.integers(0, 1000, size=(6, 12))  # distinct tokens: every transition new
    pool[2] = np.tile([7, 8], 6)  # one transition repeated: 2 of 11 new
    score = np.array([5.0, 3.0, -9.0, 4.0, 1.0, 2.0])  # the repeated window scores lowest
    assert study.pick(score, pool, 3).tolist() == [4, 5, 1]
    assert study.pick(score, pool, 10).tolist() == [4, 5, 1, 3, 0]  # at most the novel windows


def test_a_short_run_compares_every_reference_on_each_signal(tmp_path, capsys):
    rows = study.main(["mixed", "--steps", "2", "--pool", "64", "--picks", "8", "--per-task", "48",
                       "--reference-steps", "5", "--out", str(tmp_path)])
    assert [(r["reference"], r["signal"]) for r in rows] == [
        (ref, sig) for ref in study.REFERENCES for sig in study.SIGNALS]
    with open(tmp_path / "mixed.csv", newline="") as f:
        assert len(list(csv.DictReader(f))) == len(rows)
    by_ref = {r["reference"]: r for r in rows}
    d = by_ref["D"]["windows"]
    assert by_ref["D+self"]["windows"] == by_ref["D+moore-lewis"]["windows"] == d + 8
    assert by_ref["D"]["pick_precision"] is None and by_ref["labelled"]["pick_precision"] is None
    for row in rows:
        assert 0.0 <= row["auc_vs_code"] <= 1.0
        if row["pick_precision"] is not None:
            assert 0.0 <= row["pick_precision"] <= 1.0
    assert "D+moore-lewis" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="--picks"):
        study.main(["mixed", "--picks", "0", "--out", str(tmp_path)])
