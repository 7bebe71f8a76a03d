"""The cheap soft-Q (``soft_q``): its inputs, its credit on the trained windows, its TD step, its cost."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from agents import make_agent
from agents.cheap_credit import RunningNorm, TrainedWindowCredit
from agents.cheap_inputs import CheapInputs, auc
from agents.classifier import logits
from agents.ngram_model import HashedBigram
from agents.q_learning import soft_value
from agents.soft_q_cheap import CheapSoftQAgent
from agents.soft_q_inputs import fresh_excess
from tests.conftest import make_tiny

B = 2


def cheap_env(**overrides):
    agent_kwargs = CheapSoftQAgent().env_kwargs
    return make_tiny(task="noisy", train_batch=B, **{**agent_kwargs, **overrides})


def test_env_returns_the_trained_windows_per_token_losses_from_the_training_forward():
    env = cheap_env()
    obs, info = env.reset(seed=0)
    learner = env.unwrapped.learner
    weights = np.zeros(8, np.float32)
    weights[[1, 5]] = 0.5
    with torch.no_grad():  # the loss of the two windows at theta_k, before the update
        before = learner.score(info["token_ids"][[1, 5]], with_grad=False, stats=("loss", "token_loss"))
    _, _, _, _, info2 = env.step(weights)
    tokens = info2["trained_token_loss"]
    assert tokens.shape == (B, info["token_ids"].shape[1] - 1)
    np.testing.assert_allclose(tokens.mean(1), info2["trained_loss"], rtol=1e-5)
    np.testing.assert_allclose(tokens, before.token_loss.numpy(), rtol=1e-4, atol=1e-5)
    env.close()


def test_running_norm_standardises_by_the_statistics_before_each_batch():
    norm = RunningNorm(0.5)
    first = norm(np.array([1.0, 3.0]))  # seeds mean 2, var 1
    np.testing.assert_allclose(first, [-1.0, 1.0])
    mean, var = 2.0, 1.0
    for x in (1.0, 3.0):  # then one update per value
        delta = x - mean
        mean += 0.5 * delta
        var = 0.5 * (var + 0.5 * delta * delta)
    assert norm.mean == pytest.approx(mean) and norm.var == pytest.approx(var)
    np.testing.assert_allclose(norm(np.array([5.0])), [(5.0 - mean) / math.sqrt(var + 1e-12)])
    with pytest.raises(ValueError, match="rate"):
        RunningNorm(0.0)


def test_credit_is_the_reducible_and_fresh_excess_against_a_bigram_model_of_d():
    env = cheap_env()
    env.reset(seed=0)
    inputs = CheapInputs(("reference", "distinct"))
    inputs.setup(env, np.random.default_rng(0))
    credit = TrainedWindowCredit("reducible+fresh", norm_rate=0.1)
    ids = np.asarray(env.unwrapped.data.heldout.ids[:3])
    token_loss = np.random.default_rng(1).uniform(4, 9, size=(3, ids.shape[1] - 1))
    loss = token_loss.mean(1)
    bigram = HashedBigram(len(env.unwrapped.data.tokenizer))
    bigram.update(np.asarray(env.unwrapped.data.heldout.ids))
    reducible = loss - bigram.losses(ids)
    fresh = fresh_excess(token_loss, bigram.token_losses(ids), ids)
    z = lambda x: (x - x.mean()) / math.sqrt(x.var() + 1e-12)  # the first batch seeds the norms
    r, parts = credit.targets({"trained_loss": loss, "trained_token_loss": token_loss}, ids, inputs)
    np.testing.assert_allclose(r, z(reducible) + z(fresh), rtol=1e-9)
    assert parts["credit/reducible"] == pytest.approx(reducible.mean()) and "credit/known" not in parts
    before = inputs.seen.losses(ids).mean()
    inputs.mark_seen(ids)
    assert inputs.seen.losses(ids).mean() < before  # now counted as seen
    with pytest.raises(ValueError, match="not finite"):
        credit.targets({"trained_loss": loss, "trained_token_loss": np.full_like(token_loss, np.nan)}, ids, inputs)
    with pytest.raises(ValueError, match="credit signal must be one of"):
        TrainedWindowCredit("known+fresh")
    env.close()


def test_td_step_regresses_the_trained_windows_on_their_soft_bellman_target():
    env = cheap_env()
    agent = make_agent("soft_q@replay_size=0,replay_updates=0,gamma=0.5,beta=0.2")
    agent.setup(env, seed=3)
    obs, info = env.reset(seed=3)
    action = agent.act(obs, info)
    assert np.count_nonzero(action) == B and np.allclose(action[action > 0], 1.0 / B)
    x_prev = agent.pending["x"].clone()
    obs, _, _, _, info = env.step(action)
    agent.observe(0.0, obs, info, False, False)
    r = torch.as_tensor(agent.pending["r"], dtype=torch.float32)
    q_before = [p.detach().clone() for p in agent.q.parameters()]
    # the target the next act uses, from the target network on the next candidates (computed as act does)
    state = agent.inputs.state_dict()
    x_next, _ = agent.inputs.build(np.asarray(info["token_ids"]))
    agent.inputs.load_state_dict(state)  # build taught the classifier one step: undo it for act
    with torch.no_grad():
        y = 0.5 * r + 0.5 * soft_value(agent.q_target(x_next).squeeze(-1), 0.2)
    # one Adam step on 1/2 (Q(x_b) - y_b)^2 by hand, from the same parameters and optimiser state
    shadow = torch.nn.Sequential(torch.nn.Linear(x_prev.shape[1], agent.config.hidden), torch.nn.ReLU(),
                                 torch.nn.Linear(agent.config.hidden, 1))
    shadow.load_state_dict(agent.q.state_dict())
    opt = torch.optim.Adam(shadow.parameters(), lr=agent.config.lr)
    loss = 0.5 * (shadow(x_prev).squeeze(-1) - y).pow(2).mean()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(shadow.parameters(), agent.config.grad_clip)
    opt.step()
    agent.act(obs, info)
    for p, want in zip(agent.q.parameters(), shadow.parameters(), strict=True):
        torch.testing.assert_close(p.detach(), want.detach(), rtol=1e-4, atol=1e-6)
    assert any(not torch.equal(p.detach(), old) for p, old in zip(agent.q.parameters(), q_before, strict=True))
    env.close()


def run(agent_spec, steps, seed=0, state_at=None):
    env = cheap_env()
    agent = make_agent(agent_spec)
    agent.setup(env, seed)
    obs, info = env.reset(seed=seed)
    chosen = []
    for k in range(steps):
        if state_at == k:  # resume from a saved state in a fresh agent
            saved = agent.state_dict()
            agent = make_agent(agent_spec)
            agent.setup(env, seed)
            agent.load_state_dict(saved)
        action = agent.act(obs, info)
        chosen.append(np.flatnonzero(action).tolist())
        obs, r, term, trunc, info = env.step(action)
        agent.observe(r, obs, info, term, trunc)
    env.close()
    return chosen, agent


def test_runs_are_deterministic_and_resume_from_state():
    a, _ = run("soft_q", 30, seed=1)
    b, _ = run("soft_q", 30, seed=1)
    c, _ = run("soft_q", 30, seed=1, state_at=6)
    assert a == b == c
    d, _ = run("soft_q", 30, seed=2)
    assert a != d


def test_reads_no_lm_forward_of_the_candidates_and_charges_little():
    env = cheap_env()
    config = env.unwrapped.config
    assert config.candidate_stats == () and config.observation == "none" and not config.compute_reward
    env.close()
    env = cheap_env()
    agent = make_agent("soft_q")
    agent.setup(env, 0)
    obs, info = env.reset(seed=0)
    learner = env.unwrapped.learner
    for _ in range(5):
        action = agent.act(obs, info)
        obs, r, term, trunc, info = env.step(action)
        agent.observe(r, obs, info, term, trunc)
    plain = 5 * learner.flop_model.train(B * info["token_ids"].shape[1])
    assert learner.flops.totals["agent"] > 0  # Q, the classifier and the embedding mean are charged
    assert plain < learner.flops.total <= 1.2 * plain  # ... and cost under a fifth of plain training
    env.close()


def act_once_with_twin(spec, env):
    """An agent of ``spec`` acting once on the reset's candidates, and a twin holding its inputs as they were
    before that act (so the twin can rebuild what the agent read): ``(agent, info, action, twin)``."""
    agent = make_agent(spec)
    agent.setup(env, 0)
    obs, info = env.reset(seed=0)
    state = agent.inputs.state_dict()
    action = agent.act(obs, info)
    twin = make_agent(spec)
    twin.setup(env, 0)
    twin.inputs.load_state_dict(state)
    return agent, info, action, twin


def test_fixed_rule_trains_the_top_of_its_input_at_a_small_beta():
    env = cheap_env()
    agent, info, action, twin = act_once_with_twin("soft_q_rule@beta=1e-6", env)
    _, cols = twin.inputs.build(np.asarray(info["token_ids"]))  # the logit the rule read
    assert set(np.flatnonzero(action)) == set(np.argsort(-cols["classifier"])[:B])
    env.close()


@pytest.mark.parametrize("kwargs, match", [
    ({"features": ("hidden",)}, "features"), ({"signal": "reward"}, "signal"), ({"rule": "embedding"}, "rule"),
    ({"rule": "seen", "features": ("classifier",)}, "rule"), ({"beta": 0}, "beta"),
    ({"replay_size": 10, "replay_updates": 0}, "replay"), ({"bogus": 1}, "options"),
    ({"rule": "classifier", "prior": "classifier"}, "replaces Q"),
])
def test_refuses_bad_options(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        CheapSoftQAgent(**kwargs)


def test_refuses_an_env_that_trains_other_windows_than_it_chose():
    env = cheap_env()
    agent = make_agent("soft_q")
    agent.setup(env, 0)
    obs, info = env.reset(seed=0)
    action = agent.act(obs, info)
    other = np.zeros_like(action)
    other[np.flatnonzero(action == 0)[:B]] = 1.0 / B
    obs, r, term, trunc, info = env.step(other)
    with pytest.raises(RuntimeError, match="trained candidates"):
        agent.observe(r, obs, info, term, trunc)
    env.close()


def test_known_credit_counts_only_transitions_that_occur_in_d():
    env = cheap_env()
    env.reset(seed=0)
    heldout = np.asarray(env.unwrapped.data.heldout.ids)
    inputs = CheapInputs(("reference",))
    inputs.setup(env, np.random.default_rng(0))
    credit = TrainedWindowCredit("known", norm_rate=0.1)
    unseen = np.full((1, heldout.shape[1]), 0, dtype=np.int64)
    unseen[0, 1::2] = len(env.unwrapped.data.tokenizer) - 1  # alternating rare ids: transitions D lacks
    ids = np.concatenate([heldout[:2], unseen])
    assert not inputs.reference.counted(unseen).any() and inputs.reference.counted(heldout[:2]).all()
    token_loss = np.full((3, ids.shape[1] - 1), 20.0)  # far above the bigram model everywhere
    trained = {"trained_loss": token_loss.mean(1), "trained_token_loss": token_loss}
    credit.targets(trained, ids, inputs)  # seeds the norms
    _, parts = credit.targets(trained, ids, inputs)
    known = fresh_excess(token_loss * inputs.reference.counted(ids),
                         inputs.reference.token_losses(ids) * inputs.reference.counted(ids), ids)
    assert known[2] == 0.0 and known[:2].min() > 0  # the junk window earns nothing
    assert parts["credit/known"] == pytest.approx(known.mean())
    env.close()


def test_policy_adds_the_prior_z_score_to_q():
    env = cheap_env()
    agent, info, _, twin = act_once_with_twin("soft_q@beta=1e-6", env)
    x, cols = twin.inputs.build(np.asarray(info["token_ids"]))
    with torch.no_grad():
        q = twin.q(x).squeeze(-1).numpy()
    z = (cols["classifier"] - cols["classifier"].mean()) / cols["classifier"].std()
    trust = min(1.0, max(0.0, (2 * twin.inputs.auc - 1) / 0.5))
    assert agent.metrics()["prior/trust"] == pytest.approx(trust)
    np.testing.assert_allclose(agent.last_q, trust * z + q, rtol=1e-5, atol=1e-6)
    env.close()


def test_trust_is_the_clipped_gini_of_the_running_auc_on_ds_check_windows():
    assert auc(np.array([3.0, 1.0]), np.array([2.0, 0.0, 1.0])) == pytest.approx((3 + 1.5) / 6)
    env = cheap_env()
    env.reset(seed=0)
    inputs = CheapInputs(("classifier",))
    inputs.setup(env, np.random.default_rng(0))
    heldout = np.asarray(env.unwrapped.data.heldout.ids)
    assert len(inputs.check) == max(8, len(heldout) // 8)  # D's last eighth, never fitted on
    assert inputs.trust == 0.0  # AUC 0.5 before any step
    _, cols = inputs.build(heldout[:8])
    check = logits(inputs.classifier.w, inputs.classifier.b, inputs.check, inputs.check_norms)
    first = auc(check, cols["classifier"])
    assert inputs.auc == pytest.approx(first)  # the first step seeds the running mean
    _, cols = inputs.build(heldout[8:16])
    check = logits(inputs.classifier.w, inputs.classifier.b, inputs.check, inputs.check_norms)
    assert inputs.auc == pytest.approx(first + 0.05 * (auc(check, cols["classifier"]) - first))
    for value, trust in ((0.5, 0.0), (0.3, 0.0), (0.7, 0.8), (0.9, 1.0)):
        inputs.auc = value
        assert inputs.trust == pytest.approx(trust)
    env.close()


def test_a_needle_sized_d_keeps_every_window_for_the_classifier_and_trusts_it():
    env = make_tiny(task="needle", train_batch=B, **CheapSoftQAgent().env_kwargs)
    env.reset(seed=0)
    inputs = CheapInputs(("classifier",))
    inputs.setup(env, np.random.default_rng(0))
    assert len(env.unwrapped.data.heldout.ids) < 16 and inputs.check is None and inputs.trust == 1.0
    inputs.build(np.asarray(env.unwrapped.data.heldout.ids))  # scores without a check
    assert inputs.trust == 1.0
    env.close()
