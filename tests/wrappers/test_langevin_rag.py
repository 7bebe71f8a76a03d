"""The LangevinRAG wrapper (Algorithm 2) over a tiny env, env.set_candidates, and the harness agent."""

from __future__ import annotations

import math
import time
import warnings

import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

from agents import make_agent, rollout
from curriculum_env.retrieval import HashEmbedder, content_key
from curriculum_env.wrappers.langevin_rag import LangevinRAG, LangevinRAGConfig
from curriculum_env.wrappers.sgld import SGLDConfig
from tests.conftest import make_tiny

N = 8  # tiny env candidates
TINY_RAG = dict(sgld=SGLDConfig(steps=3, query_length=8, num_chains=4), buffer_size=64, n_ingest=16,
                top_k=4, progress=False)
EXPECTED_GYM = ("minimum value is -infinity", "maximum value is infinity", "different from the unwrapped")


def head(d: int = 32) -> torch.nn.Module:
    g = torch.Generator().manual_seed(0)
    q = torch.nn.Linear(d, 1)
    with torch.no_grad():
        q.weight.copy_(torch.randn(1, d, generator=g) / math.sqrt(d))
        q.bias.zero_()
    return q


def make_wrapped(task: str = "noisy", timings: bool = False, **overrides) -> LangevinRAG:
    return LangevinRAG(make_tiny(task=task, timings=timings), q_fn=head(),
                       config=LangevinRAGConfig(**{**TINY_RAG, **overrides}), embedder=HashEmbedder(32))


def test_check_env_passes():
    env = make_wrapped()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env, skip_render_check=False)
    assert [str(w.message) for w in caught if not any(e in str(w.message) for e in EXPECTED_GYM)] == []


def test_candidates_are_n_distinct_retrieved_windows_from_the_ring():
    env = make_wrapped()
    obs, info = env.reset(seed=1)
    ring_keys = {int(k) for k in env.ring.keys[: len(env.ring)]}  # retrieval at reset follows the fill
    for _ in range(2):
        keys = [content_key(row) for row in info["token_ids"]]
        assert obs.shape == (N, 32) and len(set(keys)) == N  # always exactly N distinct windows
        assert set(keys) <= ring_keys  # every candidate is a window of the ring it was retrieved from
        assert 1 <= info["rag/retrieved"] <= 4 and info["rag/sampled"].sum() == info["rag/retrieved"]
        assert np.all(np.isfinite(info["rag/score"])) and set(info["rag/query"]) <= set(range(4))
        assert len(info["rag/queries"]) == 4
        ring_keys = {int(k) for k in env.ring.keys[: len(env.ring)]}  # the next retrieval precedes the refresh
        obs, reward, terminated, truncated, info = env.step(np.ones(N, np.float32))
        assert np.isfinite(reward) and not terminated


def test_ring_is_filled_and_refreshed_from_the_env_stream():
    env = make_wrapped(buffer_size=64, n_ingest=20)
    _, info = env.reset(seed=0)
    stream = env.unwrapped.stream
    assert len(env.ring) == 64 and env.ring.added == 64 == info["examples_streamed"]  # 8 batches of 8
    _, _, _, _, info = env.step(np.ones(N, np.float32))
    # the env's own fresh batch plus two more: 20 rounded up to whole batches of 8
    assert info["rag/ingested"] == 24 and env.ring.added == 88 == info["examples_streamed"] == stream.examples_streamed
    # the newest windows are the stream's latest, at most once per epoch: no duplicates in a fresh ring
    assert len({int(k) for k in env.ring.keys}) == 64


def test_deterministic_from_the_seed():
    runs = []
    for _ in range(2):
        env = make_wrapped()
        _, info = env.reset(seed=7)
        trace = [info["token_ids"].copy()]
        for _ in range(2):
            _, reward, _, _, info = env.step(np.ones(N, np.float32))
            trace += [info["token_ids"].copy(), reward, info["langevin/q_final"]]
        runs.append(trace)
    for a, b in zip(*runs, strict=True):
        np.testing.assert_array_equal(a, b)


def test_diagnostics_and_timings_in_info():
    plain = make_wrapped()
    plain.reset(seed=0)
    assert not [k for k in plain.step(np.ones(N, np.float32))[4] if k.startswith("time/")]  # timings are opt-in
    env = make_wrapped(timings=True)
    runs = []  # (generator state before the search, its result) of each SGLD search
    search = env.sgld.run

    def spy(q_fn, gen, k):
        start = gen.get_state()
        result = search(q_fn, gen, k)
        runs.append((start, result))
        return result

    env.sgld.run = spy
    _, info = env.reset(seed=0)
    t0 = time.perf_counter()
    _, _, _, _, info = env.step(np.ones(N, np.float32))
    wall = time.perf_counter() - t0
    for key in ("q_init", "q_final", "q_gain", "q_random", "q_tokens", "entropy", "max_prob", "cosine", "jaccard",
                "grad_norm", "clip_fraction"):
        assert np.isfinite(info[f"langevin/{key}"]), key
    # Q before and after the search recomputed here on the fixed Q-net: the chains' start redrawn from the
    # generator, soft embeddings softmax(lambda / tau_end) W_e through the LM; the search raised Q
    start, result = runs[-1]
    cfg, learner = env.config.sgld, env.unwrapped.learner
    vocab = len(learner.tokenizer)
    tokens = torch.randint(vocab, (cfg.num_chains, cfg.query_length), generator=torch.Generator().set_state(start))
    lam0 = torch.nn.functional.one_hot(tokens, vocab).float() * cfg.init_logit  # [K, L, V]
    w_e = learner.input_embeddings.detach()[:vocab]
    with torch.no_grad():
        q_at = lambda lam: env.q_fn(learner.hidden(inputs_embeds=torch.softmax(lam / cfg.tau_end, -1) @ w_e))
        q0, q1 = float(q_at(lam0).mean()), float(q_at(result.logits).mean())
        q_hard = float(env.q_fn(learner.hidden(input_ids=result.logits.argmax(-1))).mean())
    assert info["langevin/q_init"] == pytest.approx(q0, rel=1e-5, abs=1e-6)
    assert info["langevin/q_final"] == pytest.approx(q1, rel=1e-5, abs=1e-6)
    assert info["langevin/q_tokens"] == pytest.approx(q_hard, rel=1e-5, abs=1e-6)
    assert info["langevin/q_gain"] == pytest.approx(q1 - q0, rel=1e-4, abs=1e-6) and q1 - q0 > 0.1
    assert 0 <= info["langevin/clip_fraction"] <= 1 and 0 < info["langevin/max_prob"] <= 1
    # each phase is timed inside this step, one after the other: each took time, together no more than it
    phases = [float(info[f"time/{key}"]) for key in ("sgld", "retrieval", "ingest", "update", "reward", "forward")]
    assert all(t > 0 for t in phases) and sum(phases) <= wall
    assert all(p.grad is None for p in env.unwrapped.learner.parameters())  # SGLD left theta's grads alone


def test_wrapper_needs_q_fn_and_the_curriculum_env():
    env = LangevinRAG(make_tiny(), config=LangevinRAGConfig(**TINY_RAG), embedder=HashEmbedder(32))
    with pytest.raises(RuntimeError, match="q_fn"):
        env.reset(seed=0)
    import gymnasium as gym

    with pytest.raises(TypeError, match="CurriculumSelect"):
        LangevinRAG(gym.make("CartPole-v1"), q_fn=head())
    with pytest.raises(ValueError, match="query_length"):
        make_wrapped(sgld=SGLDConfig(query_length=64))


def test_set_candidates_validates_and_leaves_the_env_unchanged():
    env = make_tiny()
    obs, info = env.reset(seed=0)
    base = env.unwrapped
    bad = [
        (np.zeros((N - 1, 32), np.int64), "shape"),
        (np.zeros((N, 32), np.float32), "integers"),
        (np.full((N, 32), 10**6), r"\[0, "),
    ]
    for ids, match in bad:
        with pytest.raises(ValueError, match=match):
            base.set_candidates(ids, info["source"], info["rarity"], info["length"])
    with pytest.raises(ValueError, match="source"):
        base.set_candidates(info["token_ids"], info["source"][:2], info["rarity"], info["length"])
    np.testing.assert_array_equal(base.observation()[0], obs)
    np.testing.assert_array_equal(base.observation()[1]["token_ids"], info["token_ids"])
    new_ids = np.roll(info["token_ids"], 1, axis=0)
    obs2, info2 = base.set_candidates(new_ids, np.roll(info["source"], 1), info["rarity"], info["length"])
    np.testing.assert_allclose(obs2, np.roll(obs, 1, axis=0), atol=1e-5)  # re-scored under the same theta
    assert info2["examples_streamed"] == info["examples_streamed"]  # not counted as streamed


def test_agent_learns_q_and_trains_on_retrieved_windows():
    agent = make_agent("langevin_rag_paper", wrapper=TINY_RAG)
    env = LangevinRAG(make_tiny(task="noisy"), config=agent.config.wrapper, embedder=HashEmbedder(32))
    seen = []
    rollout(env, agent, steps=3, seed=0, on_step=lambda rec: rec.step and seen.append((rec.info, rec.metrics)))
    assert env.q_fn is agent.q  # the wrapper's energy is the agent's online Q
    assert len(seen) == 3
    (prev, _), (info, metrics) = seen[-2:]
    w = info["weights"]  # the weights of the step just taken, over the candidates retrieved before it
    np.testing.assert_allclose(w[prev["rag/sampled"]], 1.0 / prev["rag/retrieved"], rtol=1e-5)  # uniform 1/R
    assert np.all(w[~prev["rag/sampled"]] == 0)
    assert np.isfinite(metrics["td/loss"]) and "langevin/q_gain" in metrics
    before = [p.detach().clone() for p in agent.q.parameters()]
    reward = float(info["reward"])
    obs = np.asarray(env.unwrapped.observation()[0])
    agent.act(obs, info)
    agent.observe(reward, obs, info, False, False)
    assert any(not torch.equal(a, b) for a, b in zip(before, agent.q.parameters(), strict=True))  # TD step moved phi


def test_agent_drive_wraps_a_plain_env():
    agent = make_agent("langevin_rag_paper", wrapper={**TINY_RAG, "embedder": "hash-32"}, q_weighting=True)
    out = rollout(make_tiny(), agent, steps=2, seed=0)
    assert out["step"] == 2 and np.isfinite(out["reward"])


# ------------------------------------------------------------------------------------ the default agent
RAG = dict(embedder="hash-32", ring_size=64, n_fresh=2, queries=2, reference_steps=20)


def test_default_agent_queries_with_its_highest_q_windows_and_trains_b():
    agent = make_agent("langevin_rag", **RAG, query="windows")
    env = make_tiny(task="mixed", train_batch=2, action_mode="mixture", **agent.env_kwargs)
    seen = []
    rollout(env, agent, 4, seed=0, on_step=lambda rec: rec.step and seen.append((rec.info, rec.metrics)))
    for i, (info, m) in enumerate(seen):
        assert info["examples_trained"] == 2 * (i + 1) and len(info["trained"]) == 2
        assert info["rag/retrieved"] == N - 2  # the next candidates: retrieved for this step's queries
        if i:  # the metrics describe the candidates acted on; the reset's were the stream's own
            assert sum(m[f"retrieved/{s}"] for s in ("prose", "code")) == pytest.approx(1.0)
    assert agent.queries.shape == (2, 32)  # query="windows": the two highest-Q candidates' embeddings
    assert agent.source.ring is not None and env.unwrapped.candidate_source is agent.source


def test_default_agent_is_deterministic_and_refuses_bad_options():
    runs = []
    for _ in range(2):
        agent = make_agent("langevin_rag", **RAG)
        env = make_tiny(task="noisy", train_batch=2, action_mode="mixture", **agent.env_kwargs)
        trace = []
        rollout(env, agent, 3, seed=5,
                on_step=lambda rec, t=trace: t.append((rec.info["token_ids"].copy(), rec.reward)))
        runs.append(trace)
    for (ids_a, r_a), (ids_b, r_b) in zip(*runs, strict=True):
        np.testing.assert_array_equal(ids_a, ids_b)
        assert r_a == r_b
    with pytest.raises(ValueError, match="queries"):
        make_agent("langevin_rag", queries=0)
    with pytest.raises(ValueError, match="embedder"):
        make_agent("langevin_rag", embedder="word2vec")
    agent = make_agent("langevin_rag", **{**RAG, "n_fresh": 99})
    with pytest.raises(ValueError, match="n_fresh"):
        agent.setup(make_tiny(train_batch=2, **agent.env_kwargs), 0)


def test_the_chooser_is_the_registered_soft_q_and_langevin_rag_lm_keeps_the_lm_reading_one():
    from agents import SOFT_Q
    from agents.soft_q import SoftQAgent
    from agents.soft_q_cheap import CheapSoftQAgent

    assert type(make_agent("langevin_rag").chooser) is CheapSoftQAgent
    assert make_agent("langevin_rag").env_kwargs == CheapSoftQAgent().env_kwargs  # no LM forward of the candidates
    lm = make_agent("langevin_rag_lm@beta=0.2").chooser
    assert type(lm) is SoftQAgent and lm.config == SoftQAgent(**{**SOFT_Q, "beta": 0.2}).config
    with pytest.raises(ValueError, match="chooser"):
        make_agent("langevin_rag@chooser=soft_q_paper")
