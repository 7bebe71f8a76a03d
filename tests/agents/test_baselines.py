"""Heuristic baselines: each choice checked on a hand-built info, then run through the harness."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from agents import make_agent, rollout
from agents.competence import CompetenceAgent, competence
from agents.oracle import OracleAgent
from agents.rho_loss import RhoLossAgent, window_losses
from tests.conftest import make_tiny

N = 6


def hand_info(step: int = 0) -> dict:
    """A fixed info whose argmax loss, argmax entropy and argmax reducible loss all differ."""
    return {
        "loss": np.array([5.0, 4.0, 3.0, 6.0, 2.0, 1.0], np.float32),
        "entropy": np.array([1.0, 3.5, 2.0, 0.5, 0.1, 0.2], np.float32),
        "difficulty": np.array([3.0, 1.0, 6.0, 2.0, 5.0, 4.0], np.float32),
        "source": np.array(["code", "prose", "random", "prose", "repeat", "code"], dtype=object),
        "token_ids": np.arange(N * 4, dtype=np.int64).reshape(N, 4),
        "step": step,
    }


def softmax(x, t):
    e = np.exp((np.asarray(x, np.float64) - np.max(x)) / t)
    return e / e.sum()


class FakeEnv:
    """Just enough of an env for agents whose setup reads the task."""

    class unwrapped:  # noqa: N801
        class data:  # noqa: N801
            class task:  # noqa: N801
                target_labels = ("prose",)

    spec = None


# ------------------------------------------------------------------------------------ loss / uncertainty
@pytest.mark.parametrize("name,key", [("loss", "loss"), ("uncertainty", "entropy")])
def test_hard_score_agents_pick_argmax(name, key):
    info = hand_info()
    best = int(np.argmax(info[key]))
    mix = make_agent(name)
    mix.setup(FakeEnv, 0)
    w = mix.act(None, info)
    assert w.shape == (N,) and w[best] == 1.0 and w.sum() == 1.0
    sel = make_agent(name, action_mode="select")
    sel.setup(FakeEnv, 0)
    assert sel.act(None, info) == best


@pytest.mark.parametrize("name,key", [("loss@soft=True", "loss"), ("uncertainty@soft=True", "entropy")])
def test_soft_score_agents_are_boltzmann(name, key):
    info = hand_info()
    agent = make_agent(name, temperature=0.7)
    agent.setup(FakeEnv, 0)
    np.testing.assert_allclose(agent.act(None, info), softmax(info[key], 0.7), rtol=1e-6)
    sel = make_agent(name, action_mode="select", temperature=0.7)
    sel.setup(FakeEnv, 3)
    picks = np.array([sel.act(None, info) for _ in range(4000)])
    freq = np.bincount(picks, minlength=N) / len(picks)
    np.testing.assert_allclose(freq, softmax(info[key], 0.7), atol=0.03)


def test_hard_top_k_is_uniform_over_the_k_best():
    info = hand_info()
    agent = make_agent("loss", top_k=3)
    agent.setup(FakeEnv, 0)
    np.testing.assert_allclose(agent.act(None, info), [1 / 3, 1 / 3, 0, 1 / 3, 0, 0])  # losses 5, 4, 6
    sel = make_agent("loss", top_k=3, action_mode="select")
    sel.setup(FakeEnv, 0)
    assert {sel.act(None, info) for _ in range(200)} == {0, 1, 3}


def test_bad_config_is_a_clear_error():
    with pytest.raises(ValueError, match="action_mode"):
        make_agent("loss", action_mode="pick")
    with pytest.raises(ValueError, match="temperature"):
        make_agent("loss@soft=True", temperature=0.0)
    with pytest.raises(ValueError, match="c0"):
        make_agent("competence", c0=0.0)


# ------------------------------------------------------------------------------------ random / oracle
def test_random_is_uniform_and_seeded():
    info = hand_info()
    mix = make_agent("random")
    mix.setup(FakeEnv, 0)
    np.testing.assert_allclose(mix.act(None, info), np.full(N, 1 / N))
    runs = []
    for _ in range(2):
        sel = make_agent("random@action_mode=select")
        sel.setup(FakeEnv, 11)
        runs.append([sel.act(None, info) for _ in range(600)])
    assert runs[0] == runs[1]
    assert set(runs[0]) == set(range(N))


def test_oracle_is_uniform_over_target_windows():
    info = hand_info()  # prose at 1 and 3
    agent = OracleAgent()
    agent.setup(FakeEnv, 0)
    np.testing.assert_allclose(agent.act(None, info), [0, 0.5, 0, 0.5, 0, 0])
    sel = OracleAgent(action_mode="select")
    sel.setup(FakeEnv, 0)
    assert {sel.act(None, info) for _ in range(100)} == {1, 3}
    info["source"] = np.array(["code"] * N, dtype=object)  # no target window: uniform over all
    np.testing.assert_allclose(agent.act(None, info), np.full(N, 1 / N))


# ------------------------------------------------------------------------------------ competence
def test_competence_schedule_matches_formula():
    c0, T = 0.01, 400
    assert competence(0, T, c0) == pytest.approx(c0)
    assert competence(100, T, c0) == pytest.approx(math.sqrt(100 * (1 - c0**2) / T + c0**2))
    assert competence(100, T, c0) == pytest.approx(math.sqrt(0.250075), rel=1e-12)  # 0.25 (1 - 1e-4) + 1e-4
    assert competence(T, T, c0) == pytest.approx(1.0)
    assert competence(3 * T, T, c0) == 1.0
    agent = CompetenceAgent(steps_to_full=T, c0=c0)
    agent.setup(FakeEnv, 0)
    agent.act(None, hand_info(step=100))
    assert agent.metrics()["competence/c"] == pytest.approx(competence(100, T, c0))


@pytest.mark.parametrize("mode", ["mixture", "select"])
def test_competence_never_picks_an_ineligible_window(mode):
    rng = np.random.default_rng(0)
    agent = CompetenceAgent(action_mode=mode, steps_to_full=50, reservoir_size=100_000)
    agent.setup(FakeEnv, 1)
    seen: list[float] = []
    some_fallback = some_eligible = False
    for step in range(80):
        info = hand_info(step)
        info["difficulty"] = rng.gamma(2.0, 1.0, size=N).astype(np.float32)
        seen.extend(info["difficulty"].astype(np.float64))
        action = agent.act(None, info)
        chosen = np.flatnonzero(action > 0) if mode == "mixture" else np.array([action])
        cdf = np.array([np.mean(np.array(seen) <= d) for d in info["difficulty"]])  # exact empirical CDF
        eligible = cdf <= competence(step, 50, 0.01)
        if eligible.any():
            some_eligible = True
            assert eligible[chosen].all()
            if mode == "mixture":
                np.testing.assert_allclose(action[eligible], 1 / eligible.sum(), rtol=1e-6)
        else:
            some_fallback = True
            assert list(chosen) == [int(np.argmin(info["difficulty"]))]
    assert some_fallback and some_eligible


def test_competence_reservoir_keeps_a_bounded_sample():
    agent = CompetenceAgent(reservoir_size=50)
    agent.setup(FakeEnv, 0)
    values = np.arange(1000, dtype=np.float64)
    agent.remember(values)
    assert len(agent.reservoir) == 50 and np.all(np.diff(agent.reservoir) >= 0)
    assert set(agent.reservoir) <= set(values) and agent.reservoir.max() > 100  # not just the first 50


# ------------------------------------------------------------------------------------ RHO-LOSS
class MustNotRun(torch.nn.Module):
    def forward(self, *args, **kwargs):
        raise AssertionError("a cached window was forwarded again")


@pytest.mark.parametrize("soft", [False, True])
def test_rho_loss_ranks_by_reducible_loss(soft):
    info = hand_info()
    il = np.array([4.9, 1.0, 2.0, 5.9, 1.5, 0.5])
    agent = RhoLossAgent(soft=soft, temperature=0.5)
    agent.reference.model = MustNotRun()  # known IL values come from the cache instead
    agent.reference.cache = {row.tobytes(): v for row, v in zip(info["token_ids"], il, strict=True)}
    w = agent.act(None, info)
    reducible = info["loss"] - il  # [0.1, 3, 1, 0.1, 0.5, 0.5]
    if soft:
        np.testing.assert_allclose(w, softmax(reducible, 0.5), rtol=1e-5)
    else:
        assert int(np.argmax(w)) == 1 != int(np.argmax(info["loss"]))


def test_rho_loss_trains_its_il_model_on_d_by_default_and_reads_no_label(monkeypatch):
    env = make_tiny(task="noisy")
    agent = RhoLossAgent(il_steps=2)
    data = env.unwrapped.data
    assert np.array_equal(agent.il_windows(env, np.random.default_rng(0)), data.heldout.ids)
    monkeypatch.setattr(data, "stream_pools", None)  # the default never looks at the labelled pools
    agent.setup(env, seed=1)
    assert agent.il_model is not None
    with pytest.raises(ValueError, match="holdout_windows=16 contradicts il_data='heldout'"):
        RhoLossAgent(holdout_windows=16)
    with pytest.raises(ValueError, match="il_data must be one of"):
        RhoLossAgent(il_data="test")


def test_rho_loss_starts_its_il_model_from_the_base_model_in_a_warm_run(monkeypatch):
    from curriculum_env import base_model

    monkeypatch.setattr(base_model, "RECIPE", base_model.BaseRecipe(steps=4, batch_size=8, warmup_steps=1))
    env = make_tiny(task="noisy", init="base", lr=1e-4)
    env.reset(seed=0)
    learner = env.unwrapped.learner
    before = {k: v.clone() for k, v in learner.model.state_dict().items()}
    agent = RhoLossAgent(il_steps=1, il_batch_size=2)
    steps = []
    monkeypatch.setattr(torch.optim.AdamW, "step", lambda self, *a, **k: steps.append(self.param_groups[0]["lr"]))
    agent.setup(env, seed=1)  # one step that changes nothing (patched): the IL model is the base model
    assert steps == [1e-4]  # fine-tuned at the run's LR, not il_lr
    il = agent.il_model.state_dict()
    assert il.keys() == before.keys() and agent.il_model is not learner.model
    for k, v in before.items():
        torch.testing.assert_close(il[k], v, rtol=0, atol=0)
        torch.testing.assert_close(learner.model.state_dict()[k], v, rtol=0, atol=0)  # the learner untouched
    cold = RhoLossAgent(il_steps=1, il_init="random")
    cold.setup(env, seed=1)
    assert cold.il_model.config.n_layer == 1 and cold.il_model.config.n_embd == 32
    assert learner.pretrained_start() is not None and make_tiny().unwrapped.learner.pretrained_start() is None
    with pytest.raises(ValueError, match="il_init must be one of"):
        RhoLossAgent(il_init="base")


def test_rho_loss_labelled_il_model_is_seeded_cached_and_disjoint():
    env = make_tiny(task="noisy")
    before = torch.get_rng_state()
    agents = [RhoLossAgent(il_data="labelled", il_steps=3, holdout_windows=16) for _ in range(2)]
    for a in agents:
        a.setup(env, seed=5)
    assert torch.equal(before, torch.get_rng_state())  # global RNG untouched
    data = env.unwrapped.data
    holdout = agents[0].reserve_holdout(env, np.random.default_rng(5))
    reserved = {r.tobytes() for r in holdout}
    assert not reserved & {r.tobytes() for r in data.heldout.ids}
    assert not reserved & {r.tobytes() for r in data.test.ids}
    _, info = env.reset(seed=0)
    il = agents[0].irreducible_loss(info["token_ids"])
    assert agents[0].metrics()["rho/il_forwarded"] == len(info["token_ids"])
    with torch.no_grad():
        direct = window_losses(agents[1].il_model, torch.from_numpy(info["token_ids"])).numpy()
    np.testing.assert_allclose(il, direct, rtol=1e-5)  # same seed, same IL model
    agents[0].reference.model = MustNotRun()
    np.testing.assert_allclose(agents[0].irreducible_loss(info["token_ids"]), il)
    assert agents[0].metrics()["rho/il_forwarded"] == 0


# ------------------------------------------------------------------------------------ harness
BASELINES = ["random", "random@action_mode=select", "loss", "loss@soft=True", "uncertainty", "uncertainty@soft=True",
             "competence",
             "rho_loss", "rho_loss_labelled", "oracle"]
FAST = {"rho_loss": dict(il_steps=2), "rho_loss_labelled": dict(il_steps=2, holdout_windows=16)}


@pytest.fixture(scope="module")
def envs():
    made = {mode: make_tiny(task="noisy", action_mode=mode) for mode in ("mixture", "select")}
    yield made
    for env in made.values():
        env.close()


@pytest.mark.parametrize("name", BASELINES)
def test_every_baseline_runs_through_rollout(name, envs):
    rewards = []
    for _ in range(2):
        agent = make_agent(name, **FAST.get(name, {}))
        assert agent.name == name
        trace: list[float] = []
        last = rollout(envs[agent.action_mode], agent, 3, seed=0,
                       on_step=lambda rec, t=trace: rec.step and t.append(rec.reward))
        assert last["step"] == 3 and all(np.isfinite(trace)) and isinstance(agent.metrics(), dict)
        rewards.append(trace)
    assert rewards[0] == rewards[1]  # deterministic from the seed


@pytest.mark.parametrize("name", ["loss", "competence", "oracle"])
def test_select_mode_runs_through_rollout(name, envs):
    last = rollout(envs["select"], make_agent(name, action_mode="select"), 3, seed=1)
    assert last["examples_trained"] == 3
