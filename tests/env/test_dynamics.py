"""Determinism, eq. 1 (reward), eq. 7 (mixture update), the auxiliary-loss hook and divergence."""

import copy

import numpy as np
import pytest
import torch

from tests.conftest import make_tiny


def run(env, actions, seed=0):
    obs, _ = env.reset(seed=seed)
    trace = [(obs, None)]
    for a in actions:
        obs, r, *_ = env.step(a)
        trace.append((obs, r))
    return trace


@pytest.mark.parametrize("mode", ["mixture", "select"])
def test_same_seed_and_actions_give_identical_runs(mode):
    rng = np.random.default_rng(0)
    n = 8
    actions = [rng.random(n).astype(np.float32) if mode == "mixture" else int(rng.integers(n)) for _ in range(50)]
    a, b = run(make_tiny(action_mode=mode), actions), run(make_tiny(action_mode=mode), actions)
    for (obs_a, r_a), (obs_b, r_b) in zip(a, b, strict=True):
        np.testing.assert_array_equal(obs_a, obs_b)
        assert r_a == r_b
    other = run(make_tiny(action_mode=mode), actions[:3], seed=1)
    assert not np.array_equal(other[1][0], a[1][0])


def test_reward_is_mean_token_log_prob_of_a_fresh_heldout_sample():
    env = make_tiny(reward_batch=5)
    env.reset(seed=4)
    u = env.unwrapped
    rewards, subsets = [], []
    for _ in range(2):
        replay = copy.deepcopy(u.np_random)  # D-hat is the step's first draw from np_random
        subset = np.sort(replay.choice(len(u.data.heldout), size=5, replace=False))
        _, reward, *_ = env.step(env.action_space.sample())
        ids = torch.as_tensor(u.data.heldout.ids[subset])
        with torch.no_grad():
            logp = u.learner.model(input_ids=ids).logits[:, :-1].log_softmax(-1)
            expected = logp.gather(-1, ids[:, 1:, None]).mean().item()
        assert reward == pytest.approx(expected, rel=1e-5)
        rewards.append(reward)
        subsets.append(tuple(subset))
    assert subsets[0] != subsets[1], "D-hat must be resampled every step"


def test_paired_reward_scores_the_same_heldout_windows_before_the_update():
    actions = [np.random.default_rng(i).random(8).astype(np.float32) for i in range(4)]
    plain = run(make_tiny(reward_batch=5), actions)
    env = make_tiny(reward_batch=5, paired_reward=True)
    env.reset(seed=0)
    u = env.unwrapped
    for action, (_, r_plain) in zip(actions, plain[1:], strict=True):
        subset = np.sort(copy.deepcopy(u.np_random).choice(len(u.data.heldout), size=5, replace=False))
        ids = torch.as_tensor(u.data.heldout.ids[subset])
        with torch.no_grad():  # theta_k, before the step
            logp = u.learner.model(input_ids=ids).logits[:, :-1].log_softmax(-1)
            before = logp.gather(-1, ids[:, 1:, None]).mean().item()
        _, reward, _, _, info = env.step(action)
        assert reward == r_plain  # the extra forward changes neither the RNG stream nor the update
        assert info["reward_before"] == pytest.approx(before, rel=1e-5)
        assert info["reward_gain"] == pytest.approx(reward - info["reward_before"], abs=1e-12)
    assert "reward_gain" not in make_tiny().reset(seed=0)[1]


def explicit_step(model, opt_state, ids, weights, lr, clip, aux_fn=None):
    """One AdamW step on sum_i w_i * loss_i computed by hand, on a copy of the model."""
    model = copy.deepcopy(model)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    opt.load_state_dict(copy.deepcopy(opt_state))  # state_dict() shares tensors with the env
    ids = torch.as_tensor(ids)
    logp = model(input_ids=ids).logits[:, :-1].log_softmax(-1)
    per_window = -logp.gather(-1, ids[:, 1:, None]).squeeze(-1).mean(-1)
    loss = (torch.as_tensor(weights, dtype=torch.float32) * per_window).sum()
    if aux_fn is not None:
        loss = loss + aux_fn(model)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    opt.step()
    return model


def params(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


@pytest.mark.parametrize("fused", [True, False])
def test_mixture_step_equals_explicitly_weighted_loss(fused):
    env = make_tiny(fused_forward=fused, micro_batch_size=3)  # 3 chunks of accumulation
    _, info = env.reset(seed=2)
    _, _, _, _, info = env.step(np.ones(8, dtype=np.float32))  # non-trivial optimizer state first
    learner = env.unwrapped.learner
    w = np.array([0.5, 0.0, 1.0, 2.0, 0.1, 0.0, 3.0, 0.4], dtype=np.float32)
    expected = explicit_step(learner.model, learner.optimizer.state_dict(), info["token_ids"], w / w.sum(),
                             lr=env.unwrapped.config.lr, clip=env.unwrapped.config.grad_clip)
    env.step(w)
    torch.testing.assert_close(params(learner.model), params(expected), rtol=1e-5, atol=1e-6)


def test_auxiliary_loss_enters_the_same_optimizer_step():
    env = make_tiny()
    _, info = env.reset(seed=5)
    learner = env.unwrapped.learner
    probe = torch.as_tensor(info["token_ids"][:2])
    w = np.full(8, 1 / 8, dtype=np.float32)

    def aux_fn(model):
        return 0.3 * model(input_ids=probe, output_hidden_states=True).hidden_states[-1][:, -1].pow(2).mean()

    expected = explicit_step(learner.model, learner.optimizer.state_dict(), info["token_ids"], w,
                             lr=env.unwrapped.config.lr, clip=env.unwrapped.config.grad_clip, aux_fn=aux_fn)
    without = explicit_step(learner.model, learner.optimizer.state_dict(), info["token_ids"], w,
                            lr=env.unwrapped.config.lr, clip=env.unwrapped.config.grad_clip)
    learner.add_auxiliary_loss(0.3 * learner.hidden(input_ids=probe, grad=True).pow(2).mean(), tokens=probe.numel())
    _, _, _, _, info = env.step(w)
    assert info["aux_loss"] > 0 and info["aux_tokens_trained"] == probe.numel()
    torch.testing.assert_close(params(learner.model), params(expected), rtol=1e-5, atol=1e-6)
    assert not torch.allclose(params(expected), params(without))


def test_non_finite_loss_terminates_and_leaves_weights_untouched():
    env = make_tiny()
    _, info = env.reset(seed=0)
    learner = env.unwrapped.learner
    before = params(learner.model).clone()
    h = learner.hidden(input_ids=info["token_ids"][:1], grad=True)
    learner.add_auxiliary_loss(h.sum() * float("nan"), tokens=info["token_ids"][:1].size)
    _, reward, terminated, truncated, info = env.step(env.action_space.sample())
    assert terminated and not truncated
    assert info["examples_trained"] == 0 and info["aux_tokens_trained"] == 0  # the step was not taken
    assert "diverged" in info["termination_reason"]
    torch.testing.assert_close(params(learner.model), before, rtol=0, atol=0)
    assert np.isfinite(reward)


def test_select_mode_trains_only_the_chosen_candidate():
    env = make_tiny(action_mode="select")
    env.reset(seed=6)
    # a non-trivial optimizer state first: Adam's first step is ~lr * sign(g), which turns float
    # rounding in near-zero gradients into full-size differences
    _, _, _, _, info = env.step(0)
    learner = env.unwrapped.learner
    w = np.zeros(8, dtype=np.float32)
    w[3] = 1.0
    expected = explicit_step(learner.model, learner.optimizer.state_dict(), info["token_ids"], w,
                             lr=env.unwrapped.config.lr, clip=env.unwrapped.config.grad_clip)
    _, _, _, _, info = env.step(3)
    assert info["examples_trained"] == 2
    np.testing.assert_array_equal(info["trained"], [3])
    torch.testing.assert_close(params(learner.model), params(expected), rtol=1e-5, atol=1e-6)


def test_refresh_rescores_the_current_candidates_under_a_changed_model():
    env = make_tiny()
    obs, info = env.reset(seed=0)
    learner = env.unwrapped.learner
    learner.reinitialise(12345)
    new_obs, new_info = env.unwrapped.refresh()
    np.testing.assert_array_equal(new_info["token_ids"], info["token_ids"])
    assert not np.allclose(new_obs, obs)
    expected = learner.hidden(input_ids=info["token_ids"]).numpy()
    np.testing.assert_allclose(new_obs, expected, rtol=1e-5, atol=1e-6)
    env.step(np.ones(8, dtype=np.float32))  # the fused graph belongs to the new model
