"""The soft-Q figure script as a user runs it: tiny env, a few steps, its CSV and summary lines."""

import csv

import numpy as np
import pytest

from benchmarks import q_ranking
from tests.conftest import TINY

ENV = [f"{k}={v}" for k, v in TINY.items()]


@pytest.mark.parametrize("figure", ["needle", "noisy", "signal"])
def test_figure_writes_one_row_per_step_and_prints_its_summary(figure, tmp_path, capsys):
    select = ["action_mode=select", "paired_reward=True"] if figure == "needle" else []
    agent = ["action_mode=select", "reward_signal=gain", "gamma=0.0"] if figure == "needle" else []
    q_ranking.main([figure, "--steps", "6", "--out", str(tmp_path), "--env", *ENV, *select,
                         "--agent", *agent])
    rows = list(csv.DictReader(open(tmp_path / f"{figure}.csv")))
    assert [int(r["step"]) for r in rows] == list(range(1, 7))
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith(f"{figure} (6 steps, seed 0")
    if figure == "needle":
        ranks = np.array([float(r["needle/rank"]) for r in rows])
        assert ((1 <= ranks) & (ranks <= TINY["num_candidates"])).all()
        assert "top1_share_last100=" in line and (tmp_path / "needle.png").exists()
    if figure == "noisy":
        share = np.array([float(r["batch_share/prose"] or 0.0) for r in rows])
        mass = np.array([float(r["mass/prose"] or 0.0) for r in rows])
        assert ((mass == 0) == (share == 0)).all()  # mass only where the batch has prose
        assert "ratio_all=" in line
    if figure == "signal":
        gains = [float(r["gain"]) for r in rows]
        assert all(np.isfinite(gains)) and np.isnan(float(rows[0]["delta"]))
