"""What a step computes, and what it costs: FLOPs per phase against the formula, the reward switched
off, the observation switched off, and the reward and next observation from one pass."""

import numpy as np
import pytest
import torch

from curriculum_env.flops import FlopModel, parameter_counts
from tests.conftest import TINY, make_tiny

N, L, B, M = TINY["num_candidates"], TINY["context_length"], 2, TINY["reward_batch"]


def _run(steps=4, seed=3, **kwargs):
    env = make_tiny(train_batch=B, **kwargs)
    obs, info = env.reset(seed=seed)
    rng = np.random.default_rng(0)
    out = []
    for _ in range(steps):
        obs, reward, _, _, info = env.step(rng.random(N).astype(np.float32))
        out.append((obs, reward, info))
    return env, out


def test_parameter_count_matches_the_gpt2_formula():
    env = make_tiny()
    env.reset(seed=0)
    model = env.unwrapped.learner.model
    d, layers, vocab = TINY["n_embd"], TINY["n_layer"], model.config.vocab_size
    block = 12 * d * d + 13 * d  # attention (4 d^2 + 4 d) + MLP (8 d^2 + 5 d) + two layer norms (4 d)
    counts = parameter_counts(model)
    assert counts["head"] == vocab * d
    assert counts["P"] == layers * block + 2 * d + vocab * d  # final layer norm; the tied W_e counted once


def test_flops_per_phase_are_the_convention_times_the_tokens():
    env, steps = _run(candidate_stats=("loss",))
    p = env.unwrapped.learner.flop_model.params
    head = env.unwrapped.learner.flop_model.head
    k = len(steps)
    info = steps[-1][2]
    assert info["flops/forward"] == 2 * p * N * L * (k + 1)  # reset + k observations, logits for the loss
    assert info["flops/update"] == 6 * p * B * L * k
    assert info["flops/reward"] == 2 * p * M * L * k
    assert info["flops/total"] == info["flops/forward"] + info["flops/update"] + info["flops/reward"]
    env, steps = _run(candidate_stats=())
    assert steps[-1][2]["flops/forward"] == 2 * (p - head) * N * L * (len(steps) + 1)  # body only: no LM head


def test_agent_flops_go_to_the_agent_phase_and_evaluation_to_none():
    env, steps = _run(steps=1)
    u = env.unwrapped
    total = u.learner.flops.total
    u.evaluate("test")
    u.evaluate_choice(2)
    assert u.learner.flops.total == total  # evaluation measures the run, it is not part of it
    u.learner.hidden(input_ids=u.data.test.ids[:3])
    u.learner.add_flops(1e6)
    body = 2 * (u.learner.flop_model.params - u.learner.flop_model.head) * 3 * L
    assert u.learner.flops.totals["agent"] == body + 1e6
    with pytest.raises(ValueError, match="non-negative"):
        u.learner.add_flops(-1.0)


def test_influence_probe_flops():
    env, steps = _run(steps=2, influence_every=1, influence_heldout=4)
    p = env.unwrapped.learner.flop_model.params
    # every observation after a step is probed (step 1, 2; reset's step 0 too): N windows + the sample, fwd+bwd
    assert steps[-1][2]["flops/influence"] == 3 * 6 * p * (N + 4) * L


def test_reward_off_trains_exactly_the_same_and_says_so():
    env_on, on = _run(compute_reward=True)
    env_off, off = _run(compute_reward=False)
    for (o1, r1, i1), (o2, r2, i2) in zip(on, off, strict=True):
        np.testing.assert_array_equal(o1, o2)  # same trained windows, same theta, same observation
        np.testing.assert_array_equal(i1["trained"], i2["trained"])
        assert r2 == 0.0 and "reward" not in i2 and i1["reward"] == r1
        assert i2["flops/reward"] == 0.0 and i2["flops/total"] < i1["flops/total"]
    assert env_on.unwrapped.evaluate() == env_off.unwrapped.evaluate()


def test_observation_none_skips_the_scoring_forward_and_trains_the_same():
    env_h, hidden = _run(candidate_stats=())
    env_n, none = _run(candidate_stats=(), observation="none", compute_reward=False)
    for (_, _, i1), (o2, _, i2) in zip(hidden, none, strict=True):
        assert not o2.any() and o2.shape == (N, TINY["n_embd"]) and o2.dtype == np.float32
        np.testing.assert_array_equal(i1["trained"], i2["trained"])
        assert i2["flops/forward"] == 0.0
    # what is left is plain training: B windows forward and backward per step
    assert none[-1][2]["flops/total"] == env_n.unwrapped.learner.flop_model.train(B * L) * len(none)
    assert env_h.unwrapped.evaluate() == env_n.unwrapped.evaluate()
    env, steps = _run(candidate_stats=("loss",), observation="none")  # statistics still computed
    assert "loss" in steps[-1][2] and not steps[-1][0].any()


@pytest.mark.parametrize("stats", [(), ("loss",), ("loss", "entropy")])
@pytest.mark.parametrize("chunk", [None, 5, 64])
def test_one_pass_gives_the_reward_and_observation_of_two(stats, chunk):
    """``score_and_log_prob`` over the M + N windows against ``log_prob`` and ``score`` apart, bit for bit."""
    env = make_tiny(eval_micro_batch_size=chunk)
    env.reset(seed=1)
    u = env.unwrapped
    learner = u.learner
    ids, ref = u.candidates.ids, u.data.heldout.ids[:M]
    scores, reward = learner.score_and_log_prob(ids, ref, stats)
    apart = learner.score(ids, with_grad=False, stats=stats)
    assert reward == learner.log_prob(ref)
    torch.testing.assert_close(scores.hidden, apart.hidden, rtol=0, atol=0)
    for name in ("loss", "entropy"):
        a, b = getattr(scores, name), getattr(apart, name)
        assert (a is None) == (b is None)
        if a is not None:
            torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_a_flop_model_of_another_model_counts_that_model():
    from transformers import GPT2Config, GPT2LMHeadModel

    model = GPT2LMHeadModel(GPT2Config(vocab_size=100, n_positions=8, n_embd=16, n_layer=1, n_head=2))
    fm = FlopModel(model)
    assert fm.params == 12 * 16 * 16 + 13 * 16 + 2 * 16 + 100 * 16 and fm.head == 100 * 16
    assert fm.train(10) == 3 * fm.forward(10) == 3 * (fm.forward(10, head=False) + 2 * fm.head * 10)
