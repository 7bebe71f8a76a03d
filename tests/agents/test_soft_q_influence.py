"""Soft-Q with influence credit: every probed candidate regresses on its own target (eqs. 3-5 with
r_i = its z-scored influence), the env is asked for the probes, and bad options are refused."""

import math

import numpy as np
import pytest
import torch

from agents import make_agent
from agents.soft_q import SoftQAgent
from agents.soft_q_credit import InfluenceCredit
from tests.conftest import make_tiny


def test_each_probed_candidate_regresses_on_its_own_soft_bellman_target():
    agent = SoftQAgent(credit="influence", gamma=0.5, beta=0.7)
    env = make_tiny(train_batch=2, **agent.env_kwargs)
    agent.setup(env, 0)
    obs, info = env.reset(seed=0)
    assert "influence" in info  # step 0 is a probe step
    seen = []
    real = agent.q_step
    agent.q_step = lambda h, y: (seen.append((h.clone(), y.clone())), real(h, y))[1]
    agent.act(obs, info)  # keeps the probe; its update waits for the next state's V-bar
    assert seen == []
    obs2, reward, term, trunc, info2 = env.step(np.ones(8, np.float32))
    agent.observe(reward, obs2, info2, term, trunc)
    with torch.no_grad():
        qbar = agent.q_target(torch.as_tensor(obs2)).squeeze(-1).double()
    v_bar = 0.7 * (torch.logsumexp(qbar / 0.7, 0) - math.log(8))  # eq. 4
    infl = np.asarray(info["influence"], dtype=np.float64)
    z = (infl - infl.mean()) / infl.std(ddof=1)
    agent.act(obs2, info2)
    (h, y), = seen
    np.testing.assert_allclose(h.numpy(), obs, rtol=0, atol=0)  # all N candidates of the probed step
    np.testing.assert_allclose(y.numpy(), 0.5 * z + 0.5 * float(v_bar), rtol=1e-5, atol=1e-5)


def test_the_agent_asks_for_probes_and_reports_how_well_q_predicts_them():
    agent = make_agent("soft_q_influence")
    assert agent.config.credit == InfluenceCredit(every=5, heldout=16)
    # the registry's probe period and the default probe kind reach the env (not read back from the config)
    assert agent.env_kwargs == {"candidate_stats": (), "influence_every": 5, "influence_kind": "first_order",
                                "influence_heldout": 16, "compute_reward": False}  # influence credit: no reward
    assert make_agent("soft_q_closed_loop").env_kwargs["compute_reward"]  # its temperature reads the reward
    assert SoftQAgent(credit="influence(heldout=128)").env_kwargs["influence_heldout"] == 128
    assert SoftQAgent(credit=InfluenceCredit(every=3)).env_kwargs["influence_every"] == 3
    env = make_tiny(train_batch=2, **{**agent.env_kwargs, "influence_every": 2})
    agent.setup(env, 1)
    obs, info = env.reset(seed=1)
    corr = []
    for _ in range(8):
        obs, r, term, trunc, info = env.step(agent.act(obs, info))
        agent.observe(r, obs, info, term, trunc)
        corr.append(agent.metrics().get("probe/q_corr"))
        assert agent.last_q.shape == (8,) and info["examples_trained"] % 2 == 0
    assert sum(c is not None for c in corr) == 4  # steps 2, 4, 6, 8 bring probes


def test_q_starts_at_the_fixed_point_of_z_scored_rewards():
    agent = SoftQAgent(credit="influence")
    agent.setup(make_tiny(train_batch=2, influence_every=1), 0)
    with torch.no_grad():
        q = agent.q(torch.randn(5, 32)).squeeze(-1)
    torch.testing.assert_close(q, torch.zeros(5))


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"credit": "gradient"}, "unknown credit 'gradient'; known: reward, influence, learnability"),
    ({"credit": "influence(signal=gain)"}, "unexpected keyword argument 'signal'"),
    ({"credit": 3}, "credit must be one of reward, influence, learnability"),
    ({"credit": "influence", "action_mode": "select"},
     r"InfluenceCredit\(every=5, heldout=16\) needs action_mode='mixture'"),
    ({"credit": "influence(every=0)"}, "every"),
])
def test_contradictory_influence_options_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SoftQAgent(**kwargs)
