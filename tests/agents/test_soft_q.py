"""Soft-Q agent: eqs. 3-6 checked numerically, the ablations, determinism and save/load."""

import math
from types import SimpleNamespace

import gymnasium as gym
import numpy as np
import pytest
import torch

from agents import make_agent
from agents.q_learning import polyak, q_network, soft_value, td_target
from agents.soft_q import SoftQAgent
from agents.soft_q_config import OPTIONS, SoftQConfig
from agents.soft_q_credit import InfluenceCredit, Learnability, RewardTD
from tests.conftest import make_tiny, random_q_head

N, D = 8, 16


def stub_env(n=N, d=D):
    """Just enough of an env for the agent's Q-learning (no LM)."""
    env = SimpleNamespace(observation_space=gym.spaces.Box(-np.inf, np.inf, (n, d)))
    env.unwrapped = env
    return env


def random_obs(rng, n=N, d=D):
    return rng.standard_normal((n, d)).astype(np.float32), {"token_ids": np.zeros((n, 4), dtype=np.int64)}


def test_soft_value_of_equal_q_is_q_and_matches_eq4():
    for q0, beta in [(-8.0, 1.0), (3.5, 0.2), (0.0, 5.0)]:
        assert float(soft_value(torch.full((16,), q0), beta)) == pytest.approx(q0, abs=1e-5)
    q = torch.tensor([-1.0, 0.5, 2.0])
    manual = 0.7 * math.log(sum(math.exp(x / 0.7) for x in q.tolist()) / 3)
    assert float(soft_value(q, 0.7)) == pytest.approx(manual, rel=1e-6)


def test_constant_reward_fixed_point_is_the_reward():
    agent = SoftQAgent(lr=1e-2, tau=0.1)
    agent.setup(stub_env(), seed=0)
    random_q_head(agent)  # from a random Q, not one that starts at r
    rng = np.random.default_rng(1)
    for _ in range(2500):
        obs, info = random_obs(rng)
        agent.act(obs, info)
        agent.observe(-2.0, obs, info, False, False)
    q = agent.q(torch.as_tensor(random_obs(rng, n=200)[0])).detach()
    assert abs(float(q.mean()) + 2.0) < 0.05
    assert float((q + 2.0).abs().mean()) < 0.1


def test_policy_is_softmax_q_over_beta():
    agent = SoftQAgent(beta=0.3)
    agent.setup(stub_env(), seed=0)
    random_q_head(agent)
    with torch.no_grad():  # make Q differences large enough to matter
        agent.q[2].weight.mul_(20.0)
    obs, info = random_obs(np.random.default_rng(0))
    weights = agent.act(obs, info)
    expected = torch.softmax(agent.q(torch.as_tensor(obs)).squeeze(-1).detach() / 0.3, -1).numpy()
    np.testing.assert_allclose(weights, expected, rtol=1e-5, atol=1e-7)
    assert expected.max() > 2.0 / N  # not trivially uniform


def test_td_update_and_polyak_match_eqs_3_and_5():
    agent = SoftQAgent(beta=0.5, gamma=0.8, tau=0.25)
    agent.setup(stub_env(), seed=0)
    random_q_head(agent)
    rng = np.random.default_rng(0)
    obs, info = random_obs(rng)
    agent.act(obs, info)
    agent.observe(-3.0, obs, info, False, False)
    h_prev = agent.pending["h"].clone()
    online = {k: v.clone() for k, v in agent.q.state_dict().items()}
    target = {k: v.clone() for k, v in agent.q_target.state_dict().items()}
    obs2, info2 = random_obs(rng)
    agent.act(obs2, info2)
    # the TD target from the *old* target network (eqs. 3-4)
    ref = q_network(D, 32)
    ref.load_state_dict(target)
    y = 0.2 * -3.0 + 0.8 * float(soft_value(ref(torch.as_tensor(obs2)).squeeze(-1).detach(), 0.5))
    assert agent.metrics()["td/target"] == pytest.approx(y, rel=1e-6)
    # the online step moved Q(h_prev) towards y; eq. 5 holds parameter by parameter
    ref.load_state_dict(online)
    with torch.no_grad():
        before, after = float(ref(h_prev[None])), float(agent.q(h_prev[None]))
    assert abs(after - y) < abs(before - y)
    new_online = agent.q.state_dict()
    for k, v in agent.q_target.state_dict().items():
        torch.testing.assert_close(v, 0.25 * new_online[k] + 0.75 * target[k])
    # a plain Polyak call is eq. 5 too
    a, b = q_network(D, 4), q_network(D, 4)
    old = [p.clone() for p in b.parameters()]
    polyak(b, a, 0.1)
    for pb, pa, po in zip(b.parameters(), a.parameters(), old, strict=True):
        torch.testing.assert_close(pb, 0.1 * pa + 0.9 * po)


def test_td_target_carries_no_gradient():
    net = q_network(D, 8)
    v = soft_value(net(torch.randn(N, D)).squeeze(-1), 1.0)
    assert v.requires_grad
    y = td_target(-4.0, v, 0.9)
    assert not y.requires_grad
    agent = SoftQAgent()
    agent.setup(stub_env(), seed=0)
    assert not any(p.requires_grad for p in agent.q_target.parameters())


def test_no_q_weighting_sends_exactly_uniform_weights_while_q_learns():
    env = make_tiny()
    agent = SoftQAgent(no_q_weighting=True)  # the paper's §2.6 ablation
    agent.setup(env, 0)
    obs, info = env.reset(seed=0)
    q0 = [p.clone() for p in agent.q.parameters()]
    for _ in range(3):
        w = agent.act(obs, info)
        assert np.array_equal(w, np.full(8, 1 / 8, dtype=np.float32))
        obs, r, term, trunc, info = env.step(w)
        agent.observe(r, obs, info, term, trunc)
    assert any(not torch.equal(a, b) for a, b in zip(q0, agent.q.parameters(), strict=True))


def advance(env, agent, obs, info, steps):
    """``steps`` act/step/observe rounds; the trace of (action, reward, sampled index) and the last obs/info."""
    trace = []
    for _ in range(steps):
        w = agent.act(obs, info)
        obs, r, term, trunc, info = env.step(w)
        agent.observe(r, obs, info, term, trunc)
        trace.append((np.asarray(w).copy(), r, agent.metrics()["policy/action"]))
    return trace, obs, info


def _run(agent_kw, steps, seed=3, env_kw=None):
    env = make_tiny(**(env_kw or {}))
    agent = SoftQAgent(**agent_kw)
    agent.setup(env, seed)
    return advance(env, agent, *env.reset(seed=seed), steps)[0]


def assert_same_trace(a, b):
    assert len(a) == len(b)
    for (wa, ra, aa), (wb, rb, ab) in zip(a, b, strict=True):
        np.testing.assert_array_equal(wa, wb)
        assert ra == rb and aa == ab


def test_deterministic_for_a_fixed_seed():
    kw = dict(beta="closed_loop", replay_size=16, replay_updates=1)
    a, b = _run(kw, 20), _run(kw, 20)
    assert_same_trace(a, b)
    assert len({x[2] for x in a}) > 1  # actions actually vary


@pytest.mark.parametrize("kw", [
    dict(replay_size=8, replay_updates=1, beta="closed_loop"),
    dict(action_mode="select", credit="reward(signal=gain,norm=0.1)", gamma=0.0, replay_size=8, replay_updates=1),
    dict(credit="influence(every=2)", replay_size=8, replay_updates=1),
])
def test_save_load_resumes_identically(tmp_path, kw):
    env_kw = {"action_mode": kw.get("action_mode", "mixture"), **SoftQAgent(**kw).env_kwargs}
    env, agent = make_tiny(**env_kw), SoftQAgent(**kw)
    agent.setup(env, 5)
    obs, info = env.reset(seed=5)
    _, obs, info = advance(env, agent, obs, info, 4)
    env.unwrapped.save_state(tmp_path / "env.pt")
    torch.save(agent.state_dict(), tmp_path / "agent.pt")
    first, _, _ = advance(env, agent, obs, info, 4)

    env2, agent2 = make_tiny(**env_kw), SoftQAgent(**kw)
    agent2.setup(env2, 999)
    env2.reset(seed=999)
    obs2, info2 = env2.unwrapped.load_state(tmp_path / "env.pt")
    agent2.load_state_dict(torch.load(tmp_path / "agent.pt", weights_only=False))
    second, _, _ = advance(env2, agent2, obs2, info2, 4)
    assert_same_trace(first, second)
    for k, v in agent.q.state_dict().items():  # Q itself learned identically (signal, norm, replay)
        torch.testing.assert_close(agent2.q.state_dict()[k], v, rtol=0, atol=0)


def test_needle_metrics_and_config_errors():
    agent = SoftQAgent()
    agent.setup(stub_env(n=4), 0)
    obs, info = random_obs(np.random.default_rng(0), n=4)
    info["source"] = np.array(["filler", "needle", "filler", "filler"], dtype=object)
    agent.act(obs, info)
    m = agent.metrics()
    assert 1 <= m["needle/rank"] <= 4 and m["mass/needle"] == pytest.approx(m["needle/prob"])
    assert m["mass/filler"] + m["mass/needle"] == pytest.approx(1.0)
    assert m["policy/effective_batch"] <= 4 + 1e-5
    with pytest.raises(ValueError, match="gamma"):
        SoftQConfig.from_options(gamma=1.0)
    with pytest.raises(ValueError, match="unknown temperature 'warm'"):
        SoftQAgent(beta="warm")
    with pytest.raises(TypeError, match="'betta' .did you mean 'beta'.*accepted: .*replay_size"):
        SoftQAgent(betta=1.0)
    from agents.langevin_rag_paper import LangevinRAGPaperConfig  # shares QLearningConfig's checks

    with pytest.raises(ValueError, match=r"LangevinRAGPaperConfig\.gamma"):
        LangevinRAGPaperConfig(gamma=1.0)
    with pytest.raises(ValueError, match=r"SoftQConfig\.hidden"):
        SoftQConfig.from_options(hidden=0)


def test_reward_init_starts_at_the_first_reward_with_a_uniform_policy():
    agent = SoftQAgent()
    agent.setup(stub_env(), 0)
    rng = np.random.default_rng(0)
    obs, info = random_obs(rng)
    np.testing.assert_array_equal(agent.act(obs, info), np.full(N, 1.0 / N, dtype=np.float32))
    agent.observe(-7.5, obs, info, False, False)
    probe = torch.as_tensor(random_obs(rng, n=50)[0])
    for net in (agent.q, agent.q_target):  # Q = r_0 everywhere: already the constant-reward fixed point
        torch.testing.assert_close(net(probe).detach().squeeze(-1), torch.full((50,), -7.5))
    agent.observe(-1.0, obs, info, False, False)  # only the first reward sets the bias
    assert float(agent.q[-1].bias.detach()) == -7.5


def test_gain_signal_reads_the_paired_reward_and_names_the_missing_flag():
    agent = SoftQAgent(credit="reward(signal=gain)")
    agent.setup(stub_env(), 0)
    obs, info = random_obs(np.random.default_rng(0))
    agent.act(obs, info)
    with pytest.raises(KeyError, match="paired_reward=True"):
        agent.observe(-3.0, obs, info, False, False)
    agent.observe(-3.0, obs, {**info, "reward_gain": 0.25}, False, False)
    assert agent.pending["reward"] == 0.25
    assert agent.env_kwargs == {"candidate_stats": (), "paired_reward": True, "compute_reward": True}
    assert SoftQAgent().env_kwargs == {"candidate_stats": (), "compute_reward": True}  # the paper reads the reward


def test_reward_norm_divides_by_the_running_rms():
    agent = SoftQAgent(credit=RewardTD(norm=0.5))
    agent.setup(stub_env(), 0)
    obs, info = random_obs(np.random.default_rng(0))
    seen, sq = [], None
    for r in (-2.0, -4.0, 1.0):
        agent.act(obs, info)
        agent.observe(r, obs, info, False, False)
        sq = r * r if sq is None else 0.5 * sq + 0.5 * r * r
        seen.append((agent.pending["reward"], r / math.sqrt(sq)))
    for got, want in seen:
        assert got == pytest.approx(want, rel=1e-9)
    assert seen[0][0] == pytest.approx(-1.0)


def test_bad_credit_options_are_refused_naming_them():
    for bad, match in ((dict(credit="reward(norm=-0.1)"), "norm"), (dict(credit="reward(signal=delta)"), "signal"),
                       (dict(credit="learnability(signal=contrast)"), "signal"),
                       (dict(credit="influence(every=0)"), "every"), (dict(credit="hot"), "unknown credit 'hot'"),
                       (dict(credit="reward(signal=gain"), "not name")):
        with pytest.raises(ValueError, match=match):
            SoftQConfig.from_options(**bad)


def test_gain_agent_runs_in_the_harness_env_it_asks_for():
    agent = make_agent("soft_q_paper@action_mode=select,credit=reward(signal=gain),gamma=0.0,replay_size=16,"
                       "replay_updates=2")
    env = make_tiny(action_mode=agent.action_mode, **agent.env_kwargs)
    agent.setup(env, 0)
    trace, _, info = advance(env, agent, *env.reset(seed=0), 3)
    assert agent.pending["reward"] == info["reward_gain"] != trace[-1][1]


# ------------------------------------------------------------------------------------ config
def test_options_are_fifteen_flat_fields_and_strategies_become_objects():
    agent = SoftQAgent(beta=0.3, replay_size=300, replay_updates=2, gamma=0, credit="learnability(signal=reducible)")
    c = agent.config
    assert (c.beta, c.gamma, c.replay_size, c.replay_updates, c.replay_batch) == (0.3, 0, 300, 2, 32)  # batch: default
    assert c.credit == Learnability(signal="reducible") and agent.credit is c.credit
    assert c.uses_reference and not c.reference  # the learnability credit trains the reference itself
    assert len(OPTIONS) == 15 and OPTIONS == tuple(SoftQConfig.__dataclass_fields__)
    assert SoftQConfig(**{k: getattr(c, k) for k in OPTIONS}) == c  # an object credit round-trips
    by_name = SoftQAgent(credit="influence(every=3)").config.credit
    assert SoftQAgent(credit=InfluenceCredit(every=3)).config.credit == by_name
    with pytest.raises(AttributeError):  # frozen: a config does not change under a running agent
        c.gamma = 0.5


@pytest.mark.parametrize(("kwargs", "words"), [
    ({"replay_size": 100}, ("replay_size=100", "replay_updates=0")),
    ({"replay_updates": 2}, ("replay_size=0", "replay_updates=2")),
    ({"credit": "learnability", "action_mode": "select"}, ("Learnability", "action_mode='select'")),
    ({"credit": "influence", "action_mode": "select"}, ("InfluenceCredit", "action_mode='select'")),
])
def test_contradictory_options_are_refused_naming_both(kwargs, words):
    with pytest.raises(ValueError) as err:
        SoftQAgent(**kwargs)
    assert all(w in str(err.value) for w in words)


def test_every_registered_soft_q_preset_constructs_and_saves_its_config():
    from agents import AGENTS

    targets = {n: e if isinstance(e, str) else e[0] for n, e in AGENTS.items()}
    names = [n for n, target in targets.items() if target == "agents.soft_q:SoftQAgent"]  # the LM-reading presets
    assert len(names) >= 5
    built = {}
    for name in names:
        agent = built[name] = make_agent(name)
        needs_env = agent.config.uses_reference  # a reference model is trained on the env's D
        agent.setup(make_tiny(train_batch=2, **agent.env_kwargs) if needs_env else stub_env(), 0)
        saved = agent.state_dict()["config"]
        assert saved["beta"] == agent.config.beta and saved["credit"] == vars(agent.config.credit)
    closed = built["soft_q_closed_loop"]
    assert (closed.temp.beta_min, closed.temp.k) == (0.025, 0.05) and closed.env_kwargs["compute_reward"]
