"""The signal rankers: the influence ranker agrees with the env's own probe, every ranker trains the
top B of its signal, and compare runs them by module path."""

import copy
import json
import subprocess
import sys

import numpy as np
import pytest

from studies import signal_rankers as sig
from tests.conftest import make_tiny

RANKERS = [sig.SimilarityRanker, sig.PooledSimilarityRanker, sig.InfluenceRanker, sig.AdamInfluenceRanker,
           sig.CosineInfluenceRanker, sig.LossLevelRanker, sig.MeasuredGainRanker]


def test_influence_ranker_agrees_with_the_envs_probe():
    env = make_tiny(train_batch=2)
    ranker = sig.InfluenceRanker()
    ranker.setup(env, 0)
    obs, info = env.reset(seed=0)
    env.step(np.ones(8, dtype=np.float32))
    obs, _, _, _, info = env.step(np.ones(8, dtype=np.float32))
    sample = copy.deepcopy(ranker).heldout(16)  # the windows the ranker is about to draw
    expected = env.unwrapped.learner.influence(info["token_ids"], sample)
    np.testing.assert_allclose(ranker.signal(obs, info), expected, rtol=1e-3, atol=1e-7)


@pytest.mark.parametrize("cls", RANKERS)
def test_each_ranker_trains_the_top_b_of_its_signal(cls):
    ranker = cls()
    env = make_tiny(train_batch=2, **ranker.env_kwargs)
    ranker.setup(env, 1)
    obs, info = env.reset(seed=1)
    for _ in range(2):
        score = copy.deepcopy(ranker).signal(obs, info)
        obs, r, term, trunc, after = env.step(ranker.act(obs, info))
        ranker.observe(r, obs, after, term, trunc)
        np.testing.assert_array_equal(np.sort(after["trained"]), np.sort(np.argsort(-score, kind="stable")[:2]))
        info = after


def test_compare_runs_an_agent_given_by_module_path(tmp_path):
    args = ["--tasks", "noisy", "--seeds", "1", "--steps", "2", "--eval-every", "2", "--env", "n_layer=1", "--env",
            "n_embd=32", "--env", "num_candidates=8", "--workers", "1", "--no-plots", "--out", str(tmp_path)]
    path = "studies.signal_rankers:LossLevelRanker"
    proc = subprocess.run([sys.executable, "-m", "benchmarks.compare", "--agents", f"random,{path}", *args],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert f"| noisy | {path} |" in proc.stdout
    assert json.loads((tmp_path / f"runs/noisy__{path.replace(':', '-')}__0.json").read_text())["examples_trained"] == 8
    bad = subprocess.run([sys.executable, "-m", "benchmarks.compare", "--agents", "benchmarks.nope:Agent", *args],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "cannot import 'Agent' from 'benchmarks.nope'" in bad.stderr


def test_measured_gain_probes_leave_theta_and_the_optimizer_as_they_were():
    import torch

    env = make_tiny(train_batch=2)
    ranker = sig.MeasuredGainRanker()
    ranker.setup(env, 0)
    obs, info = env.reset(seed=0)
    obs, _, _, _, info = env.step(np.ones(8, dtype=np.float32))  # a non-trivial optimizer state
    learner = env.unwrapped.learner
    before = copy.deepcopy(learner.state_dict())
    sample = copy.deepcopy(ranker).heldout(16)
    gains = ranker.signal(obs, info)
    after = learner.state_dict()
    for k, v in before["model"].items():
        torch.testing.assert_close(after["model"][k], v, rtol=0, atol=0)
    for k, v in before["optimizer"]["state"].items():
        for name, t in v.items():
            torch.testing.assert_close(after["optimizer"]["state"][k][name], t, rtol=0, atol=0)
    # the first probe by hand: one update on candidate 0 alone, then the held-out log-prob change
    ref = learner.log_prob(sample)
    learner.update(np.ones(1), info["token_ids"][:1])
    assert gains[0] == pytest.approx(learner.log_prob(sample) - ref, rel=1e-6, abs=1e-9)
