"""Shared fixtures: tiny env configs so the whole suite runs in minutes on two CPU cores."""

from __future__ import annotations

import os
import shutil
import tempfile

# The suite never touches the user's cache (~/.cache/curriculum_env or their $CURRICULUM_ENV_CACHE): it
# builds its tokenizer, task data and embeddings in a temporary directory that subprocesses inherit too.
_CACHE = tempfile.mkdtemp(prefix="curriculum-env-tests-")
os.environ["CURRICULUM_ENV_CACHE"] = _CACHE

import gymnasium as gym  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import curriculum_env  # noqa: E402, F401  (registers CurriculumSelect-v0)

torch.set_num_threads(1)

TINY = dict(num_candidates=8, context_length=32, heldout_size=64, test_size=64, reward_batch=8,
            n_layer=1, n_head=2, n_embd=32, micro_batch_size=8)


def make_tiny(**overrides):
    """A tiny CurriculumSelect-v0 (no max_episode_steps wrapper surprises: 1000 steps)."""
    return gym.make("CurriculumSelect-v0", **{**TINY, **overrides})


@pytest.fixture
def tiny_env():
    env = make_tiny()
    yield env
    env.close()


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_CACHE, ignore_errors=True)


def random_q_head(agent, seed=0):
    """Give a set-up soft-Q agent's Q (and Q-bar) a random output layer (PyTorch's initialisation, seeded), so
    Q varies over h from the first step; its bias then stays as drawn (not set to the first reward)."""
    import copy

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        agent.q[-1].reset_parameters()
    agent.q_target = copy.deepcopy(agent.q).requires_grad_(False)
    agent.opt = torch.optim.Adam(agent.q.parameters(), lr=agent.config.lr)
    agent.bias_set = True
    return agent
