"""The signal rankers: the influence ranker agrees with the env's own probe, every ranker trains the
top B of its signal, and compare runs them by module path."""

import copy
import json
import subprocess
import sys

import numpy as np
import pytest

from benchmarks import selection_signals as sig
from tests.conftest import make_tiny

RANKERS = [sig.SimilarityRanker, sig.PooledSimilarityRanker, sig.InfluenceRanker, sig.AdamInfluenceRanker,
           sig.CosineInfluenceRanker, sig.LossLevelRanker]


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
    args = ["--tasks", "noisy", "--seeds", "1", "--steps", "2", "--eval-every", "2", "--n-layer", "1", "--n-embd",
            "32", "--num-candidates", "8", "--workers", "1", "--no-plots", "--out", str(tmp_path)]
    path = "benchmarks.selection_signals:LossLevelRanker"
    proc = subprocess.run([sys.executable, "-m", "benchmarks.compare", "--agents", f"random,{path}", *args],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert f"| noisy | {path} |" in proc.stdout
    assert json.loads((tmp_path / f"runs/noisy__{path.replace(':', '-')}__0.json").read_text())["examples_trained"] == 8
    bad = subprocess.run([sys.executable, "-m", "benchmarks.compare", "--agents", "benchmarks.nope:Agent", *args],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown agent 'benchmarks.nope:Agent'" in bad.stderr
