"""The training budget (``train_batch``): exactly B of N trained, chosen by weight with random ties,
the update checked against a hand-computed step, and per-candidate statistics only when asked."""

import copy

import numpy as np
import pytest
import torch

from tests.conftest import make_tiny
from tests.env.test_dynamics import explicit_step, params


def test_trains_exactly_the_b_largest_weights_with_weight_one_over_b():
    env = make_tiny(train_batch=3)
    env.reset(seed=0)
    w = np.array([0.1, 0.9, 0.0, 0.5, 0.2, 0.8, 0.3, 0.05], dtype=np.float32)
    for step in range(1, 4):
        sources = env.unwrapped.candidates.source.copy()  # the candidates this action weights
        _, _, _, _, info = env.step(w)
        np.testing.assert_array_equal(info["trained"], [1, 3, 5])
        np.testing.assert_array_equal(info["trained_source"], sources[[1, 3, 5]])
        np.testing.assert_allclose(info["train_weights"][[1, 3, 5]], 1 / 3)
        assert np.count_nonzero(info["train_weights"]) == 3
        assert info["examples_trained"] == 3 * step
        assert info["tokens_trained"] == 3 * step * env.unwrapped.config.context_length
        assert info["effective_batch"] == pytest.approx(3)


def test_budgeted_update_equals_the_hand_computed_step_on_the_chosen_b():
    env = make_tiny(train_batch=3, micro_batch_size=2)  # 2 chunks of accumulation
    env.reset(seed=2)
    _, _, _, _, info = env.step(np.ones(8, dtype=np.float32))  # non-trivial optimizer state first
    learner = env.unwrapped.learner
    w = np.array([0.0, 3.0, 0.0, 1.0, 0.0, 0.0, 2.0, 0.0], dtype=np.float32)
    expected_w = (w > 0) / 3.0
    expected = explicit_step(learner.model, learner.optimizer.state_dict(), info["token_ids"], expected_w,
                             lr=env.unwrapped.config.lr, clip=env.unwrapped.config.grad_clip)
    env.step(w)
    torch.testing.assert_close(params(learner.model), params(expected), rtol=1e-5, atol=1e-6)


def test_action_weighting_keeps_the_agents_weights_renormalised_over_the_b():
    env = make_tiny(train_batch=2, train_weighting="action")
    env.reset(seed=1)
    w = np.array([0.1, 0.6, 0.0, 0.2, 0.0, 0.0, 0.05, 0.05], dtype=np.float32)
    _, _, _, _, info = env.step(w)
    np.testing.assert_array_equal(info["trained"], [1, 3])
    np.testing.assert_allclose(info["train_weights"][[1, 3]], [0.75, 0.25], rtol=1e-6)


def test_equal_weights_give_a_uniformly_random_subset_from_the_envs_generator():
    env = make_tiny(train_batch=2)
    env.reset(seed=3)
    counts = np.zeros(8)
    subsets = set()
    for _ in range(120):
        _, _, _, _, info = env.step(np.ones(8, dtype=np.float32))
        counts[info["trained"]] += 1
        subsets.add(tuple(info["trained"]))
    # each candidate is in a uniform 2-of-8 subset with probability 1/4: 30 of 120 expected
    assert counts.min() > 12 and counts.max() < 50, counts
    assert len(subsets) > 15
    again = make_tiny(train_batch=2)
    again.reset(seed=3)
    first = [tuple(again.step(np.ones(8, dtype=np.float32))[4]["trained"]) for _ in range(5)]
    env.reset(seed=3)
    assert first == [tuple(env.step(np.ones(8, dtype=np.float32))[4]["trained"]) for _ in range(5)]


def test_fewer_positive_weights_than_b_are_filled_at_random():
    env = make_tiny(train_batch=3)
    env.reset(seed=4)
    w = np.zeros(8, dtype=np.float32)
    w[5] = 1.0
    fills = set()
    for _ in range(10):
        _, _, _, _, info = env.step(w)
        assert 5 in info["trained"] and len(info["trained"]) == 3
        fills.update(set(info["trained"]) - {5})
    assert len(fills) > 3


def test_select_mode_trains_the_chosen_candidate_and_b_minus_1_at_random():
    env = make_tiny(action_mode="select", train_batch=2)
    env.reset(seed=5)
    others = set()
    for _ in range(8):
        _, _, _, _, info = env.step(6)
        assert 6 in info["trained"] and len(info["trained"]) == 2
        others.update(set(info["trained"]) - {6})
    assert len(others) > 2


def test_the_budget_changes_neither_the_stream_nor_the_reward_sample_across_agents():
    """Every step draws the same random numbers whatever the action: two different agents see the
    same candidates and the same held-out sample."""
    a, b = make_tiny(train_batch=2, reward_batch=4), make_tiny(train_batch=2, reward_batch=4)
    _, info_a = a.reset(seed=7)
    _, info_b = b.reset(seed=7)
    for i in range(4):
        rng_a, rng_b = copy.deepcopy(a.unwrapped.np_random), copy.deepcopy(b.unwrapped.np_random)
        assert rng_a.bit_generator.state == rng_b.bit_generator.state
        _, _, _, _, info_a = a.step(np.eye(8, dtype=np.float32)[i])
        _, _, _, _, info_b = b.step(np.ones(8, dtype=np.float32))
        np.testing.assert_array_equal(info_a["token_ids"], info_b["token_ids"])


def test_observation_forward_runs_without_gradients_under_a_budget():
    env = make_tiny(train_batch=2)
    env.reset(seed=0)
    assert not env.unwrapped.fused
    assert not env.unwrapped.observation_holds_graph
    assert make_tiny(fused_forward=True).unwrapped.fused  # the all-N mixture may fuse when asked


@pytest.mark.parametrize("bad", [0, 9, -1, 2.0, True, "4"])
def test_a_bad_budget_is_a_clear_error_at_make(bad):
    with pytest.raises(ValueError, match="train_batch"):
        make_tiny(train_batch=bad)


def test_contradicting_or_unknown_budget_options_name_the_fields():
    with pytest.raises(ValueError, match="train_weighting.*train_batch"):
        make_tiny(train_weighting="action")
    with pytest.raises(ValueError, match="train_weighting must be one of"):
        make_tiny(train_batch=2, train_weighting="softmax")
    with pytest.raises(ValueError, match="train_weighting='action' with action_mode='select'"):
        make_tiny(train_batch=2, train_weighting="action", action_mode="select")
    make_tiny(train_batch=1, train_weighting="action", action_mode="select")  # B = 1 trains the chosen one
    with pytest.raises(ValueError, match="unknown statistic"):
        make_tiny(candidate_stats=("loss", "gradient"))


def test_too_few_positive_weights_for_action_weighting_raise_and_change_nothing():
    env = make_tiny(train_batch=3, train_weighting="action")
    env.reset(seed=0)
    u = env.unwrapped
    state = copy.deepcopy(u.np_random.bit_generator.state)
    before = params(u.learner.model).clone()
    w = np.zeros(8, dtype=np.float32)
    w[:2] = 1.0
    with pytest.raises(ValueError, match="at least train_batch=3 positive weights"):
        env.step(w)
    assert u.np_random.bit_generator.state == state
    torch.testing.assert_close(params(u.learner.model), before, rtol=0, atol=0)
    assert u.examples_trained == 0


@pytest.mark.parametrize("stats", [(), ("loss",), ("entropy",), ("loss", "entropy")])
def test_candidate_stats_are_computed_only_when_asked_and_match_the_model(stats):
    env = make_tiny(train_batch=2, candidate_stats=stats)
    obs, info = env.reset(seed=1)
    learner = env.unwrapped.learner
    ids = torch.as_tensor(info["token_ids"])
    with torch.no_grad():
        out = learner.model(input_ids=ids, output_hidden_states=True)
        logp = out.logits[:, :-1].log_softmax(-1)
        nll = -logp.gather(-1, ids[:, 1:, None]).squeeze(-1).mean(-1)
        ent = -(logp.exp() * logp).sum(-1).mean(-1)
    np.testing.assert_allclose(obs, out.hidden_states[-1][:, -1].numpy(), rtol=1e-5, atol=1e-6)
    assert ("loss" in info) == ("loss" in stats) and ("entropy" in info) == ("entropy" in stats)
    if "loss" in stats:
        np.testing.assert_allclose(info["loss"], nll.numpy(), rtol=1e-5)
    if "entropy" in stats:
        np.testing.assert_allclose(info["entropy"], ent.numpy(), rtol=1e-5)


def test_same_seed_and_actions_under_a_budget_give_identical_runs():
    rng = np.random.default_rng(0)
    actions = [rng.random(8).astype(np.float32) for _ in range(10)]

    def trace():
        env = make_tiny(train_batch=3, candidate_stats=())
        env.reset(seed=0)
        return [(tuple(info["trained"]), r) for _, r, _, _, info in (env.step(a) for a in actions)]

    assert trace() == trace()


def test_save_and_load_resume_a_budgeted_episode_exactly(tmp_path):
    env = make_tiny(train_batch=2)
    env.reset(seed=0)
    env.step(np.ones(8, dtype=np.float32))
    env.unwrapped.save_state(tmp_path / "s.pt")
    ahead = [env.step(np.ones(8, dtype=np.float32)) for _ in range(3)]
    other = make_tiny(train_batch=2)
    other.reset(seed=9)
    other.unwrapped.load_state(tmp_path / "s.pt")
    again = [other.step(np.ones(8, dtype=np.float32)) for _ in range(3)]
    assert other.unwrapped.last_step["trained_source"].dtype == object  # restored as it was saved
    for x, y in zip(ahead, again, strict=True):
        assert x[1] == y[1]
        np.testing.assert_array_equal(x[4]["trained"], y[4]["trained"])


def test_trained_source_names_the_windows_trained_not_the_next_batch():
    env = make_tiny(task="needle", train_batch=2)
    _, info = env.reset(seed=0)
    for _ in range(6):
        w = (np.asarray(info["source"]) == "needle").astype(np.float32)  # weight on this batch's needle
        _, _, _, _, info = env.step(w)
        assert "needle" in set(info["trained_source"]) and len(info["trained_source"]) == 2
