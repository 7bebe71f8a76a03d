"""The env against Gymnasium's and Stable-Baselines3's own conformance checks."""

import time
import warnings

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

from tests.conftest import make_tiny

# SB3 recommends a [-1, 1] Box; our mixture weights are [0, 1] by the design contract.
# SB3 also flags the [N, d] observation (not an image, not 1-D): agents.sb3_policy handles it with a
# per-candidate network, which is the point of the equivariant policy.
EXPECTED_SB3 = ("symmetric and normalized Box action space", "unconventional shape")
# The observation contract is Box(-inf, inf): hidden states are unbounded.
EXPECTED_GYM = ("minimum value is -infinity", "maximum value is infinity")


def unexpected(caught, expected):
    return [str(w.message) for w in caught if not any(e in str(w.message) for e in expected)]


BUDGETS = [("mixture", None), ("select", None), ("mixture", 3), ("select", 3)]


@pytest.mark.parametrize(("mode", "budget"), BUDGETS)
def test_gymnasium_check_env(mode, budget):
    env = make_tiny(action_mode=mode, train_batch=budget)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gym_check_env(env.unwrapped, skip_render_check=False)
    assert unexpected(caught, EXPECTED_GYM) == []


@pytest.mark.parametrize(("mode", "budget"), BUDGETS)
def test_sb3_check_env(mode, budget):
    env = make_tiny(action_mode=mode, train_batch=budget)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sb3_check_env(env.unwrapped, warn=True)
    assert unexpected(caught, EXPECTED_SB3 + EXPECTED_GYM) == []


def test_observation_is_a_fresh_float32_array_each_step(tiny_env):
    obs0, info = tiny_env.reset(seed=3)
    assert obs0.dtype == np.float32 and obs0.shape == tiny_env.observation_space.shape
    keep = obs0.copy()
    obs1, *_ = tiny_env.step(tiny_env.action_space.sample())
    assert not np.shares_memory(obs0, obs1)
    obs1[:] = 0.0  # writing into a returned array must not touch the env
    obs2, *_ = tiny_env.step(tiny_env.action_space.sample())
    np.testing.assert_array_equal(obs0, keep)
    assert np.abs(obs2).sum() > 0


def test_info_carries_per_candidate_fields():
    tiny_env = make_tiny(timings=True)
    obs, info = tiny_env.reset(seed=0)
    n = obs.shape[0]
    for key in ("loss", "entropy", "difficulty", "rarity", "length"):
        assert info[key].shape == (n,) and np.all(np.isfinite(info[key])), key
    assert info["token_ids"].shape == (n, tiny_env.unwrapped.config.context_length)
    assert set(info["source"]) == {"prose"}
    t0 = time.perf_counter()
    _, _, _, _, info = tiny_env.step(np.ones(n, dtype=np.float32))
    wall = time.perf_counter() - t0
    assert info["examples_streamed"] == 2 * n and info["examples_trained"] == n
    assert info["tokens_trained"] == n * tiny_env.unwrapped.config.context_length
    np.testing.assert_allclose(info["weights"], np.full(n, 1 / n), rtol=1e-6)
    assert info["effective_batch"] == pytest.approx(n)
    # the phases are timed inside this step, one after the other: each took time, together no more than it
    phases = [float(info[key]) for key in ("time/forward", "time/update", "time/reward", "time/influence")]
    assert all(t > 0 for t in phases[:3]) and phases[3] == 0.0  # no influence probe was asked for
    assert sum(phases) <= wall


def test_info_loss_and_entropy_match_the_model():
    env = make_tiny()
    obs, info = env.reset(seed=1)
    learner = env.unwrapped.learner
    import torch

    with torch.no_grad():
        ids = torch.as_tensor(info["token_ids"])
        logp = learner.model(input_ids=ids).logits[:, :-1].log_softmax(-1)
        nll = -logp.gather(-1, ids[:, 1:, None]).squeeze(-1).mean(-1)
        ent = -(logp.exp() * logp).sum(-1).mean(-1)
    np.testing.assert_allclose(info["loss"], nll.numpy(), rtol=1e-5)
    np.testing.assert_allclose(info["entropy"], ent.numpy(), rtol=1e-5)


def test_render_ansi_summarises_the_step():
    env = make_tiny(render_mode="ansi")
    env.reset(seed=0)
    env.step(env.action_space.sample())
    text = env.render()
    assert text.startswith("step 1 | reward -") and "eff. batch" in text
