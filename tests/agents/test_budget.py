"""Every agent under the env's training budget (``train_batch=B``): exactly B trained per step, the B
each agent means to train, only the statistics it asks for, and soft-Q's Gumbel-top-B and B-row TD step."""

from __future__ import annotations

import itertools
from types import SimpleNamespace

import gymnasium as gym
import numpy as np
import pytest
import torch

from agents import AGENTS, make_agent, rollout
from agents.base import candidate_stat, gumbel_top_k, train_budget
from agents.competence import CompetenceAgent
from agents.oracle import OracleAgent
from agents.rho_loss import window_losses
from agents.soft_q import SoftQAgent
from curriculum_env.wrappers.sgld import SGLDConfig
from tests.conftest import make_tiny, random_q_head

B, N, D = 3, 8, 16
STATS = ("loss", "entropy", "token_loss")
TINY_RAG = dict(sgld=SGLDConfig(steps=2, query_length=8, num_chains=4), buffer_size=32, n_ingest=8, top_k=4,
                progress=False, embedder="hash-32")
FAST = {"rho_loss": dict(il_steps=2), "rho_loss_labelled": dict(il_steps=2, holdout_windows=16),
        "langevin_rag_paper": dict(wrapper=TINY_RAG),
        "langevin_rag": dict(embedder="hash-32", ring_size=32, reference_steps=20),
        "ppo": dict(n_steps=8, batch_size=8, n_epochs=1)}


def budget_env(agent, **overrides):
    """A tiny noisy env made as the harness makes it: the agent's action mode and env_kwargs, budget B."""
    return make_tiny(task="noisy", train_batch=B, action_mode=agent.action_mode,
                     **{**agent.env_kwargs, **overrides})


def stub_env(n=N, d=D, train_batch=B):
    """Just enough of an env for an agent's setup: spaces and a config with the budget (no LM)."""
    env = SimpleNamespace(observation_space=gym.spaces.Box(-np.inf, np.inf, (n, d)), spec=None,
                          config=SimpleNamespace(train_batch=train_batch),
                          data=SimpleNamespace(task=SimpleNamespace(target_labels=("prose",))))
    env.unwrapped = env
    return env


def steps_of(env, agent, steps, seed=0):
    """``(info before the step, info after it)`` of each of ``steps`` steps, driven by ``agent``."""
    agent.setup(env, seed)
    obs, info = env.reset(seed=seed)
    out = []
    for _ in range(steps):
        action = agent.act(obs, info)
        obs, reward, term, trunc, after = env.step(action)
        agent.observe(reward, obs, after, term, trunc)
        out.append((info, after, action, reward))
        info = after
    return out


# ------------------------------------------------------------------------------------ every agent
@pytest.mark.parametrize("name", sorted(AGENTS))
def test_every_agent_trains_exactly_b_per_step_and_asks_only_for_its_statistics(name):
    agent = make_agent(name, **FAST.get(name, {}))
    asked = agent.env_kwargs["candidate_stats"]
    assert set(asked) <= set(STATS)
    env = budget_env(agent)
    seen = []
    rollout(env, agent, 3, seed=0, on_step=lambda rec: seen.append((rec.step, rec.reward, rec.info)))
    assert [s for s, _, _ in seen] == [0, 1, 2, 3]  # the reset, then every step
    for step, reward, info in seen[1:]:
        assert np.isfinite(reward)
        assert info["examples_trained"] == B * step
        assert len(info["trained"]) == B and np.count_nonzero(info["train_weights"]) == B
        assert {k for k in STATS if k in info} == set(asked)  # computed only when asked
    if hasattr(agent, "budget"):  # the protocol agents read B in setup (SB3's drive needs none)
        assert agent.budget == B


def test_stats_asked_per_agent():
    expected = {"loss": ("loss",), "uncertainty": ("entropy",), "rho_loss": ("loss",), "rho_loss_labelled": ("loss",),
                **{name: ("loss", "entropy", "token_loss")
                   for name in ("soft_q_lm", "soft_q_uniform", "soft_q_closed_loop", "langevin_rag_lm")}}
    for name in AGENTS:
        assert make_agent(name).env_kwargs["candidate_stats"] == expected.get(name, ()), name
    assert make_agent("soft_q_paper@credit=reward(signal=gain)").env_kwargs == {
        "candidate_stats": (), "paired_reward": True, "compute_reward": True}
    assert make_agent("loss@soft=True").env_kwargs["candidate_stats"] == ("loss",)


def test_train_budget_and_a_missing_statistic_name_the_env_config():
    assert train_budget(stub_env()) == B and train_budget(stub_env(train_batch=None)) is None
    assert train_budget(SimpleNamespace()) is None  # no config: no budget
    assert train_budget(make_tiny(train_batch=2)) == 2
    with pytest.raises(KeyError, match="candidate_stats"):
        candidate_stat({"token_ids": np.zeros((N, 4))}, "loss")
    for name in ("loss", "uncertainty", "rho_loss"):
        agent = make_agent(name, **FAST.get(name, {}))
        env = make_tiny(task="noisy", candidate_stats=())
        agent.setup(env, 0)
        _, info = env.reset(seed=0)
        with pytest.raises(KeyError, match="candidate_stats"):
            agent.act(None, info)


# ------------------------------------------------------------------------------------ score agents
@pytest.mark.parametrize("name,key", [("loss", "loss"), ("uncertainty", "entropy")])
def test_hard_score_agents_train_the_b_highest(name, key):
    agent = make_agent(name)
    for before, after, action, _ in steps_of(budget_env(agent), agent, 4):
        best = np.sort(np.argsort(-before[key], kind="stable")[:B])
        np.testing.assert_array_equal(after["trained"], best)
        np.testing.assert_allclose(action[best], 1 / B)


def test_rho_loss_trains_the_b_highest_reducible_losses():
    agent = make_agent("rho_loss", **FAST["rho_loss"])
    for before, after, _, _ in steps_of(budget_env(agent), agent, 3):
        with torch.no_grad():  # IL recomputed straight from the IL model, not through the agent's cache
            il = window_losses(agent.il_model, torch.from_numpy(before["token_ids"])).numpy()
        reducible = before["loss"] - il
        np.testing.assert_array_equal(after["trained"], np.sort(np.argsort(-reducible)[:B]))


def test_top_k_defaults_to_b_explicit_k_wins_and_select_takes_the_argmax():
    loss = np.array([5.0, 4.0, 3.0, 6.0, 2.0, 1.0, 0.5, 0.0])
    info = {"loss": loss, "token_ids": np.zeros((N, 4), np.int64)}
    agent = make_agent("loss")
    agent.setup(stub_env(), 0)
    np.testing.assert_allclose(agent.act(None, info), np.isin(np.arange(N), [0, 1, 3]) / 3)
    no_budget = make_agent("loss")
    no_budget.setup(stub_env(train_batch=None), 0)
    np.testing.assert_array_equal(no_budget.act(None, info), np.eye(N)[3])  # top-1, as without a budget
    two = make_agent("loss", top_k=2)
    two.setup(stub_env(), 0)
    np.testing.assert_allclose(two.act(None, info), np.isin(np.arange(N), [0, 3]) / 2)
    sel = make_agent("loss", action_mode="select")
    sel.setup(stub_env(), 0)
    assert {sel.act(None, info) for _ in range(20)} == {3}


def test_soft_score_agent_draws_b_distinct_and_keeps_their_boltzmann_weights():
    loss = np.array([5.0, 4.0, 3.0, 6.0, 2.0, 1.0, 0.5, 0.0])
    agent = make_agent("loss@soft=True", temperature=2.0)
    agent.setup(stub_env(), 0)
    p = np.exp(loss / 2.0) / np.exp(loss / 2.0).sum()
    sets = set()
    for _ in range(200):
        w = agent.act(None, {"loss": loss})
        chosen = np.flatnonzero(w)
        assert len(chosen) == B
        np.testing.assert_allclose(w[chosen], p[chosen] / p[chosen].sum(), rtol=1e-5)
        sets.add(tuple(chosen))
    assert len(sets) > 5  # sampled, not the deterministic top B


# ------------------------------------------------------------------------------------ competence / oracle
def test_competence_fills_with_the_easiest_when_fewer_than_b_are_eligible():
    difficulty = np.array([3.0, 1.0, 6.0, 2.0, 5.0, 4.0, 8.0, 7.0])
    info = {"difficulty": difficulty, "step": 0}
    agent = CompetenceAgent(steps_to_full=100, c0=0.01)
    agent.setup(stub_env(), 0)
    w = agent.act(None, info)  # c = 0.01: nothing eligible, the 3 easiest
    np.testing.assert_allclose(w, np.isin(np.arange(N), [1, 3, 0]) / 3)
    assert agent.metrics()["competence/filled"] == 3
    fresh = CompetenceAgent(steps_to_full=100, c0=0.26)  # CDFs k/8: only the easiest two are eligible
    fresh.setup(stub_env(), 0)
    np.testing.assert_allclose(fresh.act(None, info), np.isin(np.arange(N), [1, 3, 0]) / 3)
    assert fresh.metrics()["competence/filled"] == 1
    wide = CompetenceAgent(steps_to_full=100, c0=0.7)  # 5 eligible > B: uniform on them, the env picks
    wide.setup(stub_env(), 0)
    np.testing.assert_allclose(wide.act(None, info), np.isin(np.arange(N), [0, 1, 3, 4, 5]) / 5)


def test_oracle_trains_target_windows_first():
    info = {"source": np.array(["code", "prose", "code", "prose", "code", "code", "code", "code"], dtype=object)}
    agent = OracleAgent()
    agent.setup(stub_env(), 0)
    fills = set()
    for _ in range(50):  # two targets < B: both, plus one random non-target
        w = agent.act(None, info)
        chosen = np.flatnonzero(w)
        assert len(chosen) == B and {1, 3} <= set(chosen)
        np.testing.assert_allclose(w[chosen], 1 / B)
        fills.add(int(next(i for i in chosen if i not in (1, 3))))
    assert len(fills) > 3
    info["source"][[0, 5]] = "prose"  # four targets >= B: uniform on them (the env picks B)
    np.testing.assert_allclose(agent.act(None, info), np.isin(np.arange(N), [0, 1, 3, 5]) / 4)


@pytest.mark.parametrize("weighting", ["uniform", "action"])
def test_oracle_in_the_env_trains_all_targets_or_only_targets(weighting):
    agent = OracleAgent()
    env = budget_env(agent, train_weighting=weighting)
    branches = set()
    for before, after, _, _ in steps_of(env, agent, 12):
        targets = set(np.flatnonzero(before["source"] == "prose"))
        trained = set(after["trained"])
        assert len(trained) == B
        if len(targets) >= B:
            assert trained <= targets
        else:
            assert targets <= trained
        branches.add(len(targets) >= B)
    assert branches == {True, False}  # both cases happened on noisy at N = 8


# ------------------------------------------------------------------------------------ soft-Q
def inclusion_probabilities(p: np.ndarray, k: int) -> np.ndarray:
    """P(i among k draws without replacement from p), by enumerating the ordered draws."""
    out = np.zeros(len(p))
    for seq in itertools.permutations(range(len(p)), k):
        prob, left = 1.0, 1.0
        for i in seq:
            prob *= p[i] / left
            left -= p[i]
        out[list(seq)] += prob
    return out


def gumbel_draws(impl: str, logits: np.ndarray, k: int, draws: int) -> np.ndarray:
    if impl == "torch":
        gen = torch.Generator().manual_seed(0)
        return np.stack([gumbel_top_k(logits, k, gen) for _ in range(draws)])  # a torch.Generator's noise
    rng = np.random.default_rng(0)
    return np.stack([gumbel_top_k(logits, k, rng) for _ in range(draws)])


@pytest.mark.parametrize("impl", ["torch", "numpy"])
def test_gumbel_top_k_samples_without_replacement_from_the_softmax(impl):
    logits = np.log(np.array([0.4, 0.25, 0.15, 0.1, 0.06, 0.04]))
    p = np.exp(logits)
    draws = 20_000
    one = gumbel_draws(impl, logits, 1, draws)[:, 0]
    freq = np.bincount(one, minlength=6) / draws
    chi2 = draws * np.sum((freq - p) ** 2 / p)
    assert chi2 < 20.5  # chi-square, 5 dof: p-value ~0.001
    three = gumbel_draws(impl, logits, 3, draws)
    assert all(len(set(row)) == 3 for row in three)  # distinct
    incl = np.bincount(three.ravel(), minlength=6) / draws
    np.testing.assert_allclose(incl, inclusion_probabilities(p, 3), atol=0.015)
    first = np.bincount(three[:, 0], minlength=6) / draws
    np.testing.assert_allclose(first, p, atol=0.015)  # the first index is a plain draw from p


def test_soft_q_td_step_regresses_all_b_on_the_same_target():
    lr = 0.01
    agent = SoftQAgent(gamma=0.0, lr=lr, grad_clip=1e9, replay_size=16, replay_updates=1, replay_batch=2, beta=0.5)
    agent.setup(stub_env(), 0)
    random_q_head(agent)
    steps = []  # per Q step (the TD step on the B, then one replay step): (grad, value) of each parameter
    real = agent.q_step

    def spy(h, y):
        loss = real(h, y)
        steps.append([(p.grad.double().numpy().copy(), p.detach().double().numpy().copy())
                      for p in agent.q.parameters()])
        return loss

    agent.q_step = spy
    rng = np.random.default_rng(0)
    obs = rng.standard_normal((N, D)).astype(np.float32)
    info = {"token_ids": np.zeros((N, 4), np.int64)}
    w = agent.act(obs, info)
    chosen = np.flatnonzero(w)
    assert len(chosen) == B
    agent.observe(-3.0, obs, info, False, False)  # gamma = 0: y = r = -3 for every one of the B
    W1, b1, W2, b2 = (p.detach().double().numpy().copy() for p in agent.q.parameters())
    agent.act(rng.standard_normal((N, D)).astype(np.float32), info)  # the TD step of the pending B
    # by hand: L = mean_b 1/2 (Q(h_b) - y)^2 with Q(h) = W2 relu(W1 h + b1) + b2
    h = obs[chosen].astype(np.float64)  # [B, d]
    z = h @ W1.T + b1  # [B, hidden]
    a = np.maximum(z, 0.0)
    e = (a @ W2.T + b2)[:, 0] - (-3.0)  # [B]
    dq = e / B  # dL/dQ_b
    g_W2 = (dq[:, None] * a).sum(0)[None]
    g_b2 = np.array([dq.sum()])
    dz = dq[:, None] * W2[0][None] * (z > 0)  # [B, hidden]
    g_W1, g_b1 = dz.T @ h, dz.sum(0)
    assert len(steps) == 2  # the TD step, then one replay step
    for (grad, param), g, old in zip(steps[0], (g_W1, g_b1, g_W2, g_b2), (W1, b1, W2, b2), strict=True):
        np.testing.assert_allclose(grad, g, rtol=1e-4, atol=1e-7)
        # Adam's first step: m_hat = g, v_hat = g^2 -> old - lr g / (|g| + eps)
        np.testing.assert_allclose(param, old - lr * g / (np.abs(g) + 1e-8), rtol=1e-4, atol=1e-7)
    assert len(agent.replay) == B  # all B pairs stored
    assert {tuple(r) for r in agent.replay.h[:B].numpy()} == {tuple(r) for r in obs[chosen]}
    np.testing.assert_allclose(agent.replay.y[:B].numpy(), -3.0)
    assert agent.metrics()["td/target"] == pytest.approx(-3.0)


@pytest.mark.parametrize("weighting", ["uniform", "action"])
def test_soft_q_env_trains_exactly_the_b_it_sampled(weighting):
    agent = SoftQAgent(beta=0.05)
    env = budget_env(agent, train_weighting=weighting)
    agent.setup(env, 0)
    random_q_head(agent)
    obs, info = env.reset(seed=0)
    for _ in range(4):
        w = agent.act(obs, info)
        chosen = np.flatnonzero(w)
        assert {tuple(r) for r in agent.pending["h"].numpy()} == {tuple(r) for r in obs[chosen]}  # all B kept
        m = agent.metrics()
        assert int(m["policy/action"]) in chosen and 0 < m["policy/trained_mass"] <= 1
        obs, r, term, trunc, info = env.step(w)
        agent.observe(r, obs, info, term, trunc)
        np.testing.assert_array_equal(info["trained"], chosen)
        if weighting == "action":  # pi renormalised over the B
            np.testing.assert_allclose(info["train_weights"][chosen], w[chosen] / w[chosen].sum(), rtol=1e-5)


def test_soft_q_uniform_steps_and_select_mode_under_the_budget():
    agent = make_agent("soft_q_influence@no_q_weighting=True")  # uniform steps; Q on a stub env
    agent.setup(stub_env(), 0)
    rng = np.random.default_rng(0)
    info = {"token_ids": np.zeros((N, 4), np.int64)}
    counts = np.zeros(N)
    for _ in range(300):
        obs = rng.standard_normal((N, D)).astype(np.float32)
        w = agent.act(obs, info)
        chosen = np.flatnonzero(w)
        assert len(chosen) == B and np.allclose(w[chosen], 1 / B)
        counts[chosen] += 1
        agent.observe(-1.0, obs, info, False, False)
    assert counts.min() > 300 * B / N * 0.6  # uniform B-subsets: 112.5 each expected
    sel = SoftQAgent(action_mode="select")
    env = budget_env(sel)
    for _, after, a, _ in steps_of(env, sel, 3):
        assert isinstance(a, int) and a in after["trained"] and len(after["trained"]) == B
        assert sel.pending["h"].shape[0] == 1  # select mode learns from the sampled a alone


def test_soft_q_under_the_budget_is_deterministic_for_a_seed():
    runs = []
    for _ in range(2):
        agent = SoftQAgent(beta=0.05, replay_size=8, replay_updates=1)
        trace = steps_of(budget_env(agent), agent, 5, seed=4)
        runs.append([(tuple(after["trained"]), reward) for _, after, _, reward in trace])
    assert runs[0] == runs[1]
    assert len({t for t, _ in runs[0]}) > 1  # the trained sets vary
