"""The soft-Q figure script as a user runs it: tiny env, a few steps, its CSV and summary lines."""

import csv

import numpy as np
import pytest

from studies import q_ranking
from tests.conftest import TINY, make_tiny

ENV = ",".join(f"{k}={v}" for k, v in TINY.items())  # the --env syntax: agents.specs.parse_options
GAIN = "gain@replay_size=16,replay_updates=2"  # the study's gain agent; the env's action_mode follows it


def read_rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("figure", ["needle", "noisy", "signal"])
def test_figure_writes_one_row_per_step_and_prints_its_summary(figure, tmp_path, capsys):
    agent = ["--agent", GAIN] if figure == "needle" else []  # the gain signal brings its env_kwargs (paired_reward)
    q_ranking.main([figure, "--steps", "6", "--out", str(tmp_path), "--env", ENV, *agent])
    rows = read_rows(tmp_path / f"{figure}.csv")
    assert [int(r["step"]) for r in rows] == list(range(1, 7))
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith(f"{figure} (6 steps, seed 0")
    if figure == "needle":
        ranks = np.array([float(r["needle/rank"]) for r in rows])
        assert ((1 <= ranks) & (ranks <= TINY["num_candidates"])).all()
        assert "top1_share_last100=" in line and (tmp_path / "needle.png").exists()
        assert all(r["td/signal"] for r in rows)  # the gain the agent learned from, read after observe
    if figure == "noisy":
        share = np.array([float(r["batch_share/prose"] or 0.0) for r in rows])
        mass = np.array([float(r["mass/prose"] or 0.0) for r in rows])
        assert ((mass == 0) == (share == 0)).all()  # mass only where the batch has prose
        shares = [sum(float(v) for k, v in r.items() if k.startswith("batch_share/") and v) for r in rows]
        assert np.allclose(shares, 1.0)  # the shares of the batch the agent acted on
        assert "ratio_all=" in line
    if figure == "signal":
        gains = [float(r["gain"]) for r in rows]
        assert all(np.isfinite(gains)) and np.isnan(float(rows[0]["delta"]))
        rewards = [float(r["reward"]) for r in rows]
        assert [float(r["delta"]) for r in rows[1:]] == pytest.approx(np.diff(rewards).tolist(), abs=0)


def test_signal_steps_are_uniformly_random_windows_drawn_from_the_seed(tmp_path, capsys):
    """The figure's rows are what a hand-written loop gives: a = default_rng(seed).integers(N) each step."""
    q_ranking.main(["signal", "--steps", "4", "--out", str(tmp_path), "--env", ENV, "--seed", "3"])
    rows = read_rows(tmp_path / "signal.csv")
    assert len(rows) == 4
    env = make_tiny(task="noisy", action_mode="select", paired_reward=True)
    _, info = env.reset(seed=3)
    rng = np.random.default_rng(3)
    for r in rows:
        a = int(rng.integers(TINY["num_candidates"]))
        source = str(info["source"][a])
        _, reward, _, _, info = env.step(a)
        assert (r["source"], float(r["reward"]), float(r["gain"])) == (source, reward, info["reward_gain"])
    env.close()


def test_overhead_times_both_arms_every_step(tmp_path, capsys):
    q_ranking.main(["overhead", "--steps", "7", "--out", str(tmp_path), "--env", ENV])
    rows = read_rows(tmp_path / "overhead.csv")
    assert [int(r["step"]) for r in rows] == list(range(1, 8))
    times = np.array([[float(r["agent_s"]), float(r["uniform_s"])] for r in rows])
    assert (times > 0).all() and (times < 60).all()
    line = capsys.readouterr().out.strip().splitlines()[-1]
    median_ratio = float(line.split("median_ratio=")[1].split()[0])
    warm = times[5:]  # the figure skips 5 warm-up steps
    assert median_ratio == pytest.approx(np.median(warm[:, 0]) / np.median(warm[:, 1]), rel=1e-3)


def test_options_use_the_agent_spec_syntax_and_bad_ones_are_named(tmp_path, capsys):
    with pytest.raises(SystemExit):
        q_ranking.main(["needle", "--out", str(tmp_path), "--env", "num_candidates"])
    assert "'num_candidates' is not key=value" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        q_ranking.main(["needle", "--out", str(tmp_path), "--agent", "soft_q_paper@no_such_field=1"])
    assert "--agent" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        q_ranking.main(["needle", "--out", str(tmp_path), "--agent", "soft_q_paper", "beta=0.1"])  # old syntax
    assert "unrecognized arguments: beta=0.1" in capsys.readouterr().err
    with pytest.raises(ValueError, match="'random' reports no needle/rank"):
        q_ranking.main(["needle", "--steps", "1", "--out", str(tmp_path), "--env", ENV, "--agent", "random"])
    assert not hasattr(q_ranking, "parse_pairs")
