"""Soft-Q with a reference model on D: the reference is seeded, cached and paid for in FLOPs; Q reads
per-candidate features; learnability credit regresses every candidate on its own soft Bellman target."""

import math

import numpy as np
import pytest
import torch

from agents import make_agent
from agents.reference_model import ReferenceModel, window_losses
from agents.soft_q import SoftQAgent
from agents.soft_q_inputs import zscore
from tests.conftest import make_tiny

LEARN = dict(credit="learnability(signal=reducible)", inputs="features", reference=True, reference_steps=5, gamma=0.5,
             beta=0.7)


class MustNotRun(torch.nn.Module):
    def forward(self, *args, **kwargs):
        raise AssertionError("a cached window was forwarded again")


class Charges:
    """A stand-in learner that records what is charged to it."""

    def __init__(self):
        self.flops = []

    def add_flops(self, flops, phase=None):
        self.flops.append(flops)


def test_reference_model_is_seeded_cached_and_charged_in_flops():
    env = make_tiny()
    data = env.unwrapped.data
    before = torch.get_rng_state()
    refs = [ReferenceModel(steps=3, batch_size=4) for _ in range(2)]
    for ref in refs:
        ref.fit(data.heldout.ids, data.tokenizer, 7, np.random.default_rng(7))
    assert torch.equal(before, torch.get_rng_state())  # the global RNG is left as it was
    for a, b in zip(refs[0].model.parameters(), refs[1].model.parameters(), strict=True):
        assert torch.equal(a, b)  # same seed, same model
    _, info = env.reset(seed=0)
    ids = info["token_ids"]
    n, length = ids.shape
    learner = Charges()
    losses = refs[0].losses(ids, learner)
    params = refs[0].flops.params
    train = 3 * 4 * data.heldout.ids.shape[1] * 6 * params  # 3 steps of 4 windows, 6 P per token
    assert learner.flops == [pytest.approx(train + 2 * params * n * length)]  # training at the first call
    with torch.no_grad():
        np.testing.assert_allclose(losses, window_losses(refs[1].model, torch.from_numpy(ids)).numpy(), rtol=1e-5)
    refs[0].model = MustNotRun()
    np.testing.assert_allclose(refs[0].losses(ids, learner), losses)  # all cached: no forward, no FLOPs
    assert learner.flops[-1] == 0 and refs[0].forwarded == 0
    with pytest.raises(ValueError, match="n_embd"):
        ReferenceModel(n_embd=33, n_head=2)
    with pytest.raises(RuntimeError, match="fit"):
        ReferenceModel().losses(ids)


def test_features_are_z_scores_and_levels_of_the_scoring_statistics():
    agent = SoftQAgent(**LEARN)
    assert agent.env_kwargs == {"candidate_stats": ("loss", "entropy"), "compute_reward": False,
                                "observation": "none"}  # Q reads statistics alone: no hidden state, no reward
    env = make_tiny(train_batch=2, **agent.env_kwargs)
    agent.setup(env, 0)
    assert agent.q[0].in_features == 8  # 4 statistics, z-scored and levelled
    obs, info = env.reset(seed=0)
    x, cols = agent.inputs.build(obs, info)
    ref = agent.inputs.reference.losses(info["token_ids"])
    log_v = math.log(len(env.unwrapped.data.tokenizer))
    stats = [info["loss"], info["entropy"], ref, info["loss"] - ref]
    expected = np.stack([zscore(s) for s in stats] + [np.asarray(s) / log_v for s in stats], axis=1)
    np.testing.assert_allclose(x.numpy(), expected, rtol=1e-5, atol=1e-6)
    z = zscore(np.array([1.0, 2.0, 4.0]))
    assert z.mean() == pytest.approx(0) and z.std() == pytest.approx(1)
    assert not zscore(np.full(4, 3.0)).any()  # a constant column carries nothing: zeros, not NaN
    both = SoftQAgent(**{**LEARN, "inputs": "both"})
    both.setup(make_tiny(train_batch=2, **both.env_kwargs), 0)
    assert both.q[0].in_features == env.observation_space.shape[1] + 8


def test_each_candidate_regresses_on_its_learnability_soft_bellman_target():
    agent = SoftQAgent(**LEARN)
    env = make_tiny(train_batch=2, **agent.env_kwargs)
    agent.setup(env, 0)
    obs, info = env.reset(seed=0)
    seen = []
    real = agent.q_step
    agent.q_step = lambda h, y: (seen.append((h.clone(), y.clone())), real(h, y))[1]
    x0, _ = agent.inputs.build(obs, info)
    learnability = info["loss"] - agent.inputs.reference.losses(info["token_ids"])
    obs2, reward, term, trunc, info2 = env.step(agent.act(obs, info))  # the target waits for s' (V-bar)
    assert seen == []
    agent.observe(reward, obs2, info2, term, trunc)
    x1, _ = agent.inputs.build(obs2, info2)
    with torch.no_grad():
        qbar = agent.q_target(x1).squeeze(-1).double()
    v_bar = 0.7 * (torch.logsumexp(qbar / 0.7, 0) - math.log(8))  # eq. 4
    agent.act(obs2, info2)
    (h, y), = seen
    np.testing.assert_allclose(h.numpy(), x0.numpy(), rtol=0, atol=0)  # all N candidates of the step
    np.testing.assert_allclose(y.numpy(), 0.5 * zscore(learnability) + 0.5 * float(v_bar), rtol=1e-5, atol=1e-5)


def test_q_learns_to_rank_by_learnability_and_resumes_identically(tmp_path):
    def run(agent, env, obs, info, steps):
        corr = []
        for _ in range(steps):
            obs, r, term, trunc, info = env.step(agent.act(obs, info))
            agent.observe(r, obs, info, term, trunc)
            corr.append(agent.metrics().get("learnability/q_corr", 0.0))  # absent while Q is constant
        return obs, info, corr

    kwargs = {**LEARN, "beta": 0.1, "replay_size": 200, "replay_updates": 4, "lr": 3e-3}
    agent = SoftQAgent(**kwargs)
    env = make_tiny(train_batch=2, **agent.env_kwargs)
    agent.setup(env, 3)
    obs, info = env.reset(seed=3)
    obs, info, corr = run(agent, env, obs, info, 30)
    assert corr[0] == 0.0 and np.mean(corr[-10:]) > 0.8  # from a constant Q to what the reward measures
    env.unwrapped.save_state(tmp_path / "env")
    state = agent.state_dict()
    _, _, after = run(agent, env, obs, info, 3)
    twin = SoftQAgent(**kwargs)
    env2 = make_tiny(train_batch=2, **twin.env_kwargs)
    twin.setup(env2, 3)
    twin.load_state_dict(state)
    env2.reset(seed=3)  # the wrappers insist on a reset before the state is loaded
    obs2, info2 = env2.unwrapped.load_state(tmp_path / "env")
    _, _, again = run(twin, env2, obs2, info2, 3)
    assert again == after


def test_registered_lm_reading_preset_reads_features_and_a_reference():
    agent = make_agent("soft_q_lm")
    c = agent.config
    assert (type(c.credit).__name__, c.inputs, c.reference) == ("Learnability", "features", True)
    assert make_agent("soft_q_paper").config.inputs == "hidden"  # the paper's row is unchanged
