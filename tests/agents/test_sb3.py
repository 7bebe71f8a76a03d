"""Equivariant SB3 policies and the PPO/DQN harness agents on the tiny env."""

from __future__ import annotations

import random
import tempfile
import warnings

import numpy as np
import pytest
import torch
from gymnasium import spaces
from stable_baselines3 import PPO
from stable_baselines3.common.env_checker import check_env
from stable_baselines3.common.logger import Logger

from agents import make_agent, rollout
from agents.sb3_policy import EquivariantDQNPolicy, EquivariantPolicy, LogitNormalDistribution
from tests.conftest import make_tiny

N, D = 8, 32
OBS = spaces.Box(-np.inf, np.inf, (N, D), np.float32)
ACTIONS = {"select": spaces.Discrete(N), "mixture": spaces.Box(0.0, 1.0, (N,), np.float32)}


@pytest.fixture(autouse=True)
def _own_torch_rng():
    """Tests below seed torch for their data; keep that away from other tests' global state."""
    with torch.random.fork_rng(devices=[]):
        yield


def _scores_and_value(policy: EquivariantPolicy, obs: torch.Tensor):
    features = policy.extract_features(obs, policy.features_extractor)
    latent_pi, latent_vf = policy.mlp_extractor(features)
    return policy.action_net(latent_pi), policy.value_net(latent_vf)


@pytest.mark.parametrize("mode", ["select", "mixture"])
def test_policy_is_permutation_equivariant(mode):
    torch.manual_seed(0)  # parameters and data (global RNG forked by the fixture)
    policy = EquivariantPolicy(OBS, ACTIONS[mode], lambda _: 3e-4)
    with torch.no_grad():  # give the tiny-init action head real weights so the check is not trivial
        for p in policy.action_net.parameters():
            p.normal_()
    obs = torch.randn(4, N, D)
    perm = torch.randperm(N)
    scores, value = _scores_and_value(policy, obs)
    scores_p, value_p = _scores_and_value(policy, obs[:, perm])
    assert scores.shape == (4, N) and value.shape == (4, 1)
    assert scores.std() > 1e-3
    torch.testing.assert_close(scores_p, scores[:, perm])
    torch.testing.assert_close(value_p, value)
    actions, _, log_prob = policy(obs)
    permuted_actions = actions[:, perm] if mode == "mixture" else torch.argsort(perm)[actions]
    _, log_prob_p, _ = policy.evaluate_actions(obs[:, perm], permuted_actions)
    torch.testing.assert_close(log_prob_p, log_prob)


def test_dqn_q_network_is_permutation_equivariant():
    torch.manual_seed(0)
    policy = EquivariantDQNPolicy(OBS, ACTIONS["select"], lambda _: 1e-3)
    obs = torch.randn(4, N, D)
    perm = torch.randperm(N)
    q = policy.q_net(obs)
    assert q.shape == (4, N) and q.std() > 1e-4
    torch.testing.assert_close(policy.q_net(obs[:, perm]), q[:, perm])
    torch.testing.assert_close(policy.q_net_target(obs[:, perm]), policy.q_net_target(obs)[:, perm])


def test_logit_normal_actions_are_valid_weights_with_correct_density():
    torch.manual_seed(0)
    dist = LogitNormalDistribution(N).proba_distribution(torch.randn(5, N), torch.full((1,), 0.3))
    a = dist.sample()
    assert torch.all((a > 0) & (a < 1))
    z = torch.logit(a.double())
    normal = torch.distributions.Normal(dist.distribution.mean.double(), dist.distribution.stddev.double())
    expected = (normal.log_prob(z) - torch.log(a.double() * (1 - a.double()))).sum(-1)
    torch.testing.assert_close(dist.log_prob(a).double(), expected, rtol=1e-4, atol=1e-4)


def test_policy_rejects_a_flat_observation():
    with pytest.raises(ValueError, match=r"\[N, d\]"):
        EquivariantPolicy(spaces.Box(-1, 1, (N * D,)), ACTIONS["select"], lambda _: 3e-4)


EXPECTED_WARNINGS = {
    "select": ("unconventional shape",),
    "mixture": ("unconventional shape", "symmetric and normalized Box action space"),
}


@pytest.mark.parametrize("mode", ["select", "mixture"])
def test_check_env_passes_with_only_expected_warnings(mode):
    env = make_tiny(action_mode=mode)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env.unwrapped)
    messages = [str(w.message) for w in caught]
    for m in messages:  # every warning is one we expect: [N, d] obs, Box(0, 1) weights
        assert any(e in m for e in EXPECTED_WARNINGS[mode]), m
    for e in EXPECTED_WARNINGS[mode]:
        assert any(e in m for m in messages), e


def test_plain_sb3_ppo_accepts_the_policy():
    env = make_tiny(action_mode="mixture")
    model = PPO(EquivariantPolicy, env, n_steps=16, batch_size=8, n_epochs=1, seed=0, device="cpu")
    model.set_logger(Logger(folder=None, output_formats=[]))  # no tempdir/SB3-<time> folder
    model.learn(total_timesteps=16)
    action, _ = model.predict(env.observation_space.sample())
    assert action.shape == (N,) and np.all(action > 0)


@pytest.mark.parametrize("name,mode", [("ppo", "select"), ("ppo", "mixture"), ("agents.sb3_agents:DQNAgent", "select")])
def test_sb3_agents_learn_on_the_tiny_env(name, mode):
    env = make_tiny(action_mode=mode)
    trace = []
    last = rollout(env, make_agent(name, action_mode=mode), 200, seed=0,
                   on_step=lambda rec: trace.append((rec.step, rec.reward, rec.info["examples_trained"])))
    assert [s for s, _, _ in trace] == list(range(201))  # the reset, then exactly the budget, every step
    assert trace[0][1] is None and trace[0][2] == 0  # step 0: the reset, nothing trained
    trace = trace[1:]
    assert last["step"] == 200 and np.all(np.isfinite([r for _, r, _ in trace]))
    per_step = N if mode == "mixture" else 1
    assert trace[-1][2] == 200 * per_step


def test_drive_is_deterministic_and_leaves_global_rng_alone():
    env = make_tiny(action_mode="select")
    state = (random.getstate(), np.random.get_state()[1].copy(), torch.get_rng_state())
    runs = []
    for _ in range(2):
        rewards = []
        agent = make_agent("agents.sb3_agents:DQNAgent", learning_starts=10)
        rollout(env, agent, 40, seed=3, on_step=lambda rec, t=rewards: t.append(rec.reward))
        runs.append(rewards)
    assert runs[0] == runs[1]
    assert random.getstate() == state[0]
    assert np.array_equal(np.random.get_state()[1], state[1])
    assert torch.equal(torch.get_rng_state(), state[2])


def test_drive_writes_no_logger_folder_and_still_reports_sb3_metrics(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", None)  # gettempdir() re-reads TMPDIR
    agent = make_agent("ppo", action_mode="mixture", n_steps=16, batch_size=8)
    keys = set()
    rollout(make_tiny(action_mode="mixture"), agent, 40, seed=0, on_step=lambda rec: keys.update(rec.metrics or {}))
    assert tempfile.gettempdir() == str(tmp_path) and not list(tmp_path.glob("SB3-*")), list(tmp_path.iterdir())
    assert any(k.startswith("sb3/train/") for k in keys)  # the in-memory logger still feeds the metrics


def test_dqn_refuses_mixture_mode():
    with pytest.raises(ValueError, match="select"):
        make_agent("agents.sb3_agents:DQNAgent", action_mode="mixture")
