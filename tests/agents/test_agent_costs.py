"""What agents compute is on the record: Langevin-RAG streams the table's windows, and the soft-Q
Q-network and the ridge query are charged at 2 FLOPs per multiply-add (hand counts on tiny cases)."""

from __future__ import annotations

from types import SimpleNamespace

import gymnasium as gym
import numpy as np
import pytest

from agents import make_agent
from agents.base import rollout
from agents.soft_q import SoftQAgent
from curriculum_env.flops import linear_weights, matmul_flops, mlp_flops, solve_flops
from tests.conftest import make_tiny

N = 8
RAG = dict(embedder="hash-32", ring_size=64, n_fresh=2, queries=2, reference_steps=20)


def streamed(agent, steps=4, **env):
    env = make_tiny(task="mixed", train_batch=2, action_mode=agent.action_mode,
                    **{**getattr(agent, "env_kwargs", {}), **env})
    seen = []
    rollout(env, agent, steps, seed=0, on_step=lambda rec: seen.append(rec.info["examples_streamed"]))
    return seen, env


def test_langevin_rag_streams_what_random_streams():
    rag, env = streamed(make_agent("langevin_rag", **RAG))
    assert rag == streamed(make_agent("random"))[0] == [N * (k + 1) for k in range(5)]
    assert env.unwrapped.candidate_source.ring.added == N * 5  # the ring took in those windows and no more


def test_langevin_rag_streams_more_only_when_asked_and_counts_it():
    rag, _ = streamed(make_agent("langevin_rag", **RAG, prefill=True, n_ingest=16), steps=2)
    assert rag == [64, 64 + 16, 64 + 32]  # the ring filled at reset, two batches a step


def test_the_wide_track_fills_the_ring_from_the_same_w_windows():
    rag, env = streamed(make_agent("langevin_rag", **RAG), steps=2, num_candidates=16)
    assert rag == streamed(make_agent("random"), steps=2, num_candidates=16)[0] == [16, 32, 48]


class Charges:
    """A learner stand-in that records each ``add_flops(flops, phase)``."""

    def __init__(self):
        self.calls: list[tuple[float, str]] = []

    def add_flops(self, flops, phase=None):
        self.calls.append((float(flops), phase))


def stub_env(learner, n=5, d=4):
    env = SimpleNamespace(observation_space=gym.spaces.Box(-np.inf, np.inf, (n, d)), learner=learner)
    env.unwrapped = env
    return env


def test_q_network_forwards_and_td_steps_are_charged_by_hand_count():
    learner = Charges()
    agent = SoftQAgent(hidden=3)
    agent.setup(stub_env(learner), seed=0)
    w = 4 * 3 + 3 * 1  # d x hidden + hidden x 1 weights
    assert linear_weights(agent.q) == w and mlp_flops(agent.q, 7) == 2 * w * 7 and mlp_flops(agent.q, 7, True) == 42 * w
    rng = np.random.default_rng(0)
    obs = rng.standard_normal((5, 4)).astype(np.float32)
    info = {"token_ids": np.zeros((5, 4), np.int64)}
    agent.act(obs, info)
    assert learner.calls == [(2 * 2 * w * 5, "agent")]  # Q and Q-bar on the 5 candidates
    agent.observe(-1.0, obs, info, False, False)
    learner.calls.clear()
    agent.act(obs, info)
    # Q and Q-bar on the candidates, Q on the pending row (the TD error), one Adam step on it
    assert learner.calls == [(2 * 2 * w * 5, "agent"), (2 * w * 1, "agent"), (6 * w * 1, "agent")]


def test_replay_updates_are_charged_too():
    learner = Charges()
    agent = SoftQAgent(hidden=3, replay_size=10, replay_updates=2, replay_batch=4)
    agent.setup(stub_env(learner), seed=0)
    w = 15
    obs = np.ones((5, 4), np.float32)
    info = {"token_ids": np.zeros((5, 4), np.int64)}
    agent.act(obs, info)
    agent.observe(-1.0, obs, info, False, False)
    learner.calls.clear()
    agent.act(obs, info)
    assert sum(f for f, _ in learner.calls) == 2 * 2 * w * 5 + 2 * w + 6 * w + 2 * 6 * w * 4


def test_a_real_soft_q_run_charges_its_q_network():
    agent = make_agent("soft_q_paper")
    env = make_tiny(train_batch=2, **agent.env_kwargs)
    seen = []
    rollout(env, agent, 2, seed=0, on_step=lambda rec: seen.append(rec.info["flops/agent"]))
    assert seen[0] == 0 < seen[1] < seen[2]  # soft_q_paper has no reference model: this is Q alone


def test_the_ridge_query_is_charged_by_hand_count(monkeypatch):
    agent = make_agent("langevin_rag", **RAG)
    env = make_tiny(task="mixed", train_batch=2, **agent.env_kwargs)
    learner = env.unwrapped.learner
    calls = []
    real = learner.add_flops
    monkeypatch.setattr(learner, "add_flops", lambda f, phase=None: (calls.append((float(f), phase)),
                                                                     real(f, phase))[1])
    agent.setup(env, 0)
    obs, info = env.reset(seed=0)
    size = agent.source.ring.size
    calls.clear()
    agent.act(obs, info)
    m, d = N, 32  # the memory holds this step's N candidates; hash-32 embeddings
    ridge = matmul_flops(d, m, d) + matmul_flops(d, m, 1) + solve_flops(d) + matmul_flops(size, d, 1)
    assert ridge == 2 * m * d * d + 2 * m * d + 2 / 3 * d**3 + 2 * d * d + 2 * size * d
    assert (pytest.approx(ridge), "agent") in calls
    assert agent.queries.shape == (1, d)
