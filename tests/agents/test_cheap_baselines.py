"""The cheap data-selection baselines (DSIR, the hashed-n-gram classifier, ODM): each one's numbers
recomputed by hand on a tiny example, then run in a tiny env (exactly B trained, seeded, FLOPs charged)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from agents import make_agent
from agents.base import gumbel_top_k
from agents.classifier import ClassifierAgent
from agents.dsir import DSIRAgent
from agents.hashed_ngrams import hashed_ngrams
from agents.odm import ODMAgent
from tests.conftest import make_tiny

B = 2
K = 8  # buckets of the hand examples
D_IDS = np.array([[1, 2, 3], [2, 3, 4]], dtype=np.int64)  # the held-out windows of the hand examples
CANDIDATES = np.array([[1, 2, 3], [5, 6, 7], [2, 3, 9]], dtype=np.int64)
NAMES = ("dsir", "classifier", "odm")


def hand_buckets(window) -> list[int]:
    """The documented hash, in Python integers: unigram a -> key 2a, bigram (a, b) -> 2(a 2^32 + b) + 1,
    bucket = ((key * 0x9E3779B97F4A7C15) mod 2^64 >> 32) mod K."""
    window = [int(a) for a in window]
    keys = [2 * a for a in window] + [2 * (a * 2**32 + b) + 1 for a, b in zip(window[:-1], window[1:], strict=True)]
    return [(((key * 0x9E3779B97F4A7C15) % 2**64) >> 32) % K for key in keys]


def hand_counts(windows) -> np.ndarray:
    counts = np.zeros(K)
    for window in windows:
        for k in hand_buckets(window):
            counts[k] += 1
    return counts


class FlopLog:
    """A learner stub that records what agents charge."""

    def __init__(self):
        self.calls: list[tuple[float, str]] = []

    def add_flops(self, flops, phase=None):
        self.calls.append((flops, phase))


def stub_env(heldout=D_IDS, train_batch=B):
    """Just what the agents may read: the budget, D's windows and the learner (no task, so no target label)."""
    env = SimpleNamespace(config=SimpleNamespace(train_batch=train_batch), learner=FlopLog(), spec=None,
                          data=SimpleNamespace(heldout=SimpleNamespace(ids=heldout)))
    env.unwrapped = env
    return env


def test_hashed_ngrams_are_the_documented_hash():
    ids = np.array([[0, 7, 2**31 - 1, 40000], [5, 5, 5, 5]])
    expected = [hand_buckets(row) for row in ids]
    np.testing.assert_array_equal(hashed_ngrams(ids, K), expected)
    assert hashed_ngrams(ids, K).shape == (2, 7)  # L unigrams + L - 1 bigrams
    with pytest.raises(ValueError, match="token ids"):
        hashed_ngrams(np.array([[-1, 2]]), K)


# ------------------------------------------------------------------------------------ DSIR
@pytest.mark.parametrize("alpha", [1.0, 0.5])
def test_dsir_scores_are_the_hashed_log_ratio_by_hand(alpha):
    env = stub_env()
    agent = DSIRAgent(buckets=K, alpha=alpha)
    agent.setup(env, 0)
    target = hand_counts(D_IDS)
    log_d = np.log((target + alpha) / (target.sum() + alpha * K))
    raw = np.zeros(K)
    for step, windows in enumerate([CANDIDATES, CANDIDATES[::-1] + 1]):
        raw += hand_counts(windows)  # every candidate shown so far, this step's included
        log_raw = np.log((raw + alpha) / (raw.sum() + alpha * K))
        score = np.array([sum(log_d[k] - log_raw[k] for k in hand_buckets(w)) for w in windows])
        w = agent.act(None, {"token_ids": windows})
        best = np.argsort(-score, kind="stable")[:B]
        np.testing.assert_allclose(w, np.isin(np.arange(3), best) / B)
        assert agent.metrics()["dsir/score_max"] == pytest.approx(score.max())
        f = 2 * windows.shape[1] - 1
        setup = len(D_IDS) * f + 2 * K if step == 0 else 0  # fitting p_D (|D| F + 2K), at the first step
        assert env.learner.calls[step] == (pytest.approx(setup + 3 * len(windows) * f + 3 * K), "agent")
    np.testing.assert_allclose(agent.raw_counts, raw)


def test_dsir_gumbel_resampling_draws_from_exp_score():
    agent = DSIRAgent(buckets=K, resample="gumbel")
    agent.setup(stub_env(), 7)
    top = DSIRAgent(buckets=K)
    top.setup(stub_env(), 7)
    top.act(None, {"token_ids": CANDIDATES})
    score = top.log_ratio()[hashed_ngrams(CANDIDATES, K)].sum(1)  # the same counts: the same scores
    w = agent.act(None, {"token_ids": CANDIDATES})
    chosen = gumbel_top_k(score, B, np.random.default_rng(7))  # the agent's generator, freshly seeded
    np.testing.assert_allclose(w, np.isin(np.arange(3), chosen) / B)
    sel = DSIRAgent(buckets=K, resample="gumbel", action_mode="select")
    sel.setup(stub_env(), 7)
    assert sel.act(None, {"token_ids": CANDIDATES}) == chosen[0]


# ------------------------------------------------------------------------------------ classifier
def test_classifier_sgd_and_logits_by_hand():
    lr, seed = 0.5, 3
    env = stub_env()
    agent = ClassifierAgent(buckets=K, lr=lr, batch_size=2, init_steps=2, update_steps=1)
    agent.setup(env, seed)
    rng = np.random.default_rng(seed)  # replays the agent's draws
    phi_d = np.stack([hand_counts([w]) for w in D_IDS])
    phi_d /= np.linalg.norm(phi_d, axis=1, keepdims=True)  # the bag normalised to unit length
    w, b = np.zeros(K), 0.0
    for steps, windows in [(2, CANDIDATES), (1, CANDIDATES + 3)]:
        phi = np.stack([hand_counts([x]) for x in windows])
        phi /= np.linalg.norm(phi, axis=1, keepdims=True)
        for _ in range(steps):  # SGD on m = 2 windows of D (y = 1) and 2 candidates (y = 0)
            pos = rng.choice(len(D_IDS), size=2, replace=False)
            neg = rng.choice(len(windows), size=2, replace=False)
            x = np.concatenate([phi_d[pos], phi[neg]])
            y = np.array([1.0, 1.0, 0.0, 0.0])
            g = 1 / (1 + np.exp(-(x @ w + b))) - y
            w, b = w - lr * (g @ x) / 4, b - lr * g.mean()
        z = phi @ w + b
        action = agent.act(None, {"token_ids": windows})
        np.testing.assert_allclose(agent.w, w, rtol=1e-10, atol=1e-12)
        assert agent.b == pytest.approx(b)
        np.testing.assert_allclose(action, np.isin(np.arange(3), np.argsort(-z, kind="stable")[:B]) / B)
        assert agent.metrics()["classifier/score_max"] == pytest.approx(z.max())
        f = 2 * windows.shape[1] - 1  # FLOPs: 12 m F per SGD step, 4 F per scored window (norm, logit),
        setup = 2 * len(D_IDS) * f if steps == 2 else 0  # and D's norms (2 F each) at the first step
        assert env.learner.calls[-1] == (pytest.approx(setup + steps * 12 * 2 * f + 4 * 3 * f), "agent")


# ------------------------------------------------------------------------------------ ODM
def test_odm_exp3_policy_and_smoothed_reward_by_hand():
    agent = ODMAgent(alpha=0.9)
    env = stub_env()
    agent.setup(env, 0)
    info = {"source": np.array(["a", "b", "b", "b"], dtype=object)}
    w = agent.act(None, info)  # t = 1, K = 2: eps_1 = min(1/2, sqrt(ln 2 / 2)) = 1/2 -> uniform
    np.testing.assert_allclose(agent.pi, [0.5, 0.5])
    chosen = np.flatnonzero(w)
    assert len(chosen) == B and np.allclose(w[chosen], 1 / B)
    losses = np.array([3.0, 5.0], dtype=np.float32)
    agent.observe(0.0, None, {"trained": chosen, "trained_loss": losses, "trained_source": info["source"][chosen]},
                  False, False)
    r_hat = np.zeros(2)
    for j, label in enumerate("ab"):
        mine = info["source"][chosen] == label
        if mine.any():
            r_hat[j] = 0.9 * 0.0 + 0.1 * losses[mine].mean() / 0.5  # R_hat was 0, pi_1 = 1/2
    np.testing.assert_allclose(agent.estimated_reward, r_hat)
    agent.act(None, info)  # t = 2: eps_2 = sqrt(ln 2 / 4), softmax scaled by eps_1 = 1/2
    eps = math.sqrt(math.log(2) / 4)
    soft = np.exp(0.5 * r_hat) / np.exp(0.5 * r_hat).sum()
    np.testing.assert_allclose(agent.pi, (1 - 2 * eps) * soft + eps)
    assert agent.metrics()["odm/eps"] == pytest.approx(eps)
    info3 = {"source": np.array(["c", "a", "b", "c"], dtype=object)}  # a new label joins with R_hat = 0
    agent.act(None, info3)
    assert agent.labels == ["a", "b", "c"] and agent.estimated_reward[2] == 0.0
    eps3, eps2 = (min(1 / 3, math.sqrt(math.log(3) / (3 * t))) for t in (3, 2))
    z = eps2 * agent.estimated_reward
    np.testing.assert_allclose(agent.pi, (1 - 3 * eps3) * np.exp(z) / np.exp(z).sum() + eps3)
    assert [c[1] for c in env.learner.calls] == ["agent"] * 3 and env.learner.calls[0][0] == 5 * 2


def test_odm_draws_sources_from_pi_restricted_to_those_left():
    agent = ODMAgent(action_mode="select")
    agent.setup(stub_env(), 1)
    agent.labels, agent.estimated_reward, agent.t = ["a", "b"], np.array([10.0, 0.0]), 20
    info = {"source": np.array(["a", "b", "b", "b"], dtype=object)}
    picks = []
    for _ in range(3000):
        agent.t = 20  # every act at t = 21: one pi
        picks.append(agent.act(None, info))
    eps, eps_prev = math.sqrt(math.log(2) / 42), math.sqrt(math.log(2) / 40)
    pi_a = (1 - 2 * eps) / (1 + math.exp(-10 * eps_prev)) + eps  # ~0.71
    np.testing.assert_allclose(agent.pi[0], pi_a)
    assert np.mean(np.array(picks) == 0) == pytest.approx(pi_a, abs=0.03)
    assert set(picks) == {0, 1, 2, 3}
    mix = ODMAgent()
    mix.setup(stub_env(train_batch=3), 1)
    for _ in range(50):  # B = 3 of [a, b, b, b]: "a" at most once, all distinct
        w = mix.act(None, info)
        assert np.count_nonzero(w) == 3 and np.allclose(w[w > 0], 1 / 3)
    no_budget = ODMAgent()
    no_budget.setup(stub_env(train_batch=None), 1)
    np.testing.assert_allclose(no_budget.act(None, info), [0.5, 1 / 6, 1 / 6, 1 / 6])  # pi spread per source


# ------------------------------------------------------------------------------------ protocol
def test_configs_refuse_bad_values():
    for spec, kwargs, match in [("dsir", {"buckets": 1}, "buckets"), ("dsir", {"alpha": 0.0}, "alpha"),
                                ("dsir", {"resample": "sample"}, "resample"), ("classifier", {"lr": -1.0}, "lr"),
                                ("classifier", {"batch_size": 0}, "batch_size"), ("odm", {"alpha": 1.0}, "alpha"),
                                ("odm", {"action_mode": "pick"}, "action_mode")]:
        with pytest.raises(ValueError, match=match):
            make_agent(spec, **kwargs)


@pytest.mark.parametrize("name", NAMES)
def test_reads_no_lm_output_and_labels_only_where_said(name):
    agent = make_agent(name)
    assert agent.env_kwargs == {"candidate_stats": (), "compute_reward": False, "observation": "none"}
    assert getattr(agent, "reads_labels", None) == ("source" if name == "odm" else None)


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_resumes_the_same_run(name):
    rng = np.random.default_rng(0)
    infos = [{"token_ids": rng.integers(0, 50, size=(6, 5)), "source": rng.choice(["x", "y", "z"], size=6)}
             for _ in range(4)]
    heldout = rng.integers(0, 50, size=(4, 5))

    def run(agent, steps):
        out = []
        for info in steps:
            action = agent.act(None, info)
            out.append(np.array(action))
            trained = np.flatnonzero(action)
            agent.observe(0.0, None, {"trained": trained, "trained_loss": np.full(len(trained), 4.0),
                                      "trained_source": info["source"][trained]}, False, False)
        return out

    first = make_agent(name, **({} if name == "odm" else {"buckets": 64}))
    first.setup(stub_env(heldout), 5)
    run(first, infos[:2])
    state = first.state_dict()
    rest = run(first, infos[2:])
    resumed = make_agent(name, **({} if name == "odm" else {"buckets": 64}))
    resumed.setup(stub_env(heldout), 99)  # another seed: the state must carry everything
    resumed.load_state_dict(state)
    for a, b in zip(rest, run(resumed, infos[2:]), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.fixture(scope="module")
def noisy_env():
    env = make_tiny(task="noisy", train_batch=B, **make_agent("dsir").env_kwargs)  # all three ask the same
    yield env
    env.close()


def target_hits(env, name, steps, seed=0):
    """Trained target windows over ``steps`` steps, the trained index sets, the agent's and the total FLOPs."""
    agent = make_agent(name)
    agent.setup(env, seed)
    obs, info = env.reset(seed=seed)
    hits, trained = 0, []
    for _ in range(steps):
        action = agent.act(obs, info)
        obs, reward, terminated, truncated, info = env.step(action)
        agent.observe(reward, obs, info, terminated, truncated)
        assert len(info["trained"]) == B and np.count_nonzero(info["train_weights"]) == B
        hits += int(np.sum(info["trained_source"] == "prose"))  # scored here only, never read by the agents
        trained.append(tuple(info["trained"]))
    return hits, trained, info["flops/agent"], info["flops/total"]


@pytest.mark.parametrize("name", NAMES)
def test_trains_exactly_b_deterministically_and_charges_its_flops(name, noisy_env):
    hits, trained, agent_flops, total = target_hits(noisy_env, name, 4, seed=1)
    assert (hits, trained) == target_hits(noisy_env, name, 4, seed=1)[:2]
    assert 0 < agent_flops < 1e-2 * total


def test_dsir_and_classifier_train_more_target_windows_than_random(noisy_env):
    steps = 30  # a quarter of noisy's stream is prose: random trains about a quarter of the 60
    chance = target_hits(noisy_env, "random", steps)[0]
    for name in ("dsir", "classifier"):
        assert target_hits(noisy_env, name, steps)[0] >= 1.5 * chance + 5, name
